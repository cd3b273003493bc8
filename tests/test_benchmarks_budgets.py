"""The benchmark's summary says each budgeted figure's verdict against the current budgets
(benchmarks/run.py BUDGETS, the figures in BENCHMARKS.md), and writes one history row per run."""

import argparse
import datetime as dt
from pathlib import Path

from benchmarks.run import (
    BUDGETS,
    GIB,
    HISTORY_COLUMNS,
    Warehouse,
    budget_limit,
    budget_verdict,
    history_row,
    summary_rows,
)


def warehouse(label: str, results: dict) -> Warehouse:
    return Warehouse(label=label, root=Path("/nonexistent"), settings=None,  # type: ignore[arg-type]
                     start=dt.date(2015, 7, 1), end=dt.date(2025, 6, 30), trading_days=2463,
                     results=results)  # fmt: skip


def test_the_current_budgets():
    assert {k: (b.limit, b.unit) for k, b in BUDGETS.items()} == {
        "day_cli": (60.0, "s"), "build": (90.0, "s"), "build_memory": (4.0, "GiB"),
        "query_median": (50.0, "ms"),
    }  # fmt: skip
    assert budget_limit(BUDGETS["day_cli"]) == "<= 60 s"
    assert budget_limit(BUDGETS["query_median"]) == "<= 50 ms"


def test_verdicts():
    build = BUDGETS["build"]
    assert budget_verdict(build, 59.8) == "within budget"
    assert budget_verdict(build, 90.0) == "within budget"  # the budget is inclusive
    assert budget_verdict(build, 95.25) == "OVER budget by 5.2 s"
    assert budget_verdict(BUDGETS["build_memory"], 4.25) == "OVER budget by 0.25 GiB"
    assert budget_verdict(build, None) == "n/a"


def full_results() -> dict:
    return {
        "raw": {"seconds": 624.4, "rows_per_s": 31390},
        "build": {"seconds": 59.2, "code": 0, "peak_bytes": 3.06 * GIB},
        "day": {"seconds": 10.02, "publish_s": 11.55},
        "day_cli": {"seconds": 35.01},
        "queries": {
            "medians_ms": {"key_figures": 4.9, "margin_anomaly_securities": 23.5},
            "errors": [],
        },  # fmt: skip
        "pandas": {"seconds": 109.9},
    }


def test_nothing_reads_as_a_failure_when_every_figure_is_within_budget():
    rows = summary_rows(warehouse("10 years", full_results()), warehouse("1 year", {}))
    results = {row[0]: (row[1], row[3]) for row in rows}
    assert results["full dbt build --full-refresh"] == ("<= 90 s", "within budget")
    assert results["one-day refresh as a new margin-wh process, 10 years of history"] == (
        "<= 60 s", "within budget")  # fmt: skip
    assert results["BI query margin_anomaly_securities, median"] == ("<= 50 ms", "within budget")
    # The in-process one-day refresh and the pandas ratio have no budget: information.
    assert results["one-day refresh in-process (raw + dbt), 10 years of history"] == ("-", "info")
    assert results["pandas script time / dbt build time"] == ("-", "info")
    for row in rows:
        assert row[3] in ("within budget", "info"), row
        assert "MISS" not in " ".join(row) and "target" not in " ".join(row)


def test_a_figure_over_its_budget_says_by_how_much():
    results = full_results()
    results["day_cli"] = {"seconds": 61.5}
    results["queries"]["errors"] = ["top_short_to_float_securities"]
    rows = {row[0]: row[3] for row in summary_rows(warehouse("10 years", results),
                                                   warehouse("1 year", {}))}  # fmt: skip
    assert rows["one-day refresh as a new margin-wh process, 10 years of history"] == (
        "OVER budget by 1.5 s")  # fmt: skip
    assert rows["BI query top_short_to_float_securities, median"] == "FAILED"


def test_one_history_row_per_run():
    args = argparse.Namespace(securities=4000, years=10.0, skip=["replay"])
    row = history_row("2026-12-02 13:03", "188ccf5", args, warehouse("10 years", full_results()))
    assert row == ("| 2026-12-02 13:03 | 188ccf5 | 4000 x 10 | 624.4 | 59.2 | 3.06 | 10.02 | 35.01 "
                   "| 23.5 | 1.86x | replay |")  # fmt: skip
    assert row.count("|") == len(HISTORY_COLUMNS) + 1
    skipped = history_row("2026-12-05 06:54", "b065382", argparse.Namespace(
        securities=300, years=1.0, skip=[]), warehouse("1 year", {}))  # fmt: skip
    assert skipped == "| 2026-12-05 06:54 | b065382 | 300 x 1 | - | - | - | - | - | - | - | - |"
