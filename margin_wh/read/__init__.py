"""The published snapshot for notebooks: the research report's questions as DataFrames.

    from margin_wh import read

    read.snapshot_info().note                       # synthetic demo data or live, and how fresh
    read.list_marts()                               # mart, grain, description, rows
    read.describe_mart("fct_balance_to_float")      # column, data_type, unit, term_zh, description
    read.top_short_to_float("2024-07-10", limit=8)
    read.short_balance_trend(start="2024-01-01", period="month")
    read.query("select * from marts.fct_market_short_daily", as_polars=True)

Every function opens the snapshot read-only for the call (so a newly published snapshot is
read on the next call) and returns a pandas DataFrame, or a polars one with
`as_polars=True` where polars is installed. A pandas frame's `attrs` say what the data is:
`data_note` and `is_synthetic` (the demo source's synthetic market, or live data), `units`
per column (CNY, shares, fraction …), `snapshot` (path, source, publish time, last trading
day, lagging datasets, symbols that could not load, marts not built or stale) and the `sql` and `params` that produced it: run them on the
snapshot and you get the same rows. `snapshot=` reads another snapshot file than the one
the warehouse's settings publish to (MARGIN_WH_PUBLISH, MARGIN_WH_HOME).

The MCP server's tools (`margin-wh mcp`) answer the same questions with the same code
(margin_wh.read.questions); errors are margin_wh.read.readonly.SnapshotAccessError, with the reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from margin_wh.read import questions
from margin_wh.read.questions import Period, Snapshot
from margin_wh.read.readonly import (
    DEFAULT_TIMEOUT_S,
    Answer,
    MartNotInSnapshot,
    QueryFailed,
    QueryTimeout,
    SnapshotAccessError,
    SnapshotInfo,
    SnapshotMissing,
    StatementRefused,
)

# A notebook reads whole results; the MCP tools bound theirs for an agent's context.
NOTEBOOK_TIMEOUT_S = 300.0


def _frame(answer: Answer, as_polars: bool):
    return answer.to_polars() if as_polars else answer.to_pandas()


def _with_doc(question):
    """Give a DataFrame function the docstring of the question it answers."""

    def decorate(function):
        function.__doc__ = (
            (question.__doc__ or "").rstrip()
            + "\n\n    Returns a pandas DataFrame (`attrs`: units, data_note, is_synthetic, "
            "snapshot, sql, params),\n    or a polars DataFrame with as_polars=True.\n"
        )
        return function

    return decorate


def snapshot_info(snapshot: Snapshot = None) -> SnapshotInfo:
    """Where the snapshot's data comes from: `.source` ('demo' or 'akshare'),
    `.is_synthetic`, `.note` (one paragraph to quote), `.published_at_utc`,
    `.last_trade_date`, `.stale_datasets` (sources that lag, since which trading day),
    `.missing_symbols` (per dataset, the symbols that could not load) and `.stale_marts`
    (marts not built, or behind, and why)."""
    return questions.snapshot_info(snapshot)


@_with_doc(questions.list_marts)
def list_marts(*, snapshot: Snapshot = None, as_polars: bool = False):
    return _frame(questions.list_marts(snapshot), as_polars)


@_with_doc(questions.describe_mart)
def describe_mart(mart: str, *, snapshot: Snapshot = None, as_polars: bool = False):
    return _frame(questions.describe_mart(mart, snapshot), as_polars)


@_with_doc(questions.short_balance_trend)
def short_balance_trend(
    start: dt.date | str | None = None,
    end: dt.date | str | None = None,
    period: Period = "day",
    *,
    snapshot: Snapshot = None,
    as_polars: bool = False,
    timeout_s: float | None = NOTEBOOK_TIMEOUT_S,
):
    answer = questions.short_balance_trend(
        start, end, period, snapshot=snapshot, timeout_s=timeout_s
    )
    return _frame(answer, as_polars)


@_with_doc(questions.top_short_to_float)
def top_short_to_float(
    trade_date: dt.date | str | None = None,
    limit: int = 10,
    *,
    snapshot: Snapshot = None,
    as_polars: bool = False,
    timeout_s: float | None = NOTEBOOK_TIMEOUT_S,
):
    answer = questions.top_short_to_float(trade_date, limit, snapshot=snapshot, timeout_s=timeout_s)
    return _frame(answer, as_polars)


@_with_doc(questions.industry_concentration)
def industry_concentration(
    trade_date: dt.date | str | None = None,
    level: int = 2,
    limit: int = 10,
    *,
    snapshot: Snapshot = None,
    as_polars: bool = False,
    timeout_s: float | None = NOTEBOOK_TIMEOUT_S,
):
    answer = questions.industry_concentration(
        trade_date, level, limit, snapshot=snapshot, timeout_s=timeout_s
    )
    return _frame(answer, as_polars)


@_with_doc(questions.policy_events)
def policy_events(
    direction: str | None = None,
    start: dt.date | str | None = None,
    end: dt.date | str | None = None,
    *,
    snapshot: Snapshot = None,
    as_polars: bool = False,
    timeout_s: float | None = NOTEBOOK_TIMEOUT_S,
):
    answer = questions.policy_events(direction, start, end, snapshot=snapshot, timeout_s=timeout_s)
    return _frame(answer, as_polars)


@_with_doc(questions.event_window)
def event_window(
    event_id: str,
    by_industry: bool = False,
    offsets: Sequence[int] | None = None,
    industry_code: str | None = None,
    *,
    snapshot: Snapshot = None,
    as_polars: bool = False,
    timeout_s: float | None = NOTEBOOK_TIMEOUT_S,
):
    answer = questions.event_window(
        event_id, by_industry, offsets, industry_code, snapshot=snapshot, timeout_s=timeout_s
    )
    return _frame(answer, as_polars)


@_with_doc(questions.signals)
def signals(
    start: dt.date | str | None = None,
    end: dt.date | str | None = None,
    signal_type: str | None = None,
    security_code: str | None = None,
    limit: int = 100,
    *,
    snapshot: Snapshot = None,
    as_polars: bool = False,
    timeout_s: float | None = NOTEBOOK_TIMEOUT_S,
):
    answer = questions.signals(
        start, end, signal_type, security_code, limit, snapshot=snapshot, timeout_s=timeout_s
    )
    return _frame(answer, as_polars)


@_with_doc(questions.query)
def query(
    sql: str,
    limit: int | None = None,
    timeout_s: float | None = NOTEBOOK_TIMEOUT_S,
    *,
    snapshot: Snapshot = None,
    as_polars: bool = False,
):
    return _frame(questions.query(sql, limit, timeout_s, snapshot=snapshot), as_polars)


__all__ = [
    "DEFAULT_TIMEOUT_S",
    "MartNotInSnapshot",
    "QueryFailed",
    "QueryTimeout",
    "SnapshotAccessError",
    "SnapshotMissing",
    "StatementRefused",
    "describe_mart",
    "event_window",
    "industry_concentration",
    "list_marts",
    "policy_events",
    "query",
    "short_balance_trend",
    "signals",
    "snapshot_info",
    "top_short_to_float",
]
