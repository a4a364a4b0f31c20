"""Interop helper for WardenProtobufTests: the reference implementation is xds-protos (upb).

Subcommands (binary data on stdin/stdout as hex):
  build-request           print a CheckRequest built with the xds-protos Python API
  encode TYPE             read text format on stdin, print the deterministic encoding
  check TYPE HEX_OF_TEXT  read Swift's encoding (hex) on stdin; parse it, compare with the text (semantically)
  descriptors             read a FileDescriptorSet (binary) on stdin; compare with xds-protos
"""
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, text_format, struct_pb2, timestamp_pb2

import envoy.service.auth.v3.external_auth_pb2 as ext
import envoy.service.auth.v3.attribute_context_pb2 as attr
import envoy.config.core.v3.address_pb2  # noqa: F401 (registers descriptors)
import envoy.config.core.v3.base_pb2  # noqa: F401
import envoy.type.v3.http_status_pb2  # noqa: F401
import google.rpc.status_pb2  # noqa: F401
import grpc_health.v1.health_pb2  # noqa: F401

pool = descriptor_pool.Default()


def message_class(type_name):
    from google.protobuf import message_factory
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(type_name))


def build_request():
    req = ext.CheckRequest()
    a = req.attributes
    a.source.address.socket_address.address = "192.0.2.10"
    a.source.address.socket_address.port_value = 44321
    a.source.principal = "spiffe://cluster.local/ns/frontend/sa/web"
    a.destination.address.socket_address.address = "10.1.2.3"
    a.destination.address.socket_address.port_value = 8080
    a.destination.labels["app"] = "orders"
    a.request.time.seconds = 1732460000
    a.request.time.nanos = 5
    h = a.request.http
    h.id = "42"
    h.method = "GET"
    h.path = "/orders/7?verbose=1"
    h.host = "orders.example"
    h.scheme = "http"
    h.protocol = "HTTP/1.1"
    h.size = -1
    for k, v in {":authority": "orders.example", ":method": "GET", ":path": "/orders/7?verbose=1",
                 "authorization": "Bearer abc.def.ghi", "x-unicode": "ünï ✓ 🚀"}.items():
        h.headers[k] = v
    a.context_extensions["tenant"] = "acme"
    claims = struct_pb2.Struct()
    claims.update({"sub": "alice", "groups": ["admins", "dev"], "n": 1.5, "ok": True, "none": None})
    a.metadata_context.filter_metadata["envoy.filters.http.jwt_authn"].CopyFrom(claims)
    a.tls_session.sni = "orders.example"
    return req


def compare_descriptors(fds):
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


def main():
    cmd = sys.argv[1]
    if cmd == "build-request":
        print(build_request().SerializeToString(deterministic=True).hex())
    elif cmd == "encode":
        msg = text_format.Parse(sys.stdin.read(), message_class(sys.argv[2])())
        print(msg.SerializeToString(deterministic=True).hex())
    elif cmd == "check":
        cls = message_class(sys.argv[2])
        expected = text_format.Parse(bytes.fromhex(sys.argv[3]).decode("utf-8"), cls())
        data = bytes.fromhex(sys.stdin.read().strip())
        parsed = cls.FromString(data)
        # Semantic comparison: upb's deterministic map order differs from C++/Go for keys that
        # are prefixes of other keys, so bytes are compared only where the order is canonical.
        if parsed != expected:
            print("DIFFERENT\n" + text_format.MessageToString(parsed, as_utf8=True))
        else:
            print("EQUAL")
    elif cmd == "descriptors":
        fds = descriptor_pb2.FileDescriptorSet.FromString(sys.stdin.buffer.read())
        checked, problems = compare_descriptors(fds)
        print(f"checked {checked}")
        for p in problems:
            print(p)
    else:
        sys.exit(f"unknown command {cmd}")


main()
