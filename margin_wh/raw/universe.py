"""What a run fetches beyond "every trading day of the window": the symbols of the
per-symbol datasets, and which days the quote datasets answer for.

A stock's quotes come from one of two places:
  - the post-close snapshot (stock_zh_a_spot_em): one call for the whole market, but only
    for the day whose close it shows when called, so a run takes at most one: its last day.
    When Eastmoney refuses it (it blocks IPs that page through it: akshare issues #6696,
    #7314), Sina's paged snapshot (stock_zh_a_spot) takes that close instead while it still
    shows it: one call of a count and every page (universe.SNAPSHOT_FALLBACK); it carries
    no float market cap, so the float shares are the security's last known ones;
  - Sina's daily history (stock_zh_a_daily): one call per stock, for any window; used
    for the days no snapshot covers (backfills, a missed evening).
The ETFs and LOFs on the margin lists are in neither (Eastmoney's snapshot lists A shares
only, and Sina has no share counts for a fund, so stock_zh_a_daily raises for one): their
closes come from Sina's fund history (fund_etf_hist_sina), one call per fund.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

from margin_wh.calendar import trading_days_between
from margin_wh.raw.load import loaded_days, missing_symbols
from margin_wh.sources.datasets import (
    DATASETS,
    MARGIN_DETAIL_FUNCTIONS,
    SINA_SNAPSHOT,
    SPOT_INDEX_SYMBOLS,
    Dataset,
    SecurityType,
    security_type,
    sina_symbol,
)

QUOTES = "stock_zh_a_daily"  # per stock, any window
QUOTE_SNAPSHOT = "stock_zh_a_spot_em"  # every stock, the evening of one day
SNAPSHOT_FALLBACK = SINA_SNAPSHOT.function  # the same close when Eastmoney refuses it
SNAPSHOTS = (QUOTE_SNAPSHOT, SNAPSHOT_FALLBACK)
FUND_QUOTES = "fund_etf_hist_sina"  # per fund, its whole history
# The per-security quote datasets, and the securities of the margin lists each one serves.
QUOTES_BY_SECURITY_TYPE: dict[str, SecurityType] = {QUOTES: "stock", FUND_QUOTES: "fund"}


@dataclass(frozen=True)
class FetchPlan:
    days: list[dt.date]  # trading days to fetch (empty: nothing to fetch this run)
    symbols: list[str]  # for the per-symbol datasets
    why: str = ""  # when the plan is not simply "every day of the window"
    # symbols an earlier run set aside (meta.missing_symbols), asked for again from their
    # first missing day: their windows, within `days`
    retried: dict[str, tuple[dt.date, dt.date]] = field(default_factory=dict)
    window: tuple[dt.date, dt.date] | None = None  # the run's own days, for the others

    @property
    def symbol_windows(self) -> dict[str, tuple[dt.date, dt.date]]:
        """Each symbol's window: a retried one's own, the run's window for the others."""
        if not self.retried:
            return {}
        others = {s: self.window for s in self.symbols if s not in self.retried and self.window}
        return {**others, **self.retried}


def with_retried(
    plan: FetchPlan,
    missing: dict[str, tuple[dt.date, dt.date]],
    calendar: Sequence[dt.date],
) -> FetchPlan:
    """The plan, plus the symbols an earlier run set aside: each asked for from its first
    missing day to the later of its last missing day and the plan's last day (when the
    plan asks for it anyway); `days` widened to cover those windows."""
    if not missing:
        return plan
    end = plan.days[-1] if plan.days else None
    retried = {}
    for symbol, (first, last) in missing.items():
        if symbol in plan.symbols and end is not None:
            last = max(last, end)
        retried[symbol] = (first, last)
    first = min(w[0] for w in retried.values())
    last = max([w[1] for w in retried.values()] + ([end] if end else []))
    start = min([first] + ([plan.days[0]] if plan.days else []))
    days = trading_days_between(calendar, start, last)
    symbols = sorted(set(plan.symbols) | set(retried))
    why = plan.why + ("; " if plan.why else "") + (
        f"{len(retried)} symbol(s) set aside by an earlier run asked for again: "
        + ", ".join(sorted(retried)[:10]) + (" …" if len(retried) > 10 else "")
    )
    window = (plan.days[0], plan.days[-1]) if plan.days else None
    return FetchPlan(days, symbols, why, retried, window)


