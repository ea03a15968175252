"""Benchmarks behind ``fedseal bench NAME``; ``benchmarks/`` holds the scripts that run them all.

Speed targets are checked here, never by timed unit tests.
"""
