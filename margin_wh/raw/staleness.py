"""Since when the data of a raw dataset a run failed to load is stale, said per symbol for
the per-symbol datasets: one day for the whole dataset (the day after its newest row)
would hide the symbols the failed run never reached, whose data stops earlier.

A refresh that fails names these lines (orchestration/runner.py). Read-only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import duckdb

from margin_wh.calendar import next_trading_day, previous_trading_day
from margin_wh.raw.load import missing_symbols
from margin_wh.sources.datasets import RAW_TABLES

SYMBOLS_SHOWN = 5


def stale_since_lines(
    db_path: Path, calendar: Sequence[dt.date], functions: Sequence[str], run_start: dt.date
) -> list[str]:
    """stale_lines on the warehouse file, opened read-only."""
    with duckdb.connect(str(db_path), read_only=True) as con:
        return stale_lines(con, calendar, functions, run_start)


def stale_lines(
    con: duckdb.DuckDBPyConnection,
    calendar: Sequence[dt.date],
    functions: Sequence[str],
    run_start: dt.date,
) -> list[str]:
    """One line per dataset of `functions` (raw tables a run starting on `run_start` failed
    to load), and for a per-symbol dataset one more per day its symbols' data stops: the
    symbols an earlier run set aside (meta.missing_symbols), and those loaded up to the day
    before the run but not to the dataset's newest day (not reached, or suspended since)."""
    lines = []
    for function in functions:
        dataset = RAW_TABLES[function]
        if not dataset.partitioned:
            lines.append(f"{function}: not refreshed (the copy loaded before is kept)")
            continue
        try:
            last = con.execute(f"select max(trade_date) from raw.{function}").fetchone()[0]
        except duckdb.CatalogException:
            last = None
        if last is None:
            lines.append(f"{function}: nothing loaded yet")
            continue
        since = _day_after(calendar, last)
        if dataset.request_columns != ("symbol",):
            lines.append(f"{function}: stale since {since} (last day loaded: {last})")
            continue
        behind = _symbols_behind(con, function, calendar, last, run_start)
        lines.append(
            f"{function}: stale since {since} (last day loaded: {last})"
            + (" for the symbols it holds then" if behind else "")
        )
        for (day, why), symbols in sorted(behind.items()):
            shown = ", ".join(sorted(symbols)[:SYMBOLS_SHOWN])
            more = f" and {len(symbols) - SYMBOLS_SHOWN} more" if len(symbols) > SYMBOLS_SHOWN else ""
            lines.append(f"  stale since {day} for {len(symbols)} symbol(s) ({why}): {shown}{more}")
    return lines


def _symbols_behind(
    con: duckdb.DuckDBPyConnection,
    function: str,
    calendar: Sequence[dt.date],
    last: dt.date,
    run_start: dt.date,
) -> dict[tuple[dt.date, str], list[str]]:
    """{(stale-since day, why): symbols} of the symbols whose data stops before `last`:
    those set aside, and those loaded up to the day before the run (at least) but not to
    `last` (a symbol whose data stopped long before is suspended, or off the lists)."""
    behind: dict[tuple[dt.date, str], list[str]] = {}
    set_aside = missing_symbols(con, function)
    for symbol, (first_missing, _) in set_aside.items():
        behind.setdefault((first_missing, "set aside: the next run asks again"), []).append(symbol)
    previous_run_end = previous_trading_day(calendar, run_start) or run_start
    rows = con.execute(
        f"select symbol, max(trade_date) from raw.{function} group by symbol "
        "having max(trade_date) >= ? and max(trade_date) < ?",
        [previous_run_end, last],
    ).fetchall()
    for symbol, symbol_last in rows:
        if symbol not in set_aside:
            why = "not reached by the failed run, or suspended"
            behind.setdefault((_day_after(calendar, symbol_last), why), []).append(symbol)
    return behind


def _day_after(calendar: Sequence[dt.date], day: dt.date) -> dt.date:
    return next_trading_day(calendar, day) or day + dt.timedelta(days=1)
