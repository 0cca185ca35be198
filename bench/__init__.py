"""Benchmarks: throughput, latency and memory, measured outside the test suite.

Run one with ``.venv/bin/python -m bench.<name> --help``; results are written down in
docs/benchmarks.md.
"""
