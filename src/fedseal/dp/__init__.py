"""Differential privacy on each silo (DP-SGD via Opacus), the privacy ledger and reports."""
