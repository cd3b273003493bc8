"""The daily short-selling monitor: one self-contained HTML page rebuilt after each refresh.

It reproduces the views of the research report on short selling (融券余额深度研究报告)
on the latest data of the published snapshot: key figures (年初至今降幅, 较历史峰值降幅,
占流通市值比例), the short balance trend with the policy events marked, the securities
with the highest short balance / float market cap, short concentration by Shenwan
industry, financing vs short balance, and the index-futures basis and open interest.

Charts are plotly figures with plotly.js inlined (include_plotlyjs=True): the page opens
offline, from a file or an e-mail attachment, with no CDN. Tables are plain HTML.
`load_report_data` reads (returns frames), the `*_figure` functions draw (return
figures), `render_report` assembles the page and `write_report` swaps it into place.
"""

from __future__ import annotations

import datetime as dt
import html
import os
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import plotly.colors
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from margin_wh.publish.snapshot import remove_stale_temporaries

REPORT_NAME = "report.html"
YI = 1e8  # 亿: Chinese reports quote balances in units of 100 million yuan
TOP_SECURITIES = 20
TOP_INDUSTRIES_L2 = 10
# the share of a heatmap's cells whose magnitude its colour scale spans before saturating
COLOUR_LIMIT_QUANTILE = 0.9
SUBPLOT_TITLE_FONT_PX = 14

# Section titles: the views of the research report. Tests look for them.
VIEW_TITLES = {
    "key_figures": "Key figures 关键数据速览",
    "trend": "Market short balance 融券余额趋势 (亿 CNY) with policy events",
    "top_securities": "Top securities by short balance / float market cap 融券余额占流通市值比例较高个股",
    "by_exchange": "By exchange 分交易所 (SSE, SZSE, BSE)",
    "days_to_cover": "Days to cover 融券回补天数",
    "industry": "Short concentration by industry 行业集中度 (SW2021)",
    "financing": "Financing vs short balance 融资余额 vs 融券余额",
    "basis": "Index-futures basis and open interest 股指期货基差与持仓",
    "event_windows": "Around the policy events 政策事件窗口",
    "event_windows_by_industry": "Around the policy events by industry 政策事件窗口(分行业)",
    "signals": "Signals of the latest day 涨幅异动与两融信号",
    "eligibility": "Eligibility changes 两融标的调整",
    "leverage": "Leverage indicators 两融杠杆监测指标",
    "freshness": "Data freshness 数据时效",
}
SIGNAL_MART = "fct_margin_signal"
SIGNAL_ROWS = 40
SIGNAL_ROWS_PER_TYPE = 5  # the latest signals of each kind
SIGNAL_NAMES = {  # in the order the report lists a day's signals
    "short_squeeze": "空头回补 short squeeze at the limit",
    "short_removed": "调出融券标的 removed from the short list",
    "short_cleared": "融券几乎清零 short cleared",
    "financing_to_float_high": "融资余额/流通市值 > 5% financing to float high",
    "short_growth_weekly": "融券余额周增速 > 20% weekly short growth",
    "financing_record_high": "融资余额创历史新高 financing record high",
    "financing_one_year_high": "融资余额创近一年新高 financing one-year high",
}
EVENT_NAMES = {
    "financing_added": "调入融资标的 financing added",
    "financing_removed": "调出融资标的 financing removed",
    "short_added": "调入融券标的 short added",
    "short_removed": "调出融券标的 short removed",
    "short_suspended": "暂停融券 short suspended",
    "short_resumed": "恢复融券 short resumed",
}

DIRECTION_COLORS = {"tighten": "#c0392b", "loosen": "#27ae60", "neutral": "#7f8c8d"}
VARIETY_NAMES = {"IF": "IF 沪深300", "IH": "IH 上证50", "IC": "IC 中证500", "IM": "IM 中证1000"}
FONT = (
    "system-ui, -apple-system, 'Segoe UI', 'Noto Sans CJK SC', 'Noto Sans SC', "
    "'PingFang SC', 'Microsoft YaHei', 'WenQuanYi Micro Hei', sans-serif"
)


# The marts each view reads: a view whose mart is not in the snapshot (never built, e.g.
# its only source was refused on a new warehouse) says so in place of its content, and a
# view whose mart is stale says since when above it; the other views are drawn as usual.
VIEW_MARTS: dict[str, tuple[str, ...]] = {
    "key_figures": ("fct_market_short_daily",),
    "trend": ("fct_market_short_daily",),
    "top_securities": ("fct_balance_to_float",),
    "by_exchange": ("fct_market_margin_daily",),
    "days_to_cover": ("fct_balance_to_float",),
    "industry": ("fct_short_concentration_by_industry",),
    "financing": ("fct_market_short_daily",),
    "basis": ("fct_index_futures_basis",),
    "event_windows": ("fct_policy_event_window", "dim_policy_event"),
    "event_windows_by_industry": ("fct_policy_event_window_by_industry", "dim_policy_event"),
    "signals": ("fct_margin_signal",),
    "eligibility": ("fct_margin_eligibility_event",),
    "leverage": ("fct_market_leverage_daily",),
}


@dataclass
class ReportData:
    info: dict
    stale: pd.DataFrame  # main.dataset_freshness: the daily datasets behind the others
    market: pd.DataFrame | None  # fct_market_short_daily, every day (None: not in the snapshot)
    events: pd.DataFrame  # dim_policy_event within the market's days
    top: pd.DataFrame | None  # fct_balance_to_float, latest day, highest short_to_float_ratio
    industry_l1: pd.DataFrame | None  # fct_short_concentration_by_industry, latest day, level 1
    industry_l2: pd.DataFrame | None  # the same, level 2, largest short balances
    industry_hhi: pd.DataFrame | None  # per day: HHI of short balance across SW L1 industries
    basis: pd.DataFrame | None  # fct_index_futures_basis, main contracts
    event_windows: pd.DataFrame | None  # fct_policy_event_window, events in the data
    # fct_policy_event_window_by_industry at the window's last offset, events in the data
    industry_windows: pd.DataFrame | None
    # fct_margin_signal before the report's day: the latest SIGNAL_ROWS_PER_TYPE of each kind
    signals: pd.DataFrame | None
    eligibility: pd.DataFrame | None  # fct_margin_eligibility_event, the latest changes
    leverage: pd.DataFrame | None  # fct_market_leverage_daily, every day
    thresholds: dict  # reference.signal_thresholds: name -> value
    signals_today: dict  # signal_type -> how many on the latest day
    last_day: dt.date | None = None  # the report's day: the market's latest in the snapshot
    marts: frozenset = frozenset()  # the marts in the snapshot
    datasets: pd.DataFrame | None = None  # main.dataset_freshness, every dataset
    mart_freshness: pd.DataFrame | None = None  # main.mart_freshness, every mart
    missing_symbols: pd.DataFrame | None = None  # main.missing_symbols
    signals_latest_day: pd.DataFrame | None = None  # fct_margin_signal on the report's day
    by_exchange: pd.DataFrame | None = None  # fct_market_margin_daily on the report's day
    days_to_cover: pd.DataFrame | None = None  # fct_balance_to_float, the day's longest

    @property
    def latest(self) -> pd.Series:
        return self.market.iloc[-1]

    def missing_marts(self, view: str) -> list[str]:
        """The marts `view` reads that are not in the snapshot."""
        return [m for m in VIEW_MARTS.get(view, ()) if m not in self.marts]

    def mart_status(self, mart: str) -> dict | None:
        """The snapshot's main.mart_freshness row of `mart`, when it has one."""
        frame = self.mart_freshness
        if frame is None or frame.empty:
            return None
        rows = frame[frame["mart"] == mart]
        return rows.iloc[0].to_dict() if len(rows) else None


@dataclass(frozen=True)
class ReportResult:
    path: Path
    size_bytes: int
    last_trade_date: dt.date
    seconds: float
    missing_views: tuple[str, ...] = ()  # views whose mart is not in the snapshot


