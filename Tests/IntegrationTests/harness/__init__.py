"""Real peers for Warden's integration tests: an IdP, an echo upstream, Envoy, Warden and a gRPC client.

Every server here listens on 127.0.0.1 only, every wait is bounded, and every process is registered so
that a failing test prints its logs and the session kills whatever is still running.
"""
