"""Wire format: protobuf <-> protocol message conversion. The only place protobuf is imported."""
