"""What a refresh will cost before it starts: the calls per dataset and host, how many an
earlier run already landed, and the time the hosts' politeness intervals impose.

Pure planning: it reads the landing zone and the warehouse (read-only) and makes no data
call. A live backfill from 2010 is ~25,000 calls and hours of waiting on Sina's interval,
so `margin-wh refresh --dry-run` prints this, and a long refresh prints it first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from margin_wh.durations import format_duration
from margin_wh.raw.load import loaded_days, pending_requests
from margin_wh.raw.universe import (
    QUOTE_SNAPSHOT,
    QUOTES,
    QUOTES_BY_SECURITY_TYPE,
    SNAPSHOT_FALLBACK,
    plan_fetch,
    quote_symbols,
)
from margin_wh.sources.datasets import DATASETS, SINA_SNAPSHOT_PAGE_ROWS

# Securities on the margin lists when the warehouse holds none yet to count: ~4,000
# stocks eligible (the exchanges' eligible lists since 2022) and several hundred funds.
ASSUMED_LIST_SIZE = {"stock": 4000, "fund": 500}
# A-shares listed, when no snapshot is loaded yet to count them: about the row count of the
# Sina and Eastmoney snapshots akshare's docs print (tests/akshare_docs, checked there).
ASSUMED_MARKET_SIZE = 5400
# akshare's stock_zh_a_daily reads two files per stock: the bars, then the share counts
SINA_REQUESTS_PER_STOCK = 2


@dataclass(frozen=True)
class DatasetCost:
    function: str
    host: str
    calls: int  # the calls the range needs
    landed: int  # already landed and loaded: skipped unless --refetch
    interval_s: float  # the host's politeness interval
    estimated: str = ""  # why a count is an estimate, if it is (or what may change it)

    @property
    def to_fetch(self) -> int:
        return self.calls - self.landed

    @property
    def expected_s(self) -> float:
        return self.to_fetch * self.interval_s


def refresh_cost(
    days: Sequence[dt.date],
    calendar: Sequence[dt.date],
    con: duckdb.DuckDBPyConnection,
    source: Any,
    landing_dir: Path,
    hosts: dict[str, str],
    intervals: dict[str, float],
    refetch: bool = False,
) -> list[DatasetCost]:
    """The cost of loading `days` (trading days) for every dataset, in the contract's order."""
    costs = []
    for function, dataset in DATASETS.items():
        host = hosts.get(function, function)
        interval = intervals.get(host, 0.0)
        if not dataset.partitioned:
            costs.append(DatasetCost(function, host, 1, 0, interval))
            continue
        if not days:
            costs.append(DatasetCost(function, host, 0, 0, interval))
            continue
        plan = plan_fetch(dataset, con, days, source, calendar)
        fetch_days, symbols, estimated = plan.days, plan.symbols, ""
        kind = QUOTES_BY_SECURITY_TYPE.get(function)
        if kind and not symbols and not _detail_loaded(con, days):
            # the margin detail of the range is not loaded yet: the lists' usual size
            fetch_days = fetch_days or list(days)
            symbols = [f"?{i}" for i in range(ASSUMED_LIST_SIZE[kind])]
            estimated = f"~{len(symbols)} {kind}s: the margin lists of the range are not loaded yet"
        todo, landed = (
            pending_requests(dataset, fetch_days, landing_dir, symbols, refetch, con)
            if fetch_days
            else ([], 0)
        )
        if function == QUOTE_SNAPSHOT and fetch_days and getattr(source, "name", "") == "akshare":
            # said before a live run that may pay it: what Eastmoney refusing the snapshot costs
            sina = hosts.get(SNAPSHOT_FALLBACK, SNAPSHOT_FALLBACK)
            fallback = snapshot_fallback_cost(con, fetch_days[0], intervals.get(sina, 0.0))
            estimated = f"if Eastmoney refuses it: {fallback.line}"
        costs.append(DatasetCost(function, host, len(todo) + landed, landed, interval, estimated))
    return costs


def _detail_loaded(con: duckdb.DuckDBPyConnection, days: Sequence[dt.date]) -> bool:
    """Whether the SSE margin detail holds any day of the range (its securities known)."""
    try:
        return bool(
            con.execute(
                "select count(*) from raw.stock_margin_detail_sse where trade_date between ? and ?",
                [min(days), max(days)],
            ).fetchone()[0]
        )
    except duckdb.CatalogException:
        return False


