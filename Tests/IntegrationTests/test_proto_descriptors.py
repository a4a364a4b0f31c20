"""proto/ against the reference: every message, enum and service the project's .proto files declare has the
packages, names, field numbers, types and oneofs xds-protos (Envoy's published descriptors) has.
Swift's encoders are pinned to protoc's encoding of these files (WardenExtAuthzTests), so this is what ties
them to Envoy's real schema."""
from __future__ import annotations

import subprocess

from google.protobuf import descriptor_pb2

from swift_fixtures.wire import PROTO_DIR, _xds

FILES = [
    "envoy/service/auth/v3/external_auth.proto", "envoy/service/auth/v3/attribute_context.proto",
    "envoy/config/core/v3/address.proto", "envoy/config/core/v3/base.proto", "envoy/type/v3/http_status.proto",
    "google/rpc/status.proto", "grpc/health/v1/health.proto",
]


def descriptor_set() -> descriptor_pb2.FileDescriptorSet:
    result = subprocess.run(["protoc", "-I", str(PROTO_DIR), "--include_imports", "--descriptor_set_out=/dev/stdout", *FILES],
                            capture_output=True, timeout=60, check=True)
    return descriptor_pb2.FileDescriptorSet.FromString(result.stdout)


def compare_descriptors(fds: descriptor_pb2.FileDescriptorSet) -> tuple[int, list[str]]:
    pool, _ = _xds()
    problems = []

    def field_sig_ours(msg, f):
        oneof = msg.oneof_decl[f.oneof_index].name if f.HasField("oneof_index") else ""
        return (f.name, f.type, f.label == descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED, f.type_name.lstrip("."), oneof)

    def field_sig_ref(f):
        ref_type = f.message_type.full_name if f.message_type else (f.enum_type.full_name if f.enum_type else "")
        oneof = f.containing_oneof.name if f.containing_oneof else ""
        return (f.name, f.type, f.is_repeated, ref_type, oneof)

    def walk_message(full, msg):
        try:
            ref = pool.FindMessageTypeByName(full)
        except KeyError:
            problems.append(f"{full}: not in the reference")
            return
        ours = {f.number: field_sig_ours(msg, f) for f in msg.field}
        theirs = {f.number: field_sig_ref(f) for f in ref.fields}
        for n in sorted(set(ours) | set(theirs)):
            if ours.get(n) != theirs.get(n):
                problems.append(f"{full} field {n}: ours {ours.get(n)} reference {theirs.get(n)}")
        for nested in msg.nested_type:
            walk_message(full + "." + nested.name, nested)
        for e in msg.enum_type:
            walk_enum(full + "." + e.name, e)

    def walk_enum(full, e):
        ref = pool.FindEnumTypeByName(full)
        ours = {v.name: v.number for v in e.value}
        theirs = {v.name: v.number for v in ref.values}
        if ours != theirs:
            problems.append(f"enum {full}: ours {ours} reference {theirs}")

    checked = 0
    for f in fds.file:
        if f.name.startswith("google/protobuf/"):
            continue
        for m in f.message_type:
            walk_message(f.package + "." + m.name, m)
            checked += 1
        for e in f.enum_type:
            walk_enum(f.package + "." + e.name, e)
            checked += 1
        for s in f.service:
            ref = pool.FindServiceByName(f.package + "." + s.name)
            ref_methods = {m.name: (m.input_type.full_name, m.output_type.full_name) for m in ref.methods}
            for m in s.method:
                if ref_methods.get(m.name) != (m.input_type.lstrip("."), m.output_type.lstrip(".")):
                    problems.append(f"service {s.name}.{m.name}: {m.input_type} -> {m.output_type} vs {ref_methods.get(m.name)}")
            checked += 1
    return checked, problems


def test_every_declaration_in_proto_matches_xds_protos():
    checked, problems = compare_descriptors(descriptor_set())
    assert problems == []
    assert checked == 21  # a new top-level declaration: check it is meant, then update the count


def test_a_wrong_field_number_is_reported():
    fds = descriptor_set()
    request = next(m for f in fds.file if f.name == "envoy/service/auth/v3/external_auth.proto"
                   for m in f.message_type if m.name == "CheckRequest")
    request.field[0].number = 99
    _, problems = compare_descriptors(fds)
    assert any(p.startswith("envoy.service.auth.v3.CheckRequest field 99") for p in problems), problems


OTLP_FILES = ["opentelemetry/proto/collector/trace/v1/trace_service.proto"]


def test_otlp_declarations_match_opentelemetry_proto():
    """proto/opentelemetry (what Warden's OTLP encoder is pinned to, byte for byte, by OTLPTraceEncodingTests)
    against the official opentelemetry-proto package's descriptors."""
    import opentelemetry.proto.collector.trace.v1.trace_service_pb2  # noqa: F401 (registers descriptors)
    result = subprocess.run(["protoc", "-I", str(PROTO_DIR), "--include_imports", "--descriptor_set_out=/dev/stdout", *OTLP_FILES],
                            capture_output=True, timeout=60, check=True)
    checked, problems = compare_descriptors(descriptor_pb2.FileDescriptorSet.FromString(result.stdout))
    assert problems == []
    assert checked == 17
