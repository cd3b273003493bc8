"""A duration as a person reads it ("2h05m", "3m07s"): the cost estimate before a refresh,
the progress of one under way and the benchmarks print the same way."""

from __future__ import annotations


def format_duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
