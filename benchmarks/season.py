"""A season, tested: the scheduled path over every trading day from 2026-12-21 to
2027-01-15 on the fake sites, with the season's faults (tests/season.py), then the same
season without faults for the minimum of calls.

    .venv/bin/python -m benchmarks.season                 # both seasons, then the checks
    .venv/bin/python -m benchmarks.season --faulted-only  # no fault-free season, no call check

Prints a line per tick as it happens (also to <root>/season-report.txt) (the schedule's decision, the runs with their
retries and the sensor's, the datasets lagging and whether the publication says so, the
calls), then each check: every trading day loaded by the end with no manual step, every
quote (the fund Sina does not know excepted, but named), every lag visible in the
published `main.dataset_freshness` while it lasted, weekends and holidays skipped with a
reason, and the calls answered by hosts that were up within 1.05x of the minimum
(`tests.season.minimum_calls`). Exits 1 when a check fails. Not part of the test suite:
it runs for many minutes (tests/test_season.py runs a slice of it).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from tests.season import (
    NO_FAULTS,
    SEASON_FAULTS,
    invisible_lags,
    minimum_calls,
    missing_days,
    missing_quotes,
    run_season,
    season_days,
    unpublished_days,
    wrong_skips,
)

CALLS_OVER_MINIMUM = 1.05


REPORT: list[Path] = []  # the file the report's lines also go to (dbt prints to stdout too)


def _print(line: str) -> None:
    print(line, flush=True)
    for path in REPORT:
        with path.open("a") as out:
            out.write(line + "\n")


def _check(title: str, problems: list[str]) -> bool:
    _print(f"{'ok  ' if not problems else 'FAIL'} {title}")
    for problem in problems:
        _print(f"       {problem}")
    return not problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.season", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--root", type=Path, help="where the two warehouses go (default: a temporary directory)"
    )
    parser.add_argument(
        "--faulted-only", action="store_true", help="skip the fault-free season and the call check"
    )
    args = parser.parse_args(argv)
    root = args.root or Path(tempfile.mkdtemp(prefix="margin-season-"))
    root.mkdir(parents=True, exist_ok=True)
    REPORT[:] = [root / "season-report.txt"]
    print(f"the report's lines also go to {REPORT[0]}", flush=True)
    started = time.perf_counter()

    _print(f"== the season with its faults ({root / 'faulted'})")
    faulted = run_season(root / "faulted", SEASON_FAULTS, report=_print)
    _print(f"setup: {faulted.setup.splitlines()[0]}; wall time {faulted.seconds:.0f} s")
    days = season_days(faulted.market)
    results = [
        _check(f"every trading day {days[0]}..{days[-1]} in every day dataset", missing_days(faulted, days)),
        _check("every trading day in the published marts", unpublished_days(faulted, days)),
        _check("every security's quote, the unknown fund named", missing_quotes(faulted, days)),
        _check("every lag published while it lasted", invisible_lags(faulted)),
        _check("weekends and holidays skipped with a reason", wrong_skips(faulted)),
        _check("no snapshot taken while a session was open",
               [f"stock_zh_a_spot_em called at {at}" for at in faulted.snapshots_in_session]),
    ]  # fmt: skip
    if not args.faulted_only:
        _print(f"== the same season without faults ({root / 'fault_free'})")
        fault_free = run_season(root / "fault_free", NO_FAULTS, report=_print)
        _print(f"wall time {fault_free.seconds:.0f} s")
        minimum, how = minimum_calls(fault_free, SEASON_FAULTS)
        made = len(faulted.calls_up)
        _print(f"calls answered by hosts that were up: {made}; minimum: {how}")
        over = made > CALLS_OVER_MINIMUM * minimum
        results.append(_check(
            f"calls within {CALLS_OVER_MINIMUM}x the minimum",
            [f"{made} calls > {CALLS_OVER_MINIMUM} x {minimum} = {CALLS_OVER_MINIMUM * minimum:.0f}"] if over else [],
        ))  # fmt: skip
    _print(f"total wall time {time.perf_counter() - started:.0f} s")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
