"""Benchmarks: `python -m bench run SUITE` (see `bench/__main__.py` and docs/benchmarks.md).

The package imports nothing outside the standard library at module level: its child
processes also run in the peers' virtualenv, where this library is not installed.
"""
