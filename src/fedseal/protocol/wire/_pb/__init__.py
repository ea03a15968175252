"""Generated protobuf code (by proto/generate.py); do not edit. Only wire.serde imports it."""
