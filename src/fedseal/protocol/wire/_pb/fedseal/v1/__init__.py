"""Generated code for ``fedseal.v1`` (proto/fedseal/v1/fedseal.proto); do not edit."""
