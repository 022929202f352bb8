"""Benchmarks: `python -m bench.<name>`; each prints its figures and the ratio to a
baseline measured in the same run. Never part of the test suite."""