def _df(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pd.DataFrame:
    return con.execute(sql, params or []).df()


def _tables(con: duckdb.DuckDBPyConnection, schema: str) -> frozenset:
    return frozenset(
        name
        for (name,) in con.execute(
            "select table_name from information_schema.tables "
            "where table_catalog = current_database() and table_schema = ?",
            [schema],
        ).fetchall()
    )


def _report_day(con: duckdb.DuckDBPyConnection, marts: frozenset, info: dict) -> dt.date:
    """The market mart's last day; where it is not in the snapshot, the day the publish
    recorded, else the newest day of any mart."""
    if "fct_market_short_daily" in marts:
        last = con.execute("select max(trade_date) from marts.fct_market_short_daily").fetchone()[0]
        if last is None:
            raise RuntimeError("marts.fct_market_short_daily is empty: nothing to report")
        return last
    if info.get("last_trade_date") is not None and not pd.isna(info["last_trade_date"]):
        return pd.Timestamp(info["last_trade_date"]).date()
    days = [
        con.execute(f"select max(trade_date) from marts.{m}").fetchone()[0]
        for m in sorted(marts)
        if "trade_date"
        in {r[0] for r in con.execute(
            "select column_name from information_schema.columns where table_schema = 'marts' "
            "and table_name = ?", [m]).fetchall()}
    ]  # fmt: skip
    days = [d for d in days if d is not None]
    if not days:
        raise RuntimeError(
            "no mart in the snapshot has a trading day (fct_market_short_daily is missing "
            "and the others are empty): nothing to report"
        )
    return max(days)


def load_report_data(con: duckdb.DuckDBPyConnection) -> ReportData:
    """Everything the report shows, from a connection to the snapshot (or the warehouse).
    A mart the snapshot lacks leaves its frame None; its view says so."""
    marts = _tables(con, "marts")
    main = _tables(con, "main")
    info = {}
    if "snapshot_info" in main:
        row = _df(con, "select * from main.snapshot_info")
        info = row.iloc[0].to_dict() if not row.empty else {}
    last_day = _report_day(con, marts, info)
    market = (
        _df(con, "select * from marts.fct_market_short_daily order by trade_date")
        if "fct_market_short_daily" in marts
        else None
    )
    first = market["trade_date"].min() if market is not None else None
    datasets = (
        _df(con, "select * from main.dataset_freshness order by dataset")
        if "dataset_freshness" in main
        else None
    )
    stale = (
        datasets[datasets["is_stale"]].sort_values(["stale_since", "dataset"])
        if datasets is not None
        else pd.DataFrame(columns=["dataset", "last_trade_date", "is_stale", "stale_since"])
    )
    mart_freshness = (
        _df(con, "select * from main.mart_freshness order by mart")
        if "mart_freshness" in main
        else None
    )
    missing_symbols = (
        _df(con, "select * from main.missing_symbols order by dataset, symbol")
        if "missing_symbols" in main
        else None
    )

    def frame(mart: str, sql: str, params: list | None = None) -> pd.DataFrame | None:
        return _df(con, sql, params) if mart in marts else None

    # the events within the market's days (all of them when the market mart is missing)
    window = [first if first is not None else dt.date(1900, 1, 1), last_day]
    events = frame(
        "dim_policy_event",
        """
        select event_id, effective_trade_date, effective_date, title_zh, description_en,
               category, short_selling_direction, issuer, is_date_confirmed
        from marts.dim_policy_event
        where event_id <> 'unknown' and effective_trade_date between ? and ?
        order by effective_trade_date, event_id
        """,
        window,
    )
    if events is None:
        events = pd.DataFrame(
            columns=["event_id", "effective_trade_date", "effective_date", "title_zh",
                     "description_en", "category", "short_selling_direction", "issuer",
                     "is_date_confirmed"]
        )  # fmt: skip
    top = frame(
        "fct_balance_to_float",
        f"""
        select short_to_float_rank as rank, security_name, security_code, exchange,
               sw_l1_name, sw_l2_name, short_balance_cny, short_to_float_ratio,
               float_market_cap_cny, short_balance_change_20d_cny
        from marts.fct_balance_to_float
        where trade_date = ? and short_to_float_ratio is not null
        order by short_to_float_rank, security_code
        limit {TOP_SECURITIES}
        """,
        [last_day],
    )
    industry = """
        select industry_code, industry_name, industry_name_en, short_balance_cny,
               share_of_market_short_ratio, short_to_float_ratio, short_hhi,
               securities_count, securities_with_short_count,
               top_short_security_name, top_short_security_code,
               top_short_share_of_industry_ratio
        from marts.fct_short_concentration_by_industry
        where trade_date = ? and industry_level = ?
        order by short_balance_cny desc, industry_code
    """
    concentration = "fct_short_concentration_by_industry"
    industry_l1 = frame(concentration, industry, [last_day, 1])
    industry_l2 = frame(concentration, industry + f" limit {TOP_INDUSTRIES_L2}", [last_day, 2])
    industry_hhi = frame(
        concentration,
        """
        select trade_date,
               sum(share_of_market_short_ratio * share_of_market_short_ratio) as hhi,
               sum(share_of_market_short_ratio) filter (where share_rank <= 3) as top3_share,
        from (
            select *, row_number() over (
                partition by trade_date order by short_balance_cny desc
            ) as share_rank
            from marts.fct_short_concentration_by_industry
            where industry_level = 1
        )
        group by trade_date
        order by trade_date
        """,
    )
    basis = frame(
        "fct_index_futures_basis",
        """
        select trade_date, variety, contract, basis_points, basis_ratio,
               annualized_basis_ratio, days_to_expiry, variety_open_interest, open_interest
        from marts.fct_index_futures_basis
        where is_main_contract
        order by variety, trade_date
        """,
    )
    with_events = "dim_policy_event" in marts
    event_windows = (
        frame(
            "fct_policy_event_window",
            """
            select w.event_id, w.offset_trading_days, w.trade_date,
                   w.short_balance_change_from_event_ratio, e.title_zh, e.effective_trade_date
            from marts.fct_policy_event_window as w
            inner join marts.dim_policy_event as e using (event_id)
            where e.effective_trade_date between ? and ?
            order by e.effective_trade_date, w.offset_trading_days
            """,
            window,
        )
        if with_events
        else None
    )
    industry_windows = (
        frame(
            "fct_policy_event_window_by_industry",
            """
            select w.event_id, e.title_zh, e.effective_trade_date, w.offset_trading_days,
                   w.industry_code, w.industry_name, w.industry_name_en,
                   w.short_balance_change_from_event_ratio,
                   w.financing_balance_change_from_event_ratio
            from marts.fct_policy_event_window_by_industry as w
            inner join marts.dim_policy_event as e using (event_id)
            where e.effective_trade_date between ? and ?
            qualify w.offset_trading_days = max(w.offset_trading_days) over (partition by w.event_id)
            order by e.effective_trade_date, w.industry_code
            """,
            window,
        )
        if with_events
        else None
    )
    signals_latest_day = frame(
        SIGNAL_MART,
        """
        select trade_date, security_name, security_code, exchange, signal_type, value,
               threshold, close_change_1d_ratio, is_limit_up
        from marts.fct_margin_signal
        where trade_date = ?
        order by list_position(?, signal_type), is_limit_up desc, security_code
        """,
        [last_day, list(SIGNAL_NAMES)],
    )
    signals = frame(
        SIGNAL_MART,
        f"""
        select trade_date, security_name, security_code, exchange, signal_type, value,
               threshold, close_change_1d_ratio, is_limit_up
        from marts.fct_margin_signal
        where trade_date < ?
        qualify row_number() over (
            partition by signal_type
            order by trade_date desc, is_limit_up desc, security_code
        ) <= {SIGNAL_ROWS_PER_TYPE}
        -- the report's event-driven cases before the (many) financing highs
        order by list_position(?, signal_type), trade_date desc, is_limit_up desc, security_code
        """,
        [last_day, list(SIGNAL_NAMES)],
    )
    signals_today = (
        dict(
            con.execute(
                "select signal_type, count(*) from marts.fct_margin_signal where trade_date = ? "
                "group by signal_type",
                [last_day],
            ).fetchall()
        )
        if SIGNAL_MART in marts
        else {}
    )
    # the latest list changes, whatever their date (a list can stand still for weeks),
    # named where the detail mart is
    names = "fct_balance_to_float" in marts
    eligibility = frame(
        "fct_margin_eligibility_event",
        f"""
        select e.trade_date, e.security_code, e.exchange, e.event_type,
               {"b.security_name" if names else "cast(null as varchar) as security_name"}
        from marts.fct_margin_eligibility_event as e
        {"left join marts.fct_balance_to_float as b using (trade_date, security_code)" if names else ""}
        where e.trade_date <= ?
        order by e.trade_date desc, e.security_code, e.event_type
        limit {SIGNAL_ROWS}
        """,
        [last_day],
    )
    by_exchange = frame(
        "fct_market_margin_daily",
        """
        select exchange, published_financing_balance_cny, published_short_balance_cny,
               published_margin_total_cny, securities_count, securities_with_short_count,
               financing_balance_difference_ratio
        from marts.fct_market_margin_daily
        where trade_date = ?
        order by list_position(['SSE', 'SZSE', 'BSE'], exchange)
        """,
        [last_day],
    )
    days_to_cover = frame(
        "fct_balance_to_float",
        f"""
        select security_name, security_code, exchange, sw_l1_name, days_to_cover,
               short_volume_shares, short_balance_cny, short_to_float_ratio
        from marts.fct_balance_to_float
        where trade_date = ? and days_to_cover is not null
        order by days_to_cover desc, security_code
        limit {TOP_SECURITIES}
        """,
        [last_day],
    )
    leverage = frame(
        "fct_market_leverage_daily",
        "select * from marts.fct_market_leverage_daily order by trade_date",
    )
    thresholds = (
        dict(con.execute("select threshold_name, value from reference.signal_thresholds").fetchall())
        if "signal_thresholds" in _tables(con, "reference")
        else {}
    )
    return ReportData(
        info, stale, market, events, top, industry_l1, industry_l2, industry_hhi, basis,
        event_windows, industry_windows, signals, eligibility, leverage, thresholds,
        signals_today, last_day, marts, datasets, mart_freshness, missing_symbols,
        signals_latest_day, by_exchange, days_to_cover,
    )  # fmt: skip


# ------------------------------------------------------------------------ formatting
def _num(value, digits: int = 1, scale: float = 1.0, suffix: str = "") -> str:
    if value is None or pd.isna(value):
        return "–"
    return f"{value / scale:,.{digits}f}{suffix}"


def _pct(value, digits: int = 1, signed: bool = False) -> str:
    if value is None or pd.isna(value):
        return "–"
    return f"{value * 100:{'+' if signed else ''},.{digits}f}%"


def _date(value) -> str:
    if value is None or pd.isna(value):
        return "–"
    return pd.Timestamp(value).date().isoformat()


def _e(value) -> str:
    return html.escape(
        "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)
    )


# ------------------------------------------------------------------------ figures
def _style(
    fig: go.Figure, demo: bool, height: int = 440, subplot_titles: bool = False
) -> go.Figure:
    # Subplot titles sit just above their plots: the legend goes above them.
    top = 90 if subplot_titles else 40
    fig.update_layout(
        template="plotly_white",
        height=height,
        margin={"l": 60, "r": 30, "t": top, "b": 50},
        font={"family": FONT, "size": 13},
        legend={
            "orientation": "h",
            "yanchor": "bottom",
            "x": 0,
            "y": 1.02 + (60 / height if subplot_titles else 0),
        },
        hovermode="x unified",
    )
    if demo:  # a screenshot of a chart still says what it is
        fig.add_annotation(
            text="SYNTHETIC DEMO DATA",
            xref="paper",
            yref="paper",
            x=0.5,
            y=0.5,
            showarrow=False,
            font={"size": 44, "color": "rgba(200, 0, 0, 0.10)"},
            textangle=-18,
        )
    return fig


def _subplots(**kwargs) -> go.Figure:
    """make_subplots with its titles in the page's chart font size: plotly's default is
    larger than the axis titles, and side by side at a laptop's width they run into each
    other."""
    fig = make_subplots(**kwargs)
    fig.update_annotations(font={"size": SUBPLOT_TITLE_FONT_PX})
    return fig


def event_numbers(events: pd.DataFrame) -> dict[str, int]:
    """Each policy event's number on the page: its place in date order, as the trend
    chart's markers and the event list under it show it."""
    return {event_id: n for n, event_id in enumerate(events["event_id"], start=1)}


def industry_window_grid(windows: pd.DataFrame, events: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The industry event windows as grids, one row per SW L1 industry (named in Chinese,
    in code order, the unclassified last) and one column per event numbered as on the
    page, labelled on separate lines with its number, its day and, where the data stop
    before the full window, how far it reaches. `short` and `financing` hold the balances'
    changes from the event day as fractions; `title` the event of each column;
    `industry_en` the English name of each row."""
    numbers = event_numbers(events)
    rows = windows[windows["event_id"].isin(numbers)].copy()
    rows["number"] = rows["event_id"].map(numbers)
    full_window = rows["offset_trading_days"].max()
    rows["column"] = [
        f"{n}<br>{_date(day)}" + ("" if offset == full_window else f"<br>(+{offset})")
        for n, day, offset in zip(
            rows["number"], rows["effective_trade_date"], rows["offset_trading_days"], strict=True
        )
    ]
    rows["row"] = [
        f"{name} (unclassified)" if code == "unknown" else name
        for name, code in zip(rows["industry_name"], rows["industry_code"], strict=True)
    ]
    rows["unclassified"] = rows["industry_code"] == "unknown"
    industries = (
        rows.sort_values(["unclassified", "industry_code"]).drop_duplicates("row")["row"].tolist()
    )
    columns = rows.sort_values("number").drop_duplicates("column")["column"].tolist()

    def grid(values: str) -> pd.DataFrame:
        return rows.pivot(index="row", columns="column", values=values).reindex(
            index=industries, columns=columns
        )

    return {
        "short": grid("short_balance_change_from_event_ratio"),
        "financing": grid("financing_balance_change_from_event_ratio"),
        "title": rows.drop_duplicates("column").set_index("column")["title_zh"].reindex(columns),
        "industry_en": rows.drop_duplicates("row").set_index("row")["industry_name_en"]
        .fillna("")
        .reindex(industries),
    }


def _symmetric_colour_limit(values: pd.DataFrame) -> float:
    """The colour scale's half-width: most cells' magnitude, so that one industry with a
    tiny balance (and a huge percentage change) does not wash out the rest; the cells
    print their values."""
    magnitudes = values.abs().stack()
    if not len(magnitudes) or magnitudes.max() == 0:
        return 1.0
    most = float(magnitudes.quantile(COLOUR_LIMIT_QUANTILE))
    return most if most > 0 else float(magnitudes.max())  # most cells unchanged


def trend_figure(data: ReportData, demo: bool) -> go.Figure:
    market, events = data.market, data.events
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=market["trade_date"],
            y=market["short_balance_cny"] / YI,
            name="融券余额 short balance",
            mode="lines",
            line={"color": "#1f4e79", "width": 2},
            hovertemplate="%{y:,.2f} 亿<extra></extra>",
        )
    )
    balance = market.set_index("trade_date")["short_balance_cny"] / YI
    numbers = event_numbers(events)
    for event in events.itertuples(index=False):
        number = numbers[event.event_id]
        color = DIRECTION_COLORS.get(event.short_selling_direction, "#7f8c8d")
        day = pd.Timestamp(event.effective_trade_date)
        fig.add_vline(x=day, line={"color": color, "width": 1, "dash": "dot"})
        fig.add_trace(
            go.Scatter(
                x=[day],
                y=[balance.get(day)],
                mode="markers+text",
                text=[f"{number}"],
                textposition="top center",
                textfont={"color": color, "size": 13},
                marker={"color": color, "size": 10, "line": {"color": "white", "width": 1}},
                name=f"{number}. {event.title_zh}",
                showlegend=False,
                hovertemplate=(
                    f"<b>{number}. {_e(event.title_zh)}</b><br>{_date(day)} · "
                    f"{_e(event.short_selling_direction)}<extra></extra>"
                ),
            )
        )
    for direction, color in DIRECTION_COLORS.items():  # a legend for the event colours
        if (events["short_selling_direction"] == direction).any():
            fig.add_trace(
                go.Scatter(
                    x=[None],
                    y=[None],
                    mode="markers",
                    marker={"color": color, "size": 10},
                    name=f"policy event: {direction}",
                )
            )
    fig.update_yaxes(title_text="亿 CNY", rangemode="tozero")
    fig.update_xaxes(title_text="trading day")
    return _style(fig, demo, height=460)


def industry_figure(data: ReportData, demo: bool) -> go.Figure:
    l1 = data.industry_l1.sort_values("share_of_market_short_ratio")
    labels = [
        f"{name} {en}" if code != "unknown" else f"{name} (unclassified)"
        for name, en, code in zip(
            l1["industry_name"], l1["industry_name_en"], l1["industry_code"], strict=True
        )
    ]
    fig = _subplots(
        rows=1,
        cols=2,
        column_widths=[0.55, 0.45],
        horizontal_spacing=0.22,
        subplot_titles=(
            f"Share of the market's short balance<br>by SW L1 industry, {_date(data.last_day)}",
            "Concentration across<br>SW L1 industries, per day",
        ),
    )
    fig.add_trace(
        go.Bar(
            y=labels,
            x=l1["share_of_market_short_ratio"] * 100,
            orientation="h",
            marker={"color": "#2e86c1"},
            name="share of market short (%)",
            customdata=list(
                zip(
                    l1["short_balance_cny"] / YI,
                    l1["short_hhi"],
                    l1["top_short_security_name"].fillna("–"),
                    strict=True,
                )
            ),
            hovertemplate=(
                "%{y}<br>share %{x:.1f}%<br>short balance %{customdata[0]:.2f} 亿"
                "<br>HHI within industry %{customdata[1]:.2f}"
                "<br>top security %{customdata[2]}<extra></extra>"
            ),
        ),
        row=1,
        col=1,
    )
    hhi = data.industry_hhi
    fig.add_trace(
        go.Scatter(
            x=hhi["trade_date"],
            y=hhi["hhi"],
            name="HHI across SW L1 industries",
            line={"color": "#8e44ad"},
            hovertemplate="HHI %{y:.3f}<extra></extra>",
        ),
        row=1,
        col=2,
    )
    fig.add_trace(
        go.Scatter(
            x=hhi["trade_date"],
            y=hhi["top3_share"],
            name="share of top 3 industries",
            line={"color": "#e67e22", "dash": "dash"},
            hovertemplate="top 3 share %{y:.1%}<extra></extra>",
        ),
        row=1,
        col=2,
    )
    fig.update_xaxes(title_text="% of market short balance", row=1, col=1)
    fig.update_yaxes(tickfont={"size": 11}, row=1, col=1)
    fig.update_yaxes(title_text="HHI / share (0–1)", rangemode="tozero", row=1, col=2)
    fig.update_xaxes(title_text="trading day", row=1, col=2)
    _style(fig, demo, height=max(480, 22 * len(l1) + 160), subplot_titles=True)
    fig.update_layout(hovermode="closest")
    return fig


def financing_figure(data: ReportData, demo: bool) -> go.Figure:
    market = data.market
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(
        go.Scatter(
            x=market["trade_date"],
            y=market["financing_balance_cny"] / YI,
            name="融资余额 financing balance (left)",
            line={"color": "#117a65"},
            hovertemplate="financing %{y:,.0f} 亿<extra></extra>",
        ),
        secondary_y=False,
    )
    fig.add_trace(
        go.Scatter(
            x=market["trade_date"],
            y=market["short_balance_cny"] / YI,
            name="融券余额 short balance (right)",
            line={"color": "#1f4e79"},
            hovertemplate="short %{y:,.2f} 亿<extra></extra>",
        ),
        secondary_y=True,
    )
    fig.update_yaxes(title_text="financing, 亿 CNY", secondary_y=False, rangemode="tozero")
    fig.update_xaxes(title_text="trading day")
    fig.update_yaxes(
        title_text="short, 亿 CNY",
        secondary_y=True,
        rangemode="tozero",
        showgrid=False,
        tickmode="auto",
    )
    return _style(fig, demo, height=420)


def basis_figure(data: ReportData, demo: bool) -> go.Figure:
    basis = data.basis
    fig = _subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        row_heights=[0.55, 0.45],
        subplot_titles=(
            "Annualised basis of the main contract (negative = discount 贴水)",
            "Open interest, all contracts of the variety",
        ),
    )
    colors = {"IF": "#1f77b4", "IH": "#2ca02c", "IC": "#ff7f0e", "IM": "#d62728"}
    for variety, rows in basis.groupby("variety", sort=True):
        name = VARIETY_NAMES.get(variety, variety)
        color = colors.get(variety)
        fig.add_trace(
            go.Scatter(
                x=rows["trade_date"],
                y=rows["annualized_basis_ratio"] * 100,
                name=name,
                legendgroup=variety,
                line={"color": color, "width": 1.5},
                customdata=list(
                    zip(rows["contract"], rows["basis_points"], rows["days_to_expiry"], strict=True)
                ),
                hovertemplate=(
                    f"{name} %{{customdata[0]}}: %{{y:.1f}}% p.a. "
                    "(%{customdata[1]:.1f} pts, %{customdata[2]} d)<extra></extra>"
                ),
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=rows["trade_date"],
                y=rows["variety_open_interest"],
                name=name,
                legendgroup=variety,
                showlegend=False,
                line={"color": color, "width": 1.5},
                hovertemplate=f"{name}: %{{y:,.0f}} contracts<extra></extra>",
            ),
            row=2,
            col=1,
        )
    fig.add_hline(y=0, line={"color": "#555", "width": 1}, row=1, col=1)
    fig.update_yaxes(title_text="% per year", row=1, col=1)
    fig.update_yaxes(title_text="contracts", rangemode="tozero", row=2, col=1)
    fig.update_xaxes(title_text="trading day", row=2, col=1)
    return _style(fig, demo, height=660, subplot_titles=True)


def industry_window_figure(data: ReportData, demo: bool) -> go.Figure:
    """Industries down, events across: short and financing balance changes side by side,
    each cell printing its value; the event's full title on hover."""
    grid = industry_window_grid(data.industry_windows, data.events)
    short, financing = grid["short"], grid["financing"]
    fig = _subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.03,
        subplot_titles=(
            "融券余额 short balance, % change",
            "融资余额 financing balance, % change",
        ),
    )
    hover = [
        [[_e(grid["industry_en"][r]), _e(grid["title"][c])] for c in short.columns]
        for r in short.index
    ]
    for col, values in enumerate((short, financing), start=1):
        limit = _symmetric_colour_limit(values) * 100
        fig.add_trace(
            go.Heatmap(
                z=values.to_numpy() * 100,
                x=list(values.columns),
                y=list(values.index),
                customdata=hover,
                zmid=0,
                zmin=-limit,
                zmax=limit,
                colorscale="RdBu_r",
                showscale=False,
                xgap=1,
                ygap=1,
                texttemplate="%{z:+.0f}%",
                textfont={"size": 11},
                hovertemplate=(
                    "%{y} %{customdata[0]}<br>event %{x}: %{customdata[1]}"
                    "<br>%{z:+.1f}% from the event day"
                    "<extra></extra>"
                ),
            ),
            row=1,
            col=col,
        )
    fig.update_yaxes(autorange="reversed", tickfont={"size": 11})
    fig.update_yaxes(title_text="SW L1 industry", row=1, col=1)
    fig.update_xaxes(side="bottom", tickangle=0, tickfont={"size": 11}, title_text="event")
    _style(fig, demo, height=max(360, 21 * len(short.index) + 130), subplot_titles=True)
    fig.update_layout(hovermode="closest", margin={"t": 50})  # no legend above the titles
    return fig


def event_window_figure(data: ReportData, demo: bool) -> go.Figure:
    """One line per event, named by its number and day as in the event list under the
    trend chart (titles on hover): a legend of full titles took half of a laptop's width."""
    windows = data.event_windows
    fig = go.Figure()
    palette = plotly.colors.qualitative.D3
    numbers = event_numbers(data.events)
    for event in data.events.itertuples(index=False):
        number = numbers[event.event_id]
        rows = windows[windows["event_id"] == event.event_id]
        if rows.empty:
            continue
        fig.add_trace(
            go.Scatter(
                x=rows["offset_trading_days"],
                y=rows["short_balance_change_from_event_ratio"] * 100,
                name=f"{number}. {_date(event.effective_trade_date)} "
                f"({event.short_selling_direction})",
                mode="lines",
                line={"color": palette[(number - 1) % len(palette)]},
                hovertemplate=(
                    f"<b>{number}. {_e(event.title_zh)}</b><br>"
                    "day %{x}: %{y:+.1f}%<extra></extra>"
                ),
            )
        )
    fig.add_vline(x=0, line={"color": "#555", "width": 1})
    fig.update_xaxes(title_text="trading days from the event's effective day")
    fig.update_yaxes(title_text="short balance vs event day, %")
    _style(fig, demo, height=460)
    fig.update_layout(hovermode="closest", margin={"t": 70})
    return fig


# ------------------------------------------------------------------------ page
def _key_figures(data: ReportData) -> str:
    row = data.latest
    ratio, start_ratio = row["short_to_float_ratio"], row["year_start_short_to_float_ratio"]
    times = ""
    if pd.notna(ratio) and pd.notna(start_ratio) and ratio > 0:
        factor = start_ratio / ratio
        times = (
            f"{factor:.1f}× smaller than at the year start"
            if factor >= 1
            else f"{1 / factor:.1f}× larger than at the year start"
        )
    # the industry card only where the industry mart is in the snapshot
    has_industry = data.industry_hhi is not None and data.industry_l1 is not None
    hhi = data.industry_hhi.iloc[-1]["hhi"] if has_industry and not data.industry_hhi.empty else None
    top_industry = (
        data.industry_l1.iloc[0] if has_industry and not data.industry_l1.empty else None
    )
    cards = [
        (
            "融券余额 short balance",
            f"{_num(row['short_balance_cny'], 1, YI)} 亿",
            f"on {_date(row['trade_date'])}; financing balance {_num(row['financing_balance_cny'], 0, YI)} 亿",
        ),
        (
            "年初至今 year to date",
            _pct(row["short_balance_ytd_change_ratio"], 1, signed=True),
            f"from {_num(row['year_start_short_balance_cny'], 1, YI)} 亿 on {_date(row['year_start_trade_date'])}",
        ),
        (
            "较峰值 from the peak",
            _pct(row["short_balance_drawdown_ratio"], 1, signed=True),
            f"peak {_num(row['peak_short_balance_cny'], 1, YI)} 亿 on {_date(row['peak_short_balance_date'])} "
            "(highest since the warehouse's first day)",
        ),
        (
            "占流通市值 share of float cap",
            _pct(ratio, 4),
            f"year start {_pct(start_ratio, 4)}" + (f"; {times}" if times else ""),
        ),
        (
            "行业集中度 industry HHI",
            _num(hhi, 3),
            (
                f"largest: {_e(top_industry['industry_name'])} "
                f"{_pct(top_industry['share_of_market_short_ratio'], 1)} of the market's short balance"
            )
            if top_industry is not None
            else "",
        ),
    ]
    return (
        "<div class='cards'>"
        + "".join(
            f"<div class='card'><div class='label'>{_e(label)}</div><div class='value'>{_e(value)}</div>"
            f"<div class='note'>{_e(note)}</div></div>"
            for label, value, note in cards
        )
        + "</div>"
    )


def _table(headers: list[str], rows: list[list[str]], numeric: set[int]) -> str:
    head = "".join(
        f"<th class='{'num' if i in numeric else ''}'>{h}</th>" for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(f"<td class='{'num' if i in numeric else ''}'>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _top_table(data: ReportData) -> str:
    rows = [
        [
            _e(r.rank),
            _e(r.security_name),
            f"<code>{_e(r.security_code)}</code>",
            f"{_e(r.sw_l2_name or '–')} <span class='muted'>({_e(r.sw_l1_name or '–')})</span>",
            _num(r.short_balance_cny, 2, YI),
            _pct(r.short_to_float_ratio, 2),
            _num(r.float_market_cap_cny, 1, YI),
        ]
        for r in data.top.itertuples(index=False)
    ]
    return _table(
        [
            "排名 Rank",
            "股票名称 Name",
            "股票代码 Code",
            "所属行业 SW industry (L2, L1)",
            "融券余额 Short balance (亿)",
            "占流通市值 % of float cap",
            "流通市值 Float cap (亿)",
        ],
        rows,
        numeric={0, 4, 5, 6},
    )


def _industry_table(data: ReportData) -> str:
    rows = [
        [
            f"{_e(r.industry_name)} <span class='muted'>{_e(r.industry_name_en)}</span>",
            _num(r.short_balance_cny, 2, YI),
            _pct(r.share_of_market_short_ratio, 1),
            _pct(r.short_to_float_ratio, 3),
            f"{r.securities_with_short_count} / {r.securities_count}",
            _num(r.short_hhi, 2),
            f"{_e(r.top_short_security_name or '–')} <code>{_e(r.top_short_security_code or '')}</code>",
        ]
        for r in data.industry_l2.itertuples(index=False)
    ]
    return _table(
        [
            "SW L2 industry",
            "Short balance (亿)",
            "Share of market",
            "Short / float cap",
            "Securities shorted",
            "HHI within industry",
            "Largest short position",
        ],
        rows,
        numeric={1, 2, 3, 4, 5},
    )


def _event_list(data: ReportData) -> str:
    items = "".join(
        f"<li><span class='dot' style='background:{DIRECTION_COLORS.get(e.short_selling_direction, '#7f8c8d')}'></span>"
        f"<b>{n}.</b> {_date(e.effective_trade_date)} <b>{_e(e.title_zh)}</b> "
        f"<span class='muted'>({_e(e.issuer)}; {_e(e.short_selling_direction)}"
        f"{'' if e.is_date_confirmed else '; date unconfirmed'})</span><br>"
        f"<span class='desc'>{_e(e.description_en)}</span></li>"
        for n, e in enumerate(data.events.itertuples(index=False), start=1)
    )
    return (
        f"<ol class='events'>{items}</ol>"
        if items
        else "<p class='muted'>No policy event falls within the data.</p>"
    )


def _basis_note(data: ReportData) -> str:
    if data.basis.empty:
        return ""
    last = data.basis[data.basis["trade_date"] == data.basis["trade_date"].max()]
    parts = [
        f"{_e(VARIETY_NAMES.get(r.variety, r.variety))} {_e(r.contract)}: "
        f"{_pct(r.annualized_basis_ratio, 1, signed=True)} p.a., {_num(r.variety_open_interest, 0)} contracts"
        for r in last.itertuples(index=False)
    ]
    return f"<p>On {_date(last['trade_date'].iloc[0])}: " + "; ".join(parts) + ".</p>"


def _signals_table(data: ReportData, signals: pd.DataFrame | None = None, empty: str = "") -> str:
    signals = data.signals if signals is None else signals
    if signals.empty:
        return f"<p class='muted'>{empty or 'No signal before it.'}</p>"
    rows = [
        [
            _date(r.trade_date),
            _e(r.security_name),
            f"<code>{_e(r.security_code)}</code>",
            _e(SIGNAL_NAMES.get(r.signal_type, r.signal_type)),
            _pct(r.close_change_1d_ratio, 2, signed=True) + (" 涨停" if r.is_limit_up else ""),
            _signal_value(r.signal_type, r.value),
            _signal_value(r.signal_type, r.threshold),
        ]
        for r in signals.head(SIGNAL_ROWS).itertuples(index=False)
    ]
    return _table(
        ["异动日期 Day", "股票名称 Name", "股票代码 Code", "信号 Signal", "涨跌幅 Change",
         "数值 Value", "阈值 Threshold"],
        rows,
        numeric={4, 5, 6},
    )  # fmt: skip


def _signal_counts(data: ReportData) -> str:
    counts = data.signals_today
    if not counts:
        return "No signal"
    return ", ".join(
        f"{counts[kind]} {_e(SIGNAL_NAMES[kind])}" for kind in SIGNAL_NAMES if kind in counts
    )


def _signal_value(signal_type: str, value) -> str:
    """Balances in 亿, short volumes in shares, ratios in percent."""
    if signal_type.startswith("financing_") and signal_type.endswith("high") and "float" not in signal_type:
        return _num(value, 2, YI, " 亿")
    if signal_type == "short_removed":
        return _num(value, 0, 1, " shares")
    return _pct(value, 1)


def _eligibility_table(data: ReportData) -> str:
    if data.eligibility.empty:
        return "<p class='muted'>The margin-eligible lists have not changed since the warehouse's first day.</p>"
    rows = [
        [
            _date(r.trade_date),
            _e(r.security_name or "–"),
            f"<code>{_e(r.security_code)}</code>",
            _e(r.exchange),
            _e(EVENT_NAMES.get(r.event_type, r.event_type)),
        ]
        for r in data.eligibility.head(SIGNAL_ROWS).itertuples(index=False)
    ]
    return _table(["日期 Day", "名称 Name", "代码 Code", "交易所 Exchange", "变动 Change"], rows, set())


def _by_exchange_table(data: ReportData) -> str:
    if data.by_exchange.empty:
        return "<p class='muted'>No exchange totals on this day.</p>"
    rows = [
        [
            _e(r.exchange),
            _num(r.published_financing_balance_cny, 2, YI),
            _num(r.published_short_balance_cny, 2, YI),
            _num(r.published_margin_total_cny, 2, YI),
            _pct(r.published_short_balance_cny / r.published_margin_total_cny
                 if r.published_margin_total_cny else None, 2),  # fmt: skip
            _num(r.securities_count, 0),
            _num(r.securities_with_short_count, 0),
            _pct(r.financing_balance_difference_ratio, 2, signed=True),
        ]
        for r in data.by_exchange.itertuples(index=False)
    ]
    return _table(
        ["交易所 Exchange", "融资余额 Financing (亿)", "融券余额 Short (亿)",
         "融资融券余额 Total (亿)", "融券占比 Short share", "标的 Securities",
         "有融券 With short", "明细-汇总 Detail vs published"],
        rows,
        numeric={1, 2, 3, 4, 5, 6, 7},
    )  # fmt: skip


def _days_to_cover_table(data: ReportData) -> str:
    if data.days_to_cover.empty:
        return "<p class='muted'>No security has a days-to-cover figure on this day.</p>"
    rows = [
        [
            _e(r.security_name or "–"),
            f"<code>{_e(r.security_code)}</code>",
            _e(r.exchange),
            _e(r.sw_l1_name or "–"),
            _num(r.days_to_cover, 1),
            _num(r.short_volume_shares, 0),
            _num(r.short_balance_cny, 2, YI),
            _pct(r.short_to_float_ratio, 3),
        ]
        for r in data.days_to_cover.itertuples(index=False)
    ]
    return _table(
        ["名称 Name", "代码 Code", "交易所 Exchange", "SW L1", "回补天数 Days to cover",
         "融券余量 Short volume", "融券余额 Short (亿)", "融券/流通市值 Short / float"],
        rows,
        numeric={4, 5, 6, 7},
    )  # fmt: skip


def repayment_reading(rate, alert) -> str:
    """What a day's repayment rate (偿还率, repayments / buys) says: which side of the
    common alert line it is on, and whether investors paid down more financing than
    they took on (the balance shrinks) or less (it grows)."""
    if rate is None or pd.isna(rate):
        return "–"
    if alert is None or pd.isna(alert):
        line = "no alert line in reference.signal_thresholds"
    elif rate > alert:
        line = f"above the alert line ({_pct(alert, 0)}): alert"
    else:
        line = f"below the alert line ({_pct(alert, 0)}): no alert"
    if rate > 1:
        flow = "more repaid than borrowed, the financing balance shrinks (deleveraging)"
    elif rate < 1:
        flow = "less repaid than borrowed, the financing balance grows"
    else:
        flow = "as much repaid as borrowed"
    return f"{line}; {flow}"


def days_above(values: pd.Series, line) -> str:
    """How many of the days with a value are above `line`: whether a line that is
    crossed today is crossed on most days anyway."""
    known = values.dropna()
    if line is None or pd.isna(line) or known.empty:
        return ""
    return f"above it on {int((known > line).sum())} of {len(known)} days"


def _leverage_table(data: ReportData) -> str:
    if data.leverage.empty:
        return "<p class='muted'>No leverage figures.</p>"
    last = data.leverage.iloc[-1]
    t = data.thresholds
    repay_alert = t.get("repay_to_buy_alert_ratio")
    repay_history = days_above(data.leverage["financing_repay_to_buy_ratio"], repay_alert)
    rows = [
        ["融资买入占比 Financing buys / turnover", _pct(last.financing_buy_to_turnover_ratio, 1), ""],
        ["偿还率 Repayments / buys", _pct(last.financing_repay_to_buy_ratio, 1),
         _e(repayment_reading(last.financing_repay_to_buy_ratio, repay_alert))
         + (f" <span class='muted'>({_e(repay_history)})</span>" if repay_history else "")],
        ["平均维持担保比例 Average maintenance ratio", _pct(last.avg_maintenance_ratio, 1),
         f"liquidation line {_pct(t.get('maintenance_ratio_liquidation'), 0)}, "
         f"comfort above {_pct(t.get('maintenance_ratio_comfort'), 0)}"],
        ["担保物总价值 Collateral (亿)", _num(last.collateral_value_cny, 1, YI), ""],
        ["有负债投资者 Investors with margin debt", _num(last.investors_with_debt_count, 0), ""],
        ["两融余额/流通市值 Margin / float cap", _pct(last.margin_to_float_ratio, 2), ""],
        ["融资余额波动率 Financing balance volatility (20 days)",
         _pct(last.financing_balance_change_volatility_20d_ratio, 2), ""],
    ]  # fmt: skip
    return _table(
        [f"On {_date(last.trade_date)}", "Value", "Threshold and what it means"], rows, {1}
    )


def _reference_line(fig: go.Figure, ratio, label: str, color: str, row: int) -> None:
    """A dotted horizontal line at `ratio` (a fraction) in subplot `row`, labelled at its
    right end; nothing when the threshold is not in the snapshot."""
    if ratio is None or pd.isna(ratio):
        return
    fig.add_hline(
        y=ratio * 100,
        line={"dash": "dot", "color": color, "width": 1},
        annotation_text=f"{label} {_pct(ratio, 0)}",
        annotation_position="top right",
        annotation_font={"size": 11, "color": color},
        row=row,
        col=1,
    )


def leverage_figure(data: ReportData, demo: bool) -> go.Figure:
    """One indicator per panel, each on its own axis in percent, with the thresholds it
    is read against."""
    lev, t = data.leverage, data.thresholds
    fig = _subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.1,
        subplot_titles=(
            "平均维持担保比例 average maintenance ratio (Eastmoney)",
            "偿还率 repayment rate: financing repaid / financing bought that day",
            "融资买入占比 financing buys / turnover",
        ),
    )
    panels = (
        ("avg_maintenance_ratio", "maintenance ratio", "#1f4e79", "maintenance, %"),
        ("financing_repay_to_buy_ratio", "repayment rate", "#8e44ad", "repaid / bought, %"),
        ("financing_buy_to_turnover_ratio", "buys / turnover", "#117a65", "of turnover, %"),
    )
    for row, (column, name, color, axis_title) in enumerate(panels, start=1):
        fig.add_trace(
            go.Scatter(
                x=lev["trade_date"],
                y=lev[column] * 100,
                name=name,
                mode="lines",
                line={"color": color, "width": 1.5},
                showlegend=False,
                hovertemplate=f"{name} %{{y:.1f}}%<extra></extra>",
            ),
            row=row,
            col=1,
        )
        fig.update_yaxes(title_text=axis_title, ticksuffix="%", tickformat=",.0f", nticks=6,
                         row=row, col=1)  # fmt: skip
    _reference_line(fig, t.get("maintenance_ratio_liquidation"), "liquidation", "#c0392b", 1)
    _reference_line(fig, t.get("maintenance_ratio_comfort"), "comfort", "#e67e22", 1)
    _reference_line(fig, t.get("repay_to_buy_alert_ratio"), "alert line", "#c0392b", 2)
    # repayments equal to buys leave the financing balance where it was
    _reference_line(fig, 1.0, "balance unchanged", "#555", 2)
    fig.update_xaxes(title_text="trading day", row=3, col=1)
    _style(fig, demo, height=760, subplot_titles=True)
    fig.update_layout(margin={"t": 50})  # no legend above the titles
    return fig


CSS = """
body { font-family: __FONT__; margin: 0; color: #222; background: #fafafa; }
main { max-width: 1280px; margin: 0 auto; padding: 16px 28px 48px; }
h1 { font-size: 26px; margin: 18px 0 4px; } h2 { font-size: 20px; margin: 34px 0 8px;
  border-bottom: 2px solid #1f4e79; padding-bottom: 4px; }
.demo { position: sticky; top: 0; z-index: 10; background: #b71c1c; color: #fff; padding: 10px 28px;
  font-weight: 700; letter-spacing: .02em; box-shadow: 0 2px 6px rgba(0,0,0,.25); }
.meta, .muted { color: #666; font-size: 13px; } .desc { color: #555; font-size: 13px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); gap: 12px; }
.card { background: #fff; border: 1px solid #ddd; border-radius: 8px; padding: 12px 14px; }
.card .label { font-size: 13px; color: #555; } .card .value { font-size: 28px; font-weight: 700;
  color: #1f4e79; margin: 4px 0; } .card .note { font-size: 12px; color: #666; }
.figure { background: #fff; border: 1px solid #ddd; border-radius: 8px; padding: 6px; }
table { border-collapse: collapse; width: 100%; background: #fff; font-size: 14px; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 6px 10px; text-align: left; }
th { background: #eef3f8; font-weight: 600; } td.num, th.num { text-align: right;
  font-variant-numeric: tabular-nums; } tbody tr:hover { background: #f6f9fc; }
ol.events { padding-left: 0; list-style: none; } ol.events li { margin: 6px 0; }
.missing { background: #fff4e5; border-left: 4px solid #e67e22; padding: 8px 12px; }
.dot { display: inline-block; width: 10px; height: 10px; border-radius: 50%; margin-right: 6px; }
code { font-size: 13px; } footer { margin-top: 40px; color: #666; font-size: 12px; }
""".replace("__FONT__", FONT)


def _mart_note(data: ReportData, mart: str) -> str:
    """Why `mart` has no current data, from the snapshot's main.mart_freshness."""
    status = data.mart_status(mart)
    if status is None:
        return "not in this snapshot" if mart not in data.marts else "stale"
    return _e(status.get("status") or ("not built" if status.get("is_missing") else "stale"))


def _view(data: ReportData, key: str, anchor: str, body) -> list[str]:
    """A view's title and content; in place of the content, what is missing and why when
    a mart it reads is not in the snapshot; above it, since when a stale mart stops."""
    head = f"<h2 id='{anchor}'>{_e(VIEW_TITLES[key])}</h2>"
    missing = data.missing_marts(key)
    if missing:
        items = "; ".join(f"<code>marts.{_e(m)}</code> {_mart_note(data, m)}" for m in missing)
        return [
            head,
            f"<p class='missing'>⚠ Not shown: {items}. The snapshot was published without "
            "it; the other views are drawn from the marts that were built.</p>",
        ]
    stale = []
    for mart in VIEW_MARTS.get(key, ()):
        status = data.mart_status(mart)
        if status is not None and status.get("is_stale"):
            stale.append(f"<code>marts.{_e(mart)}</code> {_mart_note(data, mart)}")
    note = (
        [f"<p class='missing'>⚠ Stale: {'; '.join(stale)}. This view stops there.</p>"]
        if stale
        else []
    )
    return [head, *note, *body()]


def missing_views(data: ReportData) -> tuple[str, ...]:
    """The views whose mart is not in the snapshot."""
    return tuple(key for key in VIEW_MARTS if data.missing_marts(key))


def _banners(data: ReportData, demo: bool, data_label: str | None) -> str:
    banner = (
        f"<div class='demo'>⚠ {_e(data_label or 'SYNTHETIC DEMO DATA')}. Every number and "
        "name on this page is generated by the demo source: do not draw conclusions from it.</div>"
        if demo
        else ""
    )
    if len(data.stale):
        items = "; ".join(
            f"{_e(r.dataset)} since {_date(r.stale_since)} (last day loaded {_date(r.last_trade_date)})"
            for r in data.stale.itertuples()
        )
        banner += (
            f"<div class='demo'>⚠ Stale data: {items}. Its source was down or refused at the "
            "last refresh; the views that read it stop there, the others are current.</div>"
        )
    if data.missing_symbols is not None and len(data.missing_symbols):
        per_dataset = data.missing_symbols.groupby("dataset", sort=True)
        items = "; ".join(
            f"{_e(dataset)}: {', '.join(_e(s) for s in rows['symbol'])} "
            f"(missing since {_date(rows['first_missing_day'].min())})"
            for dataset, rows in per_dataset
        )
        banner += (
            f"<div class='demo'>⚠ Symbols that could not load: {items}. The views leave "
            "them out (see the data freshness table at the end).</div>"
        )
    recorded = set()
    if data.mart_freshness is not None and len(data.mart_freshness):
        recorded = set(data.mart_freshness.loc[data.mart_freshness["is_missing"], "mart"])
    viewed = {m for marts in VIEW_MARTS.values() for m in marts}
    not_built = sorted(recorded | {m for m in viewed if m not in data.marts})
    if not_built:
        items = "; ".join(f"marts.{_e(m)} {_mart_note(data, m)}" for m in not_built)
        banner += (
            f"<div class='demo'>⚠ Not in this snapshot: {items}. The views that read it say "
            "so; the others are published.</div>"
        )
    behind = [] if data.mart_freshness is None else [
        r for r in data.mart_freshness.to_dict("records") if r["is_stale"] and not r["is_missing"]
    ]  # fmt: skip
    if behind:
        items = "; ".join(f"marts.{_e(r['mart'])} {_e(r['status'])}" for r in behind)
        banner += f"<div class='demo'>⚠ Stale marts: {items}. Their views say so.</div>"
    return banner


def _freshness_tables(data: ReportData) -> str:
    """Every dataset and every mart: last day, stale since, symbols that could not load."""
    parts = []
    if data.datasets is not None and len(data.datasets):
        rows = []
        for r in data.datasets.to_dict("records"):
            count = r.get("missing_symbol_count") or 0
            rows.append([
                f"<code>{_e(r['dataset'])}</code>",
                _date(r["last_trade_date"]),
                f"stale since {_date(r['stale_since'])}" if r["is_stale"] else "current",
                f"{count}: {_e(r.get('missing_symbols'))}" if count else "–",
                f"<span class='muted'>{_e(r.get('rule') or r.get('freshness_rule') or '')}</span>",
            ])  # fmt: skip
        parts.append(
            "<p>Raw datasets (main.dataset_freshness):</p>"
            + _table(["Dataset", "Last day loaded", "Status", "Symbols not loaded",
                      "Stale when"], rows, set())  # fmt: skip
        )
    if data.mart_freshness is not None and len(data.mart_freshness):
        rows = [
            [
                f"<code>marts.{_e(r['mart'])}</code>",
                _date(r["last_trade_date"]),
                "not built" if r["is_missing"] else ("stale" if r["is_stale"] else "current"),
                _date(r["stale_since"]) if r["is_stale"] else "–",
                _e(r.get("status")),
            ]
            for r in data.mart_freshness.to_dict("records")
        ]
        parts.append(
            "<p>Marts (main.mart_freshness):</p>"
            + _table(["Mart", "Last day", "Status", "Since", "Why"], rows, set())
        )
    return "".join(parts) or "<p class='muted'>This snapshot records no freshness tables.</p>"


def render_report(data: ReportData, *, source: str, data_label: str | None = None) -> str:
    """The whole page as one string: plotly.js inlined once, no external resource."""
    demo = source == "demo"
    latest_day = _date(data.last_day)
    first = {"done": False}

    def figure_html(draw) -> str:
        fig = draw(data, demo)
        include = not first["done"]  # plotly.js inlined once, with the first chart
        first["done"] = True
        return (
            "<div class='figure'>"
            + fig.to_html(
                full_html=False,
                include_plotlyjs=include,
                config={"displaylogo": False, "responsive": True},
            )
            + "</div>"
        )

    published = data.info.get("published_at_utc")
    banner = _banners(data, demo, data_label)
    sections = [
        *_view(data, "key_figures", "key-figures", lambda: [_key_figures(data)]),
        *_view(data, "trend", "trend", lambda: [
            "<p>Whole market (SSE + SZSE + BSE), summed from the per-security detail. Numbered "
            "markers: policy events on their first effective trading day (red tightens short "
            "selling, green loosens it, grey neutral).</p>",
            figure_html(trend_figure),
            _event_list(data),
        ]),
        *_view(data, "top_securities", "top-securities", lambda: [
            f"<p>On {latest_day}, the {len(data.top)} securities with the highest short balance / "
            "float market cap (融券余额 / 流通市值). Industry: Shenwan 2021 as of that day.</p>",
            _top_table(data),
        ]),
        *_view(data, "by_exchange", "by-exchange", lambda: [
            f"<p>On {latest_day}, each exchange's published totals (marts.fct_market_margin_daily; "
            "SZSE publishes in 亿, BSE in 万, converted to CNY), and how far the sum of its "
            "per-security detail is from its published financing balance.</p>",
            _by_exchange_table(data),
        ]),
        *_view(data, "days_to_cover", "days-to-cover", lambda: [
            f"<p>On {latest_day}, the {len(data.days_to_cover)} securities whose short volume "
            "would take the longest to buy back at their average daily volume "
            "(days_to_cover in marts.fct_balance_to_float; its window in "
            "reference.signal_thresholds).</p>",
            _days_to_cover_table(data),
        ]),
        *_view(data, "industry", "industry", lambda: [
            "<p>Left: each SW level-1 industry's share of the market's short balance on the "
            "latest day (hover: its HHI across its own securities, its largest position). Right: "
            "HHI of the short balance across SW L1 industries (Σ share², 1 = all in one "
            "industry) and the top three industries' combined share, per day.</p>",
            figure_html(industry_figure),
            f"<p>The SW level-2 industries with the largest short balances on {latest_day}:</p>",
            _industry_table(data),
        ]),
        *_view(data, "financing", "financing", lambda: [
            "<p>Financing balance (left axis) and short balance (right axis), whole market, "
            "亿 CNY.</p>",
            figure_html(financing_figure),
        ]),
        *_view(data, "basis", "basis", lambda: [
            "<p>CFFEX equity-index futures: the main contract (largest open interest) of each "
            "variety against its spot index; annualised basis = (futures − spot) / spot × 365 / "
            "days to expiry. Deepening discounts with rising open interest are where short "
            "demand can go once 融券 is curbed.</p>",
            figure_html(basis_figure),
            _basis_note(data),
        ]),
        *_view(data, "event_windows", "event-windows", lambda: [
            "<p>Market short balance from 20 trading days before to 20 after each event, as a "
            "change from the event day; events numbered as in the list under the trend chart "
            "(hover a line for its title).</p>",
            figure_html(event_window_figure),
        ]),
        *_view(data, "event_windows_by_industry", "event-windows-by-industry", lambda: [
            "<p>Each SW level-1 industry's short and financing balances at the end of each "
            "event's window (up to 20 trading days after; fewer where the data stop, shown "
            "beside the day), as a change from the event day. Columns are the events as "
            "numbered under the trend chart; red rises, blue falls.</p>",
            figure_html(industry_window_figure)
            if not data.industry_windows.empty
            else "<p class='muted'>No policy event falls within the data.</p>",
        ]),
        *_view(data, "signals", "signals", lambda: [
            f"<p>{_signal_counts(data)} on {latest_day} (marts.fct_margin_signal; thresholds "
            "and their sources in reference.signal_thresholds). Signals are information for "
            "analysts, not checks.</p>",
            _signals_table(data, data.signals_latest_day, f"No signal on {latest_day}."),
            f"<h3>Signal history 信号历史: the latest {SIGNAL_ROWS_PER_TYPE} of each kind before "
            f"{latest_day}</h3>",
            _signals_table(data),
        ]),
        *_view(data, "eligibility", "eligibility", lambda: [
            f"<p>The latest {SIGNAL_ROWS} changes of the margin-eligible lists, newest first, "
            "whatever their date (SZSE and BSE publish their lists; SSE's is derived from its "
            "margin detail).</p>",
            _eligibility_table(data),
        ]),
        *_view(data, "leverage", "leverage", lambda: [
            "<p>The common margin-monitoring indicators (核心监测指标): the average maintenance ratio (Eastmoney's "
            "account statistics) against the liquidation line and the comfort level; the "
            "repayment rate (偿还率) against the common alert line, which flags investors "
            "repaying more of their financing than that share of what they borrow the same "
            "day. Measured against the same day's buys, repayments usually run close to them, "
            "so the line is crossed on most days (the table counts them): the rate says more "
            "against repayments matching buys, above which the financing balance shrinks. "
            "Then financing buys as a share of turnover. Lines and levels from "
            "reference.signal_thresholds.</p>",
            _leverage_table(data),
            figure_html(leverage_figure),
        ]),
        f"<h2 id='freshness'>{_e(VIEW_TITLES['freshness'])}</h2>",
        _freshness_tables(data),
    ]  # fmt: skip
    first_day = _date(data.market["trade_date"].iloc[0]) if data.market is not None else "–"
    meta = (
        f"Data {first_day} … {latest_day} · source <b>{_e(source)}</b>"
        + (f" · snapshot published {_e(published)} UTC" if published is not None else "")
        + " · built from marts.* of the published snapshot (margin_warehouse.duckdb)"
    )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>Short-selling monitor 融券余额监测 — {latest_day}</title>"
        f"<style>{CSS}</style></head><body>{banner}<main>"
        f"<h1>Short-selling monitor 融券余额监测 — {latest_day}</h1>"
        f"<p class='meta'>{meta}</p>"
        + "\n".join(sections)
        + "<footer>Balances in 亿 CNY (1 亿 = 100 million yuan). SSE short balances are short "
        "volume × close. Query the same numbers with the SQL in queries/ against the published "
        "snapshot; see docs/bi/README.md.</footer>"
        "</main></body></html>\n"
    )


def write_report(
    snapshot: Path, publish_dir: Path, *, source: str, data_label: str | None = None
) -> ReportResult:
    """Render the report from the snapshot (read-only) into <publish_dir>/report.html,
    written to a temporary file and renamed into place."""
    started = time.perf_counter()
    with duckdb.connect(str(snapshot), read_only=True) as con:
        data = load_report_data(con)
    page = render_report(data, source=source, data_label=data_label)
    publish_dir = Path(publish_dir)
    target = publish_dir / REPORT_NAME
    tmp = publish_dir / f".{REPORT_NAME}.{os.getpid()}.tmp"
    remove_stale_temporaries(publish_dir, f".{REPORT_NAME}.*.tmp")
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return ReportResult(
        path=target,
        size_bytes=target.stat().st_size,
        last_trade_date=data.last_day,
        seconds=time.perf_counter() - started,
        missing_views=missing_views(data),
    )
