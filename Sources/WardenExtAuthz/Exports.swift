// The message types here expose WardenProtobuf's well-known types (ProtobufStruct, ProtobufValue,
// ProtobufTimestamp, ProtobufAny) and `ProtobufDecodeError`; re-export so one import suffices.
@_exported import WardenProtobuf
