"""Backfill figures: the dry run's estimate against the calls a backfill makes, and a
backfill interrupted three times against an uninterrupted one.

Runs the real path, `orchestration.runner.refresh(..., raw_only=True)`, on the demo market
behind a wrapper that counts every call and fails the ones chosen, as a host that is down
does. The demo answers at once: the time the live hosts' intervals would impose is
computed from the calls (`MIN_INTERVAL_S`), not waited for.
"""

from __future__ import annotations

import collections
import datetime as dt
import time
from pathlib import Path
from typing import Any

import dagster as dg

from margin_wh.config import Settings
from margin_wh.durations import format_duration
from margin_wh.sources import get_source
from margin_wh.sources.akshare_source import FUNCTION_HOSTS, MIN_INTERVAL_S, SourceUnavailableError

OUTAGES_AT = (0.25, 0.5, 0.75)  # of the uninterrupted backfill's calls


class CountingSource:
    """The demo source with its calls counted, failing as an unreachable host does the
    call numbers in `fail_at` (from 1, in the order made) and every call of
    `fail_function`."""

    def __init__(self, inner: Any, fail_at=(), fail_function: str | None = None):
        self.inner, self.name = inner, inner.name
        self.fail_at, self.fail_function = set(fail_at), fail_function
        self.calls: list[str] = []

    def _count(self, function: str) -> None:
        self.calls.append(function)
        if len(self.calls) in self.fail_at or function == self.fail_function:
            raise SourceUnavailableError(
                f"akshare.{function}(...): injected outage", call=function, host="benchmark",
                retry_may_help=True,
            )  # fmt: skip

    def call(self, function, **kwargs):
        self._count(function)
        return self.inner.call(function, **kwargs)

    def can_snapshot(self, day, calendar):
        return self.inner.can_snapshot(day, calendar)

    def snapshot(self, function, day):
        self._count(function)
        return self.inner.snapshot(function, day)


def live_seconds(calls_per_function: dict[str, int]) -> float:
    """What the live hosts' politeness intervals would impose on these calls."""
    return sum(n * MIN_INTERVAL_S.get(FUNCTION_HOSTS.get(f, ""), 0.0) for f, n in calls_per_function.items())


def _backfill(settings: Settings, start: dt.date, end: dt.date, source: CountingSource) -> Any:
    import margin_wh.sources as sources
    from orchestration.definitions import build_definitions
    from orchestration.runner import refresh

    original = sources._demo_source
    sources._demo_source = lambda *args: source  # what the raw assets get from get_source
    try:
        return refresh(settings, start, end, dg.DagsterInstance.ephemeral(), raw_only=True,
                       defs=build_definitions(settings))  # fmt: skip
    finally:
        sources._demo_source = original


def run_backfill_benchmark(report, make_settings, start: dt.date, end: dt.date) -> dict[str, Any]:
    """`make_settings(label)`: settings of a new, empty warehouse for the demo market."""
    from orchestration.runner import RefreshError, estimate_refresh

    clean = make_settings("backfill_clean")
    demo = get_source(clean)
    estimate, notes = estimate_refresh(clean, start, end)
    estimated = {c.function: c.to_fetch for c in estimate}

    source = CountingSource(demo)
    t = time.perf_counter()
    _backfill(clean, start, end, source)
    clean_s = time.perf_counter() - t
    made = collections.Counter(source.calls)
    exact, _ = estimate_refresh(clean, start, end, refetch=True)  # the lists now known

    report("   dry run on an empty warehouse (before any call) against the calls made:")
    report(f"     {'dataset':28} {'estimated':>10} {'made':>8} {'after load':>11}")
    for cost, again in zip(estimate, exact, strict=True):
        mark = " *" if cost.estimated else ""
        report(f"     {cost.function + mark:28} {cost.to_fetch:>10,} {made[cost.function]:>8,} "
               f"{again.to_fetch:>11,}")  # fmt: skip
    total_made = sum(made.values())
    report(f"     {'total':28} {sum(estimated.values()):>10,} {total_made:>8,} "
           f"{sum(c.to_fetch for c in exact):>11,}")  # fmt: skip
    for note in notes:
        report(f"     * {note}")
    report(f"   uninterrupted backfill: {total_made:,} calls in {clean_s:.1f} s; at the live "
           f"hosts' intervals {format_duration(live_seconds(made))}")  # fmt: skip

    interrupted = make_settings("backfill_interrupted")
    outages = [round(total_made * share) for share in OUTAGES_AT]
    calls, runs, started = 0, 0, time.perf_counter()
    while runs < len(outages) + 2:
        runs += 1
        source = CountingSource(demo, {k - calls for k in outages if k > calls})
        try:
            _backfill(interrupted, start, end, source)
            calls += len(source.calls)
            break
        except RefreshError:
            calls += len(source.calls)
    interrupted_s = time.perf_counter() - started
    same = _raw_counts(clean.db_path) == _raw_counts(interrupted.db_path)
    report(f"   interrupted at calls {outages}: {runs} runs, {calls:,} calls "
           f"({calls / total_made:.3f} x the uninterrupted {total_made:,}), {interrupted_s:.1f} s "
           f"({interrupted_s / clean_s:.2f} x); raw row counts equal: {same}")  # fmt: skip
    return {
        "estimated": sum(estimated.values()), "made": total_made,
        "exact": sum(c.to_fetch for c in exact), "clean_s": clean_s,
        "live_s": live_seconds(made), "interrupted_calls": calls, "runs": runs,
        "interrupted_s": interrupted_s, "same_rows": same,
    }  # fmt: skip


def _raw_counts(db: Path) -> dict[str, int]:
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        tables = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'raw'"
        ).fetchall()]  # fmt: skip
        return {t: con.execute(f"select count(*) from raw.{t}").fetchone()[0] for t in tables}
