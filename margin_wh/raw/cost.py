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
from margin_wh.raw.load import pending_requests
from margin_wh.raw.universe import QUOTES_BY_SECURITY_TYPE, plan_fetch
from margin_wh.sources.datasets import DATASETS

# Securities on the margin lists when the warehouse holds none yet to count: ~4,000
# stocks eligible (the exchanges' eligible lists since 2022) and several hundred funds.
ASSUMED_LIST_SIZE = {"stock": 4000, "fund": 500}


@dataclass(frozen=True)
class DatasetCost:
    function: str
    host: str
    calls: int  # the calls the range needs
    landed: int  # already landed and loaded: skipped unless --refetch
    interval_s: float  # the host's politeness interval
    estimated: str = ""  # why a count is an estimate, if it is

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
