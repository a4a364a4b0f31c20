"""Golden wire encodings for the Swift protobuf tests, made by the reference encoders.

Every `*.txtpb` under the wire fixture directories is a text-format message whose first lines name
its schema (`# proto-file:` relative to proto/ or to the txtpb's directory, `# proto-message:`).
For each one this module produces
  NAME.protoc.binpb   `protoc --encode` (C++ protobuf, deterministic: map entries sorted by key)
  NAME.xds.binpb      xds-protos (upb, the Python package Envoy's own clients use), deterministic
                      serialization; only for messages the xds-protos pool knows
plus `check-request-built-with-xds-protos.xds.binpb`, a CheckRequest built with the xds-protos API.

The Swift tests (WardenProtobufTests, WardenExtAuthzTests) compare their own encoding with the
`.protoc.binpb` bytes and decode both files; `test_swift_fixtures.py` regenerates every file and fails
when a committed one differs, so the goldens cannot drift from protoc, xds-protos or the txtpb.

Regenerate after editing a txtpb (or bumping protoc / xds-protos):
    .venv/bin/python Tests/IntegrationTests/swift_fixtures/wire.py --write
"""
from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
PROTO_DIR = REPO_ROOT / "proto"
WIRE_DIRS = [
    REPO_ROOT / "Tests/WardenProtobufTests/Fixtures/wire",
    REPO_ROOT / "Tests/WardenExtAuthzTests/Fixtures/wire",
]
BUILT_REQUEST = REPO_ROOT / "Tests/WardenExtAuthzTests/Fixtures/wire/check-request-built-with-xds-protos.xds.binpb"


@dataclass(frozen=True)
class Case:
    path: Path  # the .txtpb
    proto_file: str
    message: str

    @property
    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def stem(self) -> Path:
        return self.path.with_suffix("")

    @property
    def protoc_path(self) -> Path:
        return self.stem.with_name(self.stem.name + ".protoc.binpb")

    @property
    def xds_path(self) -> Path:
        return self.stem.with_name(self.stem.name + ".xds.binpb")


def header(path: Path) -> dict[str, str]:
    fields = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        key, _, value = line[1:].strip().partition(":")
        fields[key.strip()] = value.strip()
    return fields


def cases() -> list[Case]:
    found = []
    for directory in WIRE_DIRS:
        for path in sorted(directory.glob("*.txtpb")):
            h = header(path)
            if "proto-file" not in h or "proto-message" not in h:
                raise ValueError(f"{path}: needs '# proto-file:' and '# proto-message:' header lines")
            found.append(Case(path, h["proto-file"], h["proto-message"]))
    return found


def protoc(case: Case, *arguments: str, stdin: bytes) -> bytes:
    command = ["protoc", "-I", str(case.path.parent), "-I", str(PROTO_DIR), *arguments, case.proto_file]
    result = subprocess.run(command, input=stdin, capture_output=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {result.stderr.decode(errors='replace')}")
    return result.stdout


def protoc_encode(case: Case) -> bytes:
    return protoc(case, f"--encode={case.message}", stdin=case.text.encode())


def _xds():
    """The xds-protos modules (imported lazily: the Swift-side checks need none of them)."""
    from google.protobuf import descriptor_pool, message_factory  # noqa: F401
    import envoy.config.core.v3.address_pb2  # noqa: F401 (registers descriptors)
    import envoy.config.core.v3.base_pb2  # noqa: F401
    import envoy.service.auth.v3.attribute_context_pb2  # noqa: F401
    import envoy.service.auth.v3.external_auth_pb2  # noqa: F401
    import envoy.type.v3.http_status_pb2  # noqa: F401
    import google.protobuf.struct_pb2  # noqa: F401
    import google.protobuf.timestamp_pb2  # noqa: F401
    import google.rpc.status_pb2  # noqa: F401
    import grpc_health.v1.health_pb2  # noqa: F401
    return descriptor_pool.Default(), message_factory


def xds_class(message: str):
    """The xds-protos class of `message`, or None when xds-protos does not know it (test-only schemas)."""
    pool, factory = _xds()
    try:
        return factory.GetMessageClass(pool.FindMessageTypeByName(message))
    except KeyError:
        return None


def xds_parse_text(case: Case):
    from google.protobuf import text_format
    cls = xds_class(case.message)
    return None if cls is None else text_format.Parse(case.text, cls())


def xds_encode(case: Case) -> bytes | None:
    parsed = xds_parse_text(case)
    return None if parsed is None else parsed.SerializeToString(deterministic=True)


def build_request() -> bytes:
    """A CheckRequest built field by field with the xds-protos API (not from text)."""
    from google.protobuf import struct_pb2
    import envoy.service.auth.v3.external_auth_pb2 as ext
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
    return req.SerializeToString(deterministic=True)


def expected_files() -> dict[Path, bytes]:
    """Every golden file and the bytes the reference encoders give it today."""
    files: dict[Path, bytes] = {}
    for case in cases():
        files[case.protoc_path] = protoc_encode(case)
        encoded = xds_encode(case)
        if encoded is not None:
            files[case.xds_path] = encoded
    files[BUILT_REQUEST] = build_request()
    return files


def committed_files() -> set[Path]:
    return {p for directory in WIRE_DIRS for p in directory.glob("*.binpb")}


def main(argv: list[str]) -> int:
    expected = expected_files()
    if argv[1:] == ["--write"]:
        for path in committed_files() - set(expected):
            path.unlink()
        for path, data in expected.items():
            if not path.exists() or path.read_bytes() != data:
                path.write_bytes(data)
                print(f"wrote {path.relative_to(REPO_ROOT)}")
        return 0
    stale = [p for p, data in expected.items() if not p.exists() or p.read_bytes() != data]
    stray = committed_files() - set(expected)
    for p in stale + sorted(stray):
        print(f"out of date: {p.relative_to(REPO_ROOT)}")
    return 1 if stale or stray else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
