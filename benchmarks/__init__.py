"""Benchmarks of the warehouse on generated demo data: `python -m benchmarks.run --help`."""
