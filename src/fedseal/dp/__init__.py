"""Differential privacy on each silo (DP-SGD via Opacus), the per-silo privacy ledger and reports."""
