"""The Dagster code location of the margin warehouse: see `definitions.py`."""
