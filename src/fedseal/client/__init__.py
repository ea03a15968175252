"""The silo agent: gRPC client and the user-facing client API."""
