#!/usr/bin/env python3
"""A tiny identity provider for the JWKS store tests: serves a JWKS and an OIDC discovery document
on 127.0.0.1 (ephemeral port), with faults controlled over stdin.

Protocol: the first stdout line is {"port": N}. Then each stdin line is a JSON command, answered by
one JSON line on stdout:
  {"cmd": "keys", "specs": [{"kid": "k1", "kty": "RSA"}, {"kid": "k2", "kty": "EC", "crv": "P-256"}]}
      replace the key set (keys generated with `cryptography`; kty RSA | EC | OKP)
  {"cmd": "add", "spec": {...}}            add one key (rotation)
  {"cmd": "set", "down": true, "down_status": 503, "delay_ms": 2000, "padding": 100000,
                 "no_length": true, "issuer": "...", "jwks_uri": "...", "redirect_to": "...",
                 "etag": false, "body": "raw jwks text"}   any subset
  {"cmd": "stats"}                          -> {"jwks": n, "discovery": n, "not_modified": n, "in_flight": n}
Routes: GET /jwks.json, GET /.well-known/openid-configuration, GET /redirect (302 to redirect_to).
With --tls DIR it serves HTTPS with a fresh self-signed certificate for 127.0.0.1 and reports
the CA file: {"port": N, "ca": "DIR/ca.pem"}.
Exits on stdin EOF or after --lifetime seconds, whichever comes first.
"""
import argparse, base64, hashlib, json, os, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives import serialization

LOCK = threading.Lock()
STATE = {"keys": [], "down": False, "down_status": 503, "delay_ms": 0, "padding": 0, "no_length": False,
         "issuer": None, "jwks_uri": None, "redirect_to": None, "etag": True, "body": None}
STATS = {"jwks": 0, "discovery": 0, "not_modified": 0, "in_flight": 0}
CURVES = {"P-256": (ec.SECP256R1, 32, "ES256"), "P-384": (ec.SECP384R1, 48, "ES384"), "P-521": (ec.SECP521R1, 66, "ES512")}


def b64u(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def uint(n: int, size: int = 0) -> str:
    return b64u(n.to_bytes(size or (n.bit_length() + 7) // 8, "big"))


def make_key(spec: dict) -> dict:
    kid, kty = spec["kid"], spec.get("kty", "RSA")
    if kty == "RSA":
        pub = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_numbers()
        return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": uint(pub.n), "e": uint(pub.e)}
    if kty == "EC":
        crv = spec.get("crv", "P-256")
        curve, size, alg = CURVES[crv]
        pub = ec.generate_private_key(curve()).public_key().public_numbers()
        return {"kty": "EC", "kid": kid, "use": "sig", "alg": alg, "crv": crv, "x": uint(pub.x, size), "y": uint(pub.y, size)}
    if kty == "OKP":
        raw = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "kid": kid, "use": "sig", "alg": "EdDSA", "crv": "Ed25519", "x": b64u(raw)}
    raise ValueError(f"unknown kty {kty}")


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def base(self) -> str:
        scheme = "https" if hasattr(self.server.socket, "context") else "http"
        return f"{scheme}://127.0.0.1:{self.server.server_address[1]}"

    def reply(self, status: int, body: bytes = b"", headers: dict = None, no_length: bool = False):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if not no_length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_GET(self):
        with LOCK:
            state = dict(STATE)
        path = self.path.split("?")[0]
        if path == "/jwks.json":
            with LOCK:
                STATS["jwks"] += 1
                STATS["in_flight"] += 1
            try:
                if state["delay_ms"]:
                    time.sleep(state["delay_ms"] / 1000)
                if state["down"]:
                    return self.reply(state["down_status"], b"down")
                if state["body"] is not None:
                    body = state["body"].encode()
                else:
                    doc = {"keys": state["keys"]}
                    if state["padding"]:
                        doc["padding"] = "x" * state["padding"]
                    body = json.dumps(doc).encode()
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                if state["etag"] and self.headers.get("If-None-Match") == etag:
                    with LOCK:
                        STATS["not_modified"] += 1
                    return self.reply(304, headers={"ETag": etag})
                headers = {"Content-Type": "application/json"}
                if state["etag"]:
                    headers["ETag"] = etag
                return self.reply(200, body, headers, no_length=state["no_length"])
            finally:
                with LOCK:
                    STATS["in_flight"] -= 1
        if path == "/.well-known/openid-configuration":
            with LOCK:
                STATS["discovery"] += 1
            if state["down"]:
                return self.reply(state["down_status"], b"down")
            doc = {"issuer": state["issuer"] or self.base(), "jwks_uri": state["jwks_uri"] or self.base() + "/jwks.json"}
            return self.reply(200, json.dumps(doc).encode(), {"Content-Type": "application/json"})
        if path == "/redirect" and state["redirect_to"]:
            return self.reply(302, headers={"Location": state["redirect_to"]})
        return self.reply(404, b"not found")


def command(line: str) -> dict:
    cmd = json.loads(line)
    with LOCK:
        if cmd["cmd"] == "keys":
            STATE["keys"] = [make_key(s) for s in cmd["specs"]]
        elif cmd["cmd"] == "add":
            STATE["keys"] = STATE["keys"] + [make_key(cmd["spec"])]
        elif cmd["cmd"] == "set":
            for k, v in cmd.items():
                if k != "cmd":
                    STATE[k] = v
        elif cmd["cmd"] != "stats":
            return {"error": f"unknown command {cmd['cmd']}"}
        return {"ok": True, "stats": dict(STATS), "kids": [k["kid"] for k in STATE["keys"]],
                "jwks": json.dumps({"keys": STATE["keys"]})}


def self_signed(directory: str) -> tuple:
    import datetime, ipaddress
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "warden-test-idp")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = os.path.join(directory, "ca.pem"), os.path.join(directory, "key.pem")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_path, key_path


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lifetime", type=float, default=120)
    parser.add_argument("--tls", metavar="DIR")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    hello = {"port": server.server_address[1]}
    if args.tls:
        import ssl
        cert_path, key_path = self_signed(args.tls)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        hello["ca"] = cert_path
    threading.Thread(target=server.serve_forever, daemon=True).start()
    threading.Timer(args.lifetime, lambda: os._exit(3)).start()
    print(json.dumps(hello), flush=True)
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(command(line)), flush=True)
    os._exit(0)


if __name__ == "__main__":
    main()
