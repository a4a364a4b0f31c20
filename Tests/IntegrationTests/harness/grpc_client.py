"""Calling Warden like Envoy does: CheckRequest built with xds-protos, sent with grpcio."""
from __future__ import annotations

import grpc
from envoy.service.auth.v3 import attribute_context_pb2, external_auth_pb2, external_auth_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

CHECK_METHOD = "/envoy.service.auth.v3.Authorization/Check"
HEALTH_METHOD = "/grpc.health.v1.Health/Check"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING

CheckRequest = external_auth_pb2.CheckRequest
CheckResponse = external_auth_pb2.CheckResponse


def make_check_request(method: str = "GET", path: str = "/", headers: dict[str, str] | None = None, *,
                       host: str = "example.com", scheme: str = "http", protocol: str = "HTTP/1.1",
                       source_principal: str | None = None, source_address: str = "10.0.0.1",
                       source_port: int = 34567, destination_principal: str | None = None,
                       destination_address: str = "10.0.0.2", destination_port: int = 8080,
                       source_certificate: str | None = None, context_extensions: dict[str, str] | None = None,
                       request_id: str = "test-request-1", body: bytes | str | None = None) -> CheckRequest:
    """A CheckRequest shaped like the one Envoy's ext_authz filter sends: pseudo-headers included in
    `headers` (`:method`, `:path`, `:authority`, `:scheme`), `path` with its query, peers with addresses."""
    req = external_auth_pb2.CheckRequest()
    attrs = req.attributes
    src = attrs.source
    src.address.socket_address.address = source_address
    src.address.socket_address.port_value = source_port
    if source_principal:
        src.principal = source_principal
    if source_certificate:
        src.certificate = source_certificate
    dst = attrs.destination
    dst.address.socket_address.address = destination_address
    dst.address.socket_address.port_value = destination_port
    if destination_principal:
        dst.principal = destination_principal
    http = attrs.request.http
    http.id = request_id
    http.method = method
    http.path = path
    http.host = host
    http.scheme = scheme
    http.protocol = protocol
    pseudo = {":method": method, ":path": path, ":authority": host, ":scheme": scheme}
    for name, value in {**pseudo, **{k.lower(): v for k, v in (headers or {}).items()}}.items():
        http.headers[name] = value
    if body is not None:
        if isinstance(body, str):
            body = body.encode()
        http.raw_body = body
        http.size = len(body)
    for key, value in (context_extensions or {}).items():
        attrs.context_extensions[key] = value
    return req


class AuthzClient:
    """A gRPC channel to Warden with Check and Health helpers. Use as a context manager or call close()."""

    def __init__(self, target: str, *, credentials: grpc.ChannelCredentials | None = None,
                 options: list[tuple[str, object]] | None = None):
        self.target = target
        self.channel = (grpc.secure_channel(target, credentials, options=options) if credentials
                        else grpc.insecure_channel(target, options=options))
        self.authz = external_auth_pb2_grpc.AuthorizationStub(self.channel)
        self.health_stub = health_pb2_grpc.HealthStub(self.channel)

    def wait_ready(self, timeout: float = 5.0) -> None:
        grpc.channel_ready_future(self.channel).result(timeout=timeout)

    def check(self, request: CheckRequest | None = None, timeout: float = 5.0, **kw) -> CheckResponse:
        """Check(request) or Check(make_check_request(**kw))."""
        return self.authz.Check(request if request is not None else make_check_request(**kw), timeout=timeout)

    def check_future(self, request: CheckRequest, timeout: float = 10.0):
        """Starts a Check and returns its future (for calls in flight while the server changes state)."""
        return self.authz.Check.future(request, timeout=timeout)

    def check_raw(self, payload: bytes, timeout: float = 5.0) -> bytes:
        """Sends `payload` verbatim as the Check request message (for malformed-body tests)."""
        call = self.channel.unary_unary(CHECK_METHOD, request_serializer=None, response_deserializer=None)
        return call(payload, timeout=timeout)

    def check_gated(self, request: CheckRequest, gate, timeout: float = 10.0):
        """Starts a Check whose message is sent only once `gate` (a threading.Event) is set: the call is
        open on the server (headers sent) but incomplete. Returns a future of CheckResponse."""
        def messages():
            gate.wait(timeout)
            yield request
        call = self.channel.stream_unary(CHECK_METHOD, request_serializer=CheckRequest.SerializeToString,
                                         response_deserializer=CheckResponse.FromString)
        return call.future(messages(), timeout=timeout)

    def health(self, service: str = "", timeout: float = 5.0) -> int:
        """The Health/Check status (SERVING, NOT_SERVING, …) for `service`."""
        return self.health_stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout).status

    def close(self) -> None:
        self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def header_mutations(response: CheckResponse) -> dict[str, str]:
    """The headers an OK response tells Envoy to set on the upstream request (lower-cased names)."""
    return {h.header.key.lower(): h.header.value for h in response.ok_response.headers}
