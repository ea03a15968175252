"""Secure aggregation: the recipes (quantize, keys, masking, graph) on top of ``hazmat``.

Bonawitz et al., "Practical Secure Aggregation for Privacy-Preserving Machine Learning",
CCS 2017; Bell et al., "Secure Single-Server Aggregation with (Poly)Logarithmic Overhead",
CCS 2020. Use :mod:`fedseal.protocol` to run rounds; the primitives under
:mod:`fedseal.secagg.hazmat` are for implementers only.
"""

from __future__ import annotations

from fedseal.secagg.graph import GraphKind, GraphParams, full_parameters, sparse_parameters
from fedseal.secagg.identity import IdentityKey, IdentityPublicKey
from fedseal.secagg.quantize import DecodedSum, QuantizationSpec

__all__ = [
    "DecodedSum",
    "GraphKind",
    "GraphParams",
    "IdentityKey",
    "IdentityPublicKey",
    "QuantizationSpec",
    "full_parameters",
    "sparse_parameters",
]
