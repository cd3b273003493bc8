"""The research report's questions as parameterised SQL on the published snapshot: the one
implementation behind both the notebook API (margin_wh.read, DataFrames) and the MCP
server's tools (margin_wh.read.mcp_server).

Each function returns an `Answer` (margin_wh.read.readonly): the rows in the marts' own units
(CNY, shares, fractions), each column's unit, where the data comes from, and the SQL with
its parameters, so anyone can run the same query on the snapshot and get the same rows.
The SQL reads the marts the way the example queries in `queries/` do; those round to the
report's 亿 and percent, these keep the stored values.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa

from margin_wh.mart_docs import (
    column_doc,
    column_units,
    grain_in_description,
    mart_docs,
    unit_from_name,
)
from margin_wh.read.readonly import (
    DEFAULT_TIMEOUT_S,
    Answer,
    MartNotInSnapshot,
    QueryFailed,
    SnapshotInfo,
    default_snapshot,
    fetch,
    open_snapshot,
    read_snapshot_info,
    require_mart,
)

Snapshot = Path | str | None
Period = Literal["day", "week", "month"]
PERIODS = ("day", "week", "month")
DIRECTIONS = ("tighten", "loosen", "neutral")
SIGNAL_MART = "fct_margin_signal"

# Before any date, after any date: open ends of a date range as SQL parameters.
_FIRST_DAY = dt.date(1900, 1, 1)
_LAST_DAY = dt.date(9999, 12, 31)

Check = Callable[[duckdb.DuckDBPyConnection, SnapshotInfo], None]


def as_date(value: dt.date | str | None, name: str) -> dt.date | None:
    """A date argument given as a date or 'YYYY-MM-DD' text; None stays None."""
    if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
        return value
    if isinstance(value, dt.datetime):
        return value.date()
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise QueryFailed(f"{name} must be a date as YYYY-MM-DD, got {value!r}") from None


def _one_of(value: str | None, allowed: Sequence[str], name: str) -> str | None:
    if value is not None and value not in allowed:
        raise QueryFailed(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _at_least_one(value: int, name: str) -> int:
    if int(value) < 1:
        raise QueryFailed(f"{name} must be at least 1, got {value}")
    return int(value)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _resolve(snapshot: Snapshot) -> Path:
    return Path(snapshot) if snapshot is not None else default_snapshot()


def _run(
    snapshot: Snapshot,
    title: str,
    sql: str,
    params: dict[str, Any] | None = None,
    *,
    mart: str,
    checks: Sequence[Check] = (),
    max_rows: int | None = None,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
) -> Answer:
    """Open the snapshot as it is now, check `mart` is there (and `checks`), run `sql`."""
    path = _resolve(snapshot)
    with open_snapshot(path) as con:
        info = read_snapshot_info(con, path)
        require_mart(con, info, mart)
        for check in checks:
            check(con, info)
        table, truncated = fetch(con, sql, params, limit=max_rows, timeout_s=timeout_s)
    units = _units(table.column_names, mart)
    return Answer(title, table, units, info, sql, dict(params or {}), max_rows, truncated)


def _units(columns: Sequence[str], mart: str | None) -> dict[str, str | None]:
    """Each column's unit as `mart`'s docs give it, else as any mart's docs or the naming
    convention give a column of that name."""
    docs = mart_docs()
    own = docs[mart].columns if mart in docs else {}
    fallback = column_units(columns, docs)
    return {name: (own[name].unit if name in own else None) or fallback[name] for name in columns}


def _day_in_mart(mart: str, day: dt.date | None) -> Check:
    """A check that `day` (when given) has rows in `mart`, saying which days it has."""

    def check(con: duckdb.DuckDBPyConnection, info: SnapshotInfo) -> None:
        if day is None:
            return
        rows, first, last = con.execute(
            f"select count(*) filter (where trade_date = ?), min(trade_date), max(trade_date) "
            f"from marts.{mart}",
            [day],
        ).fetchall()[0]
        if not rows:
            raise QueryFailed(
                f"marts.{mart} has no rows on {day}: it holds trading days {first} .. {last} "
                "(a weekend or holiday has none); ask for a trading day in that range, or "
                "leave the date out for the latest"
            )

    return check


# ---------------------------------------------------------------- the catalog
def list_marts(snapshot: Snapshot = None) -> Answer:
    """The marts in the snapshot: name, grain, description and rows, from the dbt docs
    (models/marts/*.yml), or the snapshot's own table comments for a mart they lack."""
    path = _resolve(snapshot)
    sql = (
        "select table_name as mart, comment from duckdb_tables() "
        "where database_name = current_database() and schema_name = 'marts' order by 1"
    )
    with open_snapshot(path) as con:
        info = read_snapshot_info(con, path)
        found = con.execute(sql).fetchall()
        exact_rows = {
            name: con.execute(f"select count(*) from marts.{_ident(name)}").fetchall()[0][0]
            for name, _ in found
        }
    docs = mart_docs()
    rows = []
    for name, comment in found:
        doc = docs.get(name)
        description = doc.description if doc else " ".join((comment or "").split())
        grain = (doc.grain if doc else None) or grain_in_description(description)
        rows.append(
            {"mart": name, "grain": grain, "description": description, "rows": exact_rows[name]}
        )
    table = pa.Table.from_pylist(
        rows,
        schema=pa.schema(
            [
                ("mart", pa.string()),
                ("grain", pa.string()),
                ("description", pa.string()),
                ("rows", pa.int64()),
            ]
        ),
    )
    units = {"mart": "text", "grain": "text", "description": "text", "rows": "count"}
    return Answer("Marts in the snapshot", table, units, info, sql)


def describe_mart(mart: str, snapshot: Snapshot = None) -> Answer:
    """The columns of one mart: name, DuckDB type, unit, Chinese term (中文术语) and
    description, from the dbt docs, or the snapshot's column comments where they are
    silent; the unit from the naming convention (_cny, _shares, _ratio) when neither says."""
    path = _resolve(snapshot)
    mart = mart.removeprefix("marts.")
    sql = (
        "select column_name, data_type, comment from duckdb_columns() "
        "where database_name = current_database() and schema_name = 'marts' "
        "and table_name = ? order by column_index"
    )
    with open_snapshot(path) as con:
        info = read_snapshot_info(con, path)
        require_mart(con, info, mart)
        found = con.execute(sql, [mart]).fetchall()
    doc = mart_docs().get(mart)
    rows = []
    for name, data_type, comment in found:
        column = (doc.columns.get(name) if doc else None) or column_doc(name, comment or "")
        rows.append(
            {
                "column": name,
                "data_type": data_type,
                "unit": column.unit or unit_from_name(name),
                "term_zh": column.term_zh,
                "description": column.description,
            }
        )
    table = pa.Table.from_pylist(
        rows,
        schema=pa.schema(
            [(n, pa.string()) for n in ("column", "data_type", "unit", "term_zh", "description")]
        ),
    )
    units = dict.fromkeys(table.column_names, "text")
    grain = doc.grain if doc else None
    title = f"Columns of marts.{mart}" + (f" (grain: {grain})" if grain else "")
    return Answer(title, table, units, info, sql, {"table_name": mart})


# ---------------------------------------------------------------- the report's questions
def short_balance_trend(
    start: dt.date | str | None = None,
    end: dt.date | str | None = None,
    period: Period = "day",
    *,
    snapshot: Snapshot = None,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
    max_rows: int | None = None,
) -> Answer:
    """The market short balance (融券余额) per trading day, or at the last trading day of
    each week or month (`period`), from `start` to `end` (both optional, inclusive): with
    the financing balance, short balance / float market cap, the year-to-date change and the
    drawdown from the running peak, and the policy events that took effect in the period
    (titles and directions, '; '-separated). Report chart 融券余额趋势 with 核心事件时间轴."""
    params = {
        "start": as_date(start, "start") or _FIRST_DAY,
        "end": as_date(end, "end") or _LAST_DAY,
        "period": _one_of(period, PERIODS, "period"),
    }
    sql = """
with days as (
    select
        trade_date,
        short_balance_cny,
        financing_balance_cny,
        short_to_float_ratio,
        short_balance_ytd_change_ratio,
        short_balance_drawdown_ratio,
    from marts.fct_market_short_daily
    where trade_date between $start and $end
    qualify trade_date = max(trade_date) over (partition by date_trunc($period, trade_date))
)
select
    days.*,
    string_agg(events.title_zh, '; ' order by events.effective_trade_date, events.event_id)
        as policy_events,
    string_agg(events.short_selling_direction, '; '
               order by events.effective_trade_date, events.event_id) as policy_directions,
from days
left join marts.dim_policy_event as events
    on date_trunc($period, events.effective_trade_date) = date_trunc($period, days.trade_date)
    and events.effective_trade_date between $start and days.trade_date
group by all
order by days.trade_date
"""
    return _run(
        snapshot,
        f"Market short balance per {period}",
        sql,
        params,
        mart="fct_market_short_daily",
        max_rows=max_rows,
        timeout_s=timeout_s,
    )


def top_short_to_float(
    trade_date: dt.date | str | None = None,
    limit: int = 10,
    *,
    snapshot: Snapshot = None,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
) -> Answer:
    """The securities with the highest short balance / float market cap (融券余额占流通市值
    比例) on `trade_date` (default: the latest trading day in the snapshot), ranked, with
    Shenwan industries as of that day, short balance, float market cap and the 5-day
    change. Report table 融券余额占流通市值比例较高个股."""
    day = as_date(trade_date, "trade_date")
    params = {"trade_date": day, "limit": _at_least_one(limit, "limit")}
    sql = """
select
    trade_date,
    short_to_float_rank,
    security_code,
    security_name,
    exchange,
    sw_l1_name,
    sw_l2_name,
    short_balance_cny,
    float_market_cap_cny,
    short_to_float_ratio,
    short_balance_change_5d_cny,
    financing_to_float_ratio,
from marts.fct_balance_to_float
where trade_date = coalesce($trade_date, (select max(trade_date) from marts.fct_balance_to_float))
    and short_to_float_rank is not null
order by short_to_float_rank, security_code
limit $limit
"""
    return _run(
        snapshot,
        "Highest short balance / float market cap",
        sql,
        params,
        mart="fct_balance_to_float",
        checks=[_day_in_mart("fct_balance_to_float", day)],
        timeout_s=timeout_s,
    )


def industry_concentration(
    trade_date: dt.date | str | None = None,
    level: int = 2,
    limit: int = 10,
    *,
    snapshot: Snapshot = None,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
) -> Answer:
    """The Shenwan industries (level 1 or 2) holding the most short balance on `trade_date`
    (default: the latest): their share of the market's short balance, short / float, the
    Herfindahl index (HHI) of short balance across their securities and their top security.
    Report section 高融券个股名单与行业集中度."""
    day = as_date(trade_date, "trade_date")
    if level not in (1, 2):
        raise QueryFailed(f"level must be 1 (申万一级) or 2 (申万二级), got {level!r}")
    params = {"trade_date": day, "level": level, "limit": _at_least_one(limit, "limit")}
    sql = """
select
    trade_date,
    industry_level,
    industry_code,
    industry_name,
    industry_name_en,
    short_balance_cny,
    share_of_market_short_ratio,
    short_to_float_ratio,
    securities_count,
    securities_with_short_count,
    short_hhi,
    top_short_security_code,
    top_short_security_name,
    top_short_balance_cny,
    top_short_share_of_industry_ratio,
from marts.fct_short_concentration_by_industry
where trade_date = coalesce(
        $trade_date, (select max(trade_date) from marts.fct_short_concentration_by_industry))
    and industry_level = $level
order by short_balance_cny desc, industry_code
limit $limit
"""
    mart = "fct_short_concentration_by_industry"
    return _run(
        snapshot,
        f"Short balance by Shenwan level-{level} industry",
        sql,
        params,
        mart=mart,
        checks=[_day_in_mart(mart, day)],
        timeout_s=timeout_s,
    )


def policy_events(
    direction: str | None = None,
    start: dt.date | str | None = None,
    end: dt.date | str | None = None,
    *,
    snapshot: Snapshot = None,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
) -> Answer:
    """The curated margin-trading and short-selling policy timeline (两融政策事件): each
    event's dates (announced, effective, first trading day = day 0 of its window), issuer,
    Chinese title, English description, category, direction for short selling (tighten,
    loosen, neutral), whether a source confirms the dates, and that source. Optionally one
    `direction` and effective dates from `start` to `end`."""
    params = {
        "direction": _one_of(direction, DIRECTIONS, "direction"),
        "start": as_date(start, "start") or _FIRST_DAY,
        "end": as_date(end, "end") or _LAST_DAY,
    }
    sql = """
select
    event_id,
    announced_date,
    effective_date,
    effective_trade_date,
    issuer,
    title_zh,
    description_en,
    category,
    short_selling_direction,
    is_date_confirmed,
    source,
from marts.dim_policy_event
where event_id <> 'unknown'
    and ($direction is null or short_selling_direction = $direction)
    and effective_date between $start and $end
order by effective_date, event_id
"""
    return _run(
        snapshot, "Policy events", sql, params, mart="dim_policy_event", timeout_s=timeout_s
    )


def _event_exists(event_id: str) -> Check:
    def check(con: duckdb.DuckDBPyConnection, info: SnapshotInfo) -> None:
        found = con.execute(
            "select count(*) from marts.dim_policy_event where event_id = ?", [event_id]
        ).fetchall()[0][0]
        if not found:
            raise QueryFailed(
                f"no policy event {event_id!r} in marts.dim_policy_event: policy_events lists "
                "every event_id (e.g. '2024-07-10-refinancing-suspended')"
            )

    return check


def event_window(
    event_id: str,
    by_industry: bool = False,
    offsets: Sequence[int] | None = None,
    industry_code: str | None = None,
    *,
    snapshot: Snapshot = None,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
) -> Answer:
    """The market (or, with `by_industry`, each Shenwan level-1 industry) around one policy
    event, in trading days from its effective day (-20 … +20; `offsets` picks some, e.g.
    [-20, -5, 0, 5, 20]): short and financing balances, short / float and their change from
    day 0 (by industry also its share of the market's short balance). Rows exist where the
    snapshot holds market data. Report section 核心事件时间轴 as an event study."""
    offsets = [int(o) for o in offsets] if offsets else None
    params: dict[str, Any] = {"event_id": event_id, "offsets": offsets}
    if by_industry:
        params["industry_code"] = industry_code
        mart = "fct_policy_event_window_by_industry"
        sql = """
select
    windows.event_id,
    events.title_zh,
    windows.offset_trading_days,
    windows.trade_date,
    windows.effective_trade_date,
    windows.industry_code,
    windows.industry_name,
    windows.short_balance_cny,
    windows.financing_balance_cny,
    windows.short_to_float_ratio,
    windows.share_of_market_short_ratio,
    windows.short_balance_change_from_event_cny,
    windows.short_balance_change_from_event_ratio,
    windows.financing_balance_change_from_event_ratio,
    windows.share_of_market_short_ratio_change_from_event,
from marts.fct_policy_event_window_by_industry as windows
inner join marts.dim_policy_event as events using (event_id)
where windows.event_id = $event_id
    and ($offsets is null or list_contains($offsets, windows.offset_trading_days))
    and ($industry_code is null or windows.industry_code = $industry_code)
order by windows.offset_trading_days, windows.industry_code
"""
    else:
        if industry_code is not None:
            raise QueryFailed("industry_code needs by_industry=True (the market window has none)")
        mart = "fct_policy_event_window"
        sql = """
select
    windows.event_id,
    events.title_zh,
    windows.offset_trading_days,
    windows.trade_date,
    windows.effective_trade_date,
    windows.short_selling_direction,
    windows.short_balance_cny,
    windows.financing_balance_cny,
    windows.short_to_float_ratio,
    windows.short_balance_change_from_event_cny,
    windows.short_balance_change_from_event_ratio,
    windows.financing_balance_change_from_event_ratio,
    windows.short_to_float_ratio_change_from_event,
from marts.fct_policy_event_window as windows
inner join marts.dim_policy_event as events using (event_id)
where windows.event_id = $event_id
    and ($offsets is null or list_contains($offsets, windows.offset_trading_days))
order by windows.offset_trading_days
"""
    title = f"Window of {event_id}" + (" by level-1 industry" if by_industry else "")
    return _run(
        snapshot,
        title,
        sql,
        params,
        mart=mart,
        checks=[_event_exists(event_id)],
        timeout_s=timeout_s,
    )


def signals(
    start: dt.date | str | None = None,
    end: dt.date | str | None = None,
    signal_type: str | None = None,
    security_code: str | None = None,
    limit: int = 100,
    *,
    snapshot: Snapshot = None,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
) -> Answer:
    """Margin signals from marts.fct_margin_signal (short_cleared, short_squeeze,
    financing_record_high, financing_one_year_high, short_removed, financing_to_float_high,
    short_growth_weekly): each with its value and threshold, the day's price change and
    whether the security closed limit-up. Trading days from `start` to `end`; with neither,
    the latest day that has signals. Optionally one `signal_type` or `security_code`.
    Report table 涨幅异动与融券关联个股分析. Raises MartNotInSnapshot, saying so, on a
    snapshot published before the signal mart existed."""
    first, last = as_date(start, "start"), as_date(end, "end")
    params = {
        "start": first,
        "end": last,
        "signal_type": signal_type,
        "security_code": security_code,
        "limit": _at_least_one(limit, "limit"),
    }
    sql = """
select
    trade_date,
    security_code,
    exchange,
    security_name,
    signal_type,
    value,
    threshold,
    close_change_1d_ratio,
    is_limit_up,
from marts.fct_margin_signal
where (
        ($start is null and $end is null
            and trade_date = (select max(trade_date) from marts.fct_margin_signal))
        or (($start is not null or $end is not null)
            and trade_date between coalesce($start, date '1900-01-01')
                and coalesce($end, date '9999-12-31'))
    )
    and ($signal_type is null or signal_type = $signal_type)
    and ($security_code is null or security_code = $security_code)
order by trade_date desc, signal_type, security_code
limit $limit
"""
    return _run(snapshot, "Margin signals", sql, params, mart=SIGNAL_MART, timeout_s=timeout_s)


def query(
    sql: str,
    limit: int | None = 1000,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
    *,
    snapshot: Snapshot = None,
) -> Answer:
    """Any read-only SQL on the snapshot (one SELECT; schemas marts, reference and main),
    at most `limit` rows (the answer says when there were more) and `timeout_s` seconds.
    Writes, ATTACH, COPY, file and network functions (read_csv, read_parquet, httpfs …),
    PRAGMA, SET, INSTALL and LOAD are refused with the reason. Each column's unit comes
    from the mart docs, or the naming convention (_cny, _shares, _ratio, _pct, _100m_cny)."""
    path = _resolve(snapshot)
    with open_snapshot(path) as con:
        info = read_snapshot_info(con, path)
        table, truncated = fetch(con, sql, None, limit=limit, timeout_s=timeout_s)
    units = _units(table.column_names, None)
    return Answer("Query result", table, units, info, sql, {}, limit, truncated)


def snapshot_info(snapshot: Snapshot = None) -> SnapshotInfo:
    """Where the snapshot's data comes from (source, synthetic or not, publish time, last
    trading day, lagging datasets), as the publish step recorded it."""
    path = _resolve(snapshot)
    with open_snapshot(path) as con:
        return read_snapshot_info(con, path)


__all__ = [
    "Answer",
    "MartNotInSnapshot",
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