def cost_table(costs: Sequence[DatasetCost], title: str):
    """The costs as a rich table, with a total row."""
    from rich.table import Table

    table = Table(title=title)
    table.add_column("dataset", no_wrap=True)
    table.add_column("host", no_wrap=True)
    for name in ("calls", "landed", "to fetch", "interval", "expected"):
        table.add_column(name, justify="right", no_wrap=True)
    for c in costs:
        table.add_row(
            c.function + (" *" if c.estimated else ""), c.host, str(c.calls), str(c.landed),
            str(c.to_fetch), f"{c.interval_s:g} s", format_duration(c.expected_s),
        )  # fmt: skip
    table.add_row(
        "[bold]total[/]", "", str(sum(c.calls for c in costs)), str(sum(c.landed for c in costs)),
        str(sum(c.to_fetch for c in costs)), "",
        f"[bold]{format_duration(sum(c.expected_s for c in costs))}[/]",
    )  # fmt: skip
    return table


@dataclass(frozen=True)
class SnapshotFallbackCost:
    """What taking a close from Sina's paged snapshot costs, against its alternative: one
    Sina call per stock on the margin lists the next morning."""

    market_size: int  # A-shares Sina lists (its pages hold them all, on a list or not)
    stocks: int  # stocks on the margin lists: the per-security calls it spares
    interval_s: float  # Sina's politeness interval, between two calls (not two pages)
    estimated: str = ""  # what is assumed, if anything

    @property
    def requests(self) -> int:
        """akshare's stock_zh_a_spot: a count, then every page."""
        return 1 + -(-self.market_size // SINA_SNAPSHOT_PAGE_ROWS)

    @property
    def per_security_s(self) -> float:
        return self.stocks * self.interval_s

    @property
    def line(self) -> str:
        return (
            f"Sina's paged snapshot ({SNAPSHOT_FALLBACK}) takes the close instead: one call of "
            f"~{self.requests} requests (a count, then pages of {SINA_SNAPSHOT_PAGE_ROWS} "
            f"A-shares of ~{self.market_size}, back to back as akshare makes them), where the "
            f"next morning's {QUOTES} would make {self.stocks} calls "
            f"({SINA_REQUESTS_PER_STOCK * self.stocks} requests), "
            f"{format_duration(self.per_security_s)} at Sina's {self.interval_s:g} s interval"
            + (f" ({self.estimated})" if self.estimated else "")
            + ". Its float shares are each stock's last known."
        )


def snapshot_fallback_cost(
    con: duckdb.DuckDBPyConnection, day: dt.date, interval_s: float | None = None
) -> SnapshotFallbackCost:
    """The cost of taking `day`'s close from Sina's snapshot, from what the warehouse holds:
    the last snapshot's row count, the stocks of the last margin detail loaded."""
    from margin_wh.sources.akshare_source import FUNCTION_HOSTS, MIN_INTERVAL_S

    if interval_s is None:
        interval_s = MIN_INTERVAL_S[FUNCTION_HOSTS[SNAPSHOT_FALLBACK]]
    assumed = []
    market = _last_day_rows(con, QUOTE_SNAPSHOT, day) or _last_day_rows(con, SNAPSHOT_FALLBACK, day)
    if not market:
        market = ASSUMED_MARKET_SIZE
        assumed.append(f"~{market} A-shares assumed: no snapshot loaded yet")
    detail_day = _last_day(con, "stock_margin_detail_sse", day)
    stocks = len(quote_symbols(con, [detail_day], "stock")) if detail_day else 0
    if not stocks:
        stocks = ASSUMED_LIST_SIZE["stock"]
        assumed.append(f"~{stocks} stocks on the lists assumed: no margin detail loaded yet")
    return SnapshotFallbackCost(market, stocks, interval_s, "; ".join(assumed))


def _last_day(con: duckdb.DuckDBPyConnection, function: str, before: dt.date) -> dt.date | None:
    days = loaded_days(con, function, dt.date.min, before)
    return max(days) if days else None


def _last_day_rows(con: duckdb.DuckDBPyConnection, function: str, before: dt.date) -> int:
    last = _last_day(con, function, before)
    if last is None:
        return 0
    return con.execute(f"select count(*) from raw.{function} where trade_date = ?", [last]).fetchone()[0]
