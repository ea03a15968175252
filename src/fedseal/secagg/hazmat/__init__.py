"""Raw primitives under the secure-aggregation recipes: PRG, KDF, AEAD, Shamir, randomness.

Warnings
--------
These functions do exactly what they say and nothing more: they take keys and seeds from the
caller and do not stop you from re-using them. Re-using a PRG seed or an AEAD key/nonce pair
across rounds breaks secure aggregation. Use the recipes in :mod:`fedseal.secagg` and the
sessions in :mod:`fedseal.protocol` unless you are writing one of them.
"""
