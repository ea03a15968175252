"""Generated code for the fedseal protobuf package (see proto/generate.py)."""