def plan_fetch(
    dataset: Dataset,
    con: duckdb.DuckDBPyConnection,
    trading_days: Sequence[dt.date],
    source: Any,
    calendar: Sequence[dt.date],
) -> FetchPlan:
    """What one run fetches of a dataset for a window of trading days."""
    plan = _plan_window(dataset, con, trading_days, source, calendar)
    if dataset.request_columns == ("symbol",):
        plan = with_retried(plan, missing_symbols(con, dataset.function), calendar)
    return plan


def _plan_window(
    dataset: Dataset,
    con: duckdb.DuckDBPyConnection,
    trading_days: Sequence[dt.date],
    source: Any,
    calendar: Sequence[dt.date],
) -> FetchPlan:
    days = list(trading_days)
    if not dataset.partitioned:
        return FetchPlan([], [])
    if dataset.first_day and days and days[0] < dataset.first_day:
        days = [d for d in days if d >= dataset.first_day]
        if not days:
            return FetchPlan([], [], f"{dataset.function} publishes from {dataset.first_day}")
    if dataset.call == "snapshot":
        fetched = snapshot_days(days, lambda d: source.can_snapshot(d, calendar))
        why = (
            ""
            if fetched
            else (
                f"no snapshot: {source.name} cannot show the close of {days[-1]} now (a snapshot "
                f"is taken from 15:30 that day to 09:15 the next); {QUOTES} covers those days"
            )
        )
        if fetched and dataset.function == SNAPSHOT_FALLBACK:
            if loaded_days(con, QUOTE_SNAPSHOT, fetched[0], fetched[0]):
                return FetchPlan([], [], f"{QUOTE_SNAPSHOT} took the close of {fetched[0]}")
            why = f"{QUOTE_SNAPSHOT} holds no close of {fetched[0]}: Sina's snapshot takes it"
        return FetchPlan(fetched, [], why)
    if dataset.function == QUOTES:
        fetched = days_without_snapshot(con, days, SNAPSHOTS)
        skipped = len(days) - len(fetched)
        why = (
            f"{skipped} day(s) already covered by a closing snapshot ({' or '.join(SNAPSHOTS)})"
            if skipped
            else ""
        )
        return FetchPlan(fetched, quote_symbols(con, fetched, "stock") if fetched else [], why)
    if dataset.function == FUND_QUOTES:
        symbols = quote_symbols(con, days, "fund")
        why = "" if symbols else "no fund in the margin detail of the window"
        return FetchPlan(days if symbols else [], symbols, why)
    if dataset.call == "per_symbol_full":  # the spot indices of the index futures
        return FetchPlan(days, spot_index_symbols())
    return FetchPlan(days, [])


def quote_symbols(
    con: duckdb.DuckDBPyConnection,
    trading_days: Sequence[dt.date],
    kind: SecurityType | None = None,
) -> list[str]:
    """Sina symbols of the securities (of one type, or all) in the margin detail of the
    window, all exchanges."""
    codes: set[str] = set()
    for function in MARGIN_DETAIL_FUNCTIONS:
        code_column = next(c.name for c in DATASETS[function].columns if c.kind == "code")
        exists = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'raw' and table_name = ?",
            [function],
        ).fetchone()[0]
        if not exists:
            continue
        rows = con.execute(
            f'select distinct "{code_column}" from raw.{function} where trade_date between ? and ?',
            [min(trading_days), max(trading_days)],
        ).fetchall()
        codes.update(r[0] for r in rows)
    return sorted(sina_symbol(c) for c in codes if kind is None or security_type(c) == kind)


def spot_index_symbols() -> list[str]:
    return sorted(SPOT_INDEX_SYMBOLS.values())


def snapshot_days(
    trading_days: Sequence[dt.date], can_snapshot: Callable[[dt.date], bool]
) -> list[dt.date]:
    """The day a run snapshots: the window's last day, if the source can show its close."""
    return [trading_days[-1]] if trading_days and can_snapshot(trading_days[-1]) else []


def days_without_snapshot(
    con: duckdb.DuckDBPyConnection,
    trading_days: Sequence[dt.date],
    snapshot_functions: Sequence[str],
) -> list[dt.date]:
    """The window's days the per-security quotes must cover: from the first to the last day
    no snapshot (of any of `snapshot_functions`) holds (contiguous, because a load replaces
    whole windows)."""
    if not trading_days:
        return []
    covered = set().union(
        *(loaded_days(con, f, min(trading_days), max(trading_days)) for f in snapshot_functions)
    )
    missing = [i for i, d in enumerate(trading_days) if d not in covered]
    return list(trading_days[missing[0] : missing[-1] + 1]) if missing else []
