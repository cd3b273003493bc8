"""The raw contract: what each akshare function returns, and how it is called.

One row of `DATASETS` per akshare function. The raw table in DuckDB is named after the
function (`raw.stock_margin_detail_sse`) and keeps the source's own column names, typed;
the loader adds `trade_date`, the request columns (e.g. `symbol`) and load metadata.
Everything that differs between exchanges or datasets lives in this table, not in code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# code: a 6-digit security code, zero-padded on arrival (older SZSE files return ints)
ColumnKind = Literal["text", "code", "number", "date"]
# How one dataset is called for a window of trading days:
#   per_day          one call per trading day:         f(date="YYYYMMDD")
#   range            one call for the whole window:    f(start_date=, end_date=)
#   per_symbol_range one call per symbol and window:   f(symbol=, start_date=, end_date=)
#   per_symbol_full  one call per symbol, full history f(symbol=)   (filtered to the window)
#   static           one call, no date                 f()          (unpartitioned)
#   snapshot         one call, no arguments, answering for the trading day whose close it
#                    shows when called (a post-close snapshot); see closing_snapshot_day
CallPattern = Literal[
    "per_day", "range", "per_symbol_range", "per_symbol_full", "static", "snapshot"
]


@dataclass(frozen=True)
class Column:
    name: str  # exactly as akshare returns it
    kind: ColumnKind
    unit: str = (
        ""  # as published: CNY, 100m_CNY (亿元), shares, 100m_shares, contracts, index_points
    )
    # Unit check: the median of the non-zero values must fall in this range, so a
    # column that switches from 元 to 亿元 (or 股 to 万股) is refused, not loaded.
    plausible_median: tuple[float, float] | None = None
    signed: bool = False  # changes and P/E ratios may be negative; balances may not


@dataclass(frozen=True)
class Dataset:
    function: str  # akshare function name; also the raw table name
    description: str
    call: CallPattern
    columns: tuple[Column, ...]
    key: tuple[str, ...]  # unique within one trading day (plus request columns)
    date_column: str | None = None  # None: the trade date comes from the request
    fixed_kwargs: dict[str, str] = field(default_factory=dict)
    request_columns: tuple[str, ...] = ()  # request arguments kept as columns (symbol)
    every_trading_day: bool = True  # a trading day with no rows is an error

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def partitioned(self) -> bool:
        return self.call != "static"


def _num(name: str, unit: str, plausible: tuple[float, float] | None = None) -> Column:
    return Column(name, "number", unit, plausible)


def _signed(name: str, unit: str) -> Column:
    return Column(name, "number", unit, signed=True)


# Per-security margin detail. SZSE and BSE publish the same table (no date column, short
# balance in CNY); SSE publishes repayments but no short balance in CNY.
_DETAIL_SZSE_LIKE = (
    Column("证券代码", "code"),
    Column("证券简称", "text"),
    _num("融资买入额", "CNY"),
    _num("融资余额", "CNY", (1e4, 1e11)),
    _num("融券卖出量", "shares"),
    _num("融券余量", "shares"),
    _num("融券余额", "CNY"),
    _num("融资融券余额", "CNY", (1e4, 1e11)),
)
_SUMMARY_SZSE_LIKE = (
    "融资买入额",
    "融资余额",
    "融券卖出量",
    "融券余量",
    "融券余额",
    "融资融券余额",
)

DATASETS: dict[str, Dataset] = {
    d.function: d
    for d in (
        Dataset(
            function="tool_trade_date_hist_sina",
            description="SSE trading calendar (Sina), every trading day since 1990.",
            call="static",
            columns=(Column("trade_date", "date"),),
            key=("trade_date",),
        ),
        Dataset(
            function="stock_industry_clf_hist_sw",
            description="Shenwan 2021 industry classification history, point-in-time.",
            call="static",
            columns=(
                Column("symbol", "code"),
                Column("start_date", "date"),
                Column("industry_code", "text"),
                Column("update_time", "date"),
            ),
            key=("symbol", "start_date"),
        ),
        Dataset(
            function="stock_margin_detail_sse",
            description="SSE margin detail per security and day (融资融券明细).",
            call="per_day",
            columns=(
                Column("信用交易日期", "date"),
                Column("标的证券代码", "code"),
                Column("标的证券简称", "text"),
                _num("融资余额", "CNY", (1e4, 1e11)),
                _num("融资买入额", "CNY"),
                _num("融资偿还额", "CNY"),
                _num("融券余量", "shares"),
                _num("融券卖出量", "shares"),
                _num("融券偿还量", "shares"),
            ),
            key=("标的证券代码",),
            date_column="信用交易日期",
        ),
        Dataset(
            function="stock_margin_detail_szse",
            description="SZSE margin detail per security and day; no date column.",
            call="per_day",
            columns=_DETAIL_SZSE_LIKE,
            key=("证券代码",),
        ),
        Dataset(
            function="stock_margin_detail_bse",
            description="BSE margin detail per security and day; no date column.",
            call="per_day",
            columns=_DETAIL_SZSE_LIKE,
            key=("证券代码",),
        ),
        Dataset(
            function="stock_margin_sse",
            description="SSE margin totals per day (融资融券汇总), in CNY and shares.",
            call="range",
            columns=(
                Column("信用交易日期", "date"),
                _num("融资余额", "CNY", (1e9, 1e13)),
                _num("融资买入额", "CNY"),
                _num("融券余量", "shares"),
                _num("融券余量金额", "CNY"),
                _num("融券卖出量", "shares"),
                _num("融资融券余额", "CNY", (1e9, 1e13)),
            ),
            key=(),
            date_column="信用交易日期",
        ),
        Dataset(
            function="stock_margin_szse",
            description="SZSE margin totals per day, in 亿 (100 million) CNY and shares.",
            call="per_day",
            columns=tuple(
                _num(n, "100m_shares" if n.endswith("量") else "100m_CNY")
                if n not in ("融资余额", "融资融券余额")
                else _num(n, "100m_CNY", (1e1, 1e5))
                for n in _SUMMARY_SZSE_LIKE
            ),
            key=(),
        ),
        Dataset(
            function="stock_margin_bse",
            description="BSE margin totals per day, in CNY and shares.",
            call="per_day",
            columns=tuple(
                _num(n, "shares" if n.endswith("量") else "CNY")
                if n not in ("融资余额", "融资融券余额")
                else _num(n, "CNY", (1e6, 1e12))
                for n in _SUMMARY_SZSE_LIKE
            ),
            key=(),
        ),
        Dataset(
            function="stock_zh_a_daily",
            description="Unadjusted daily quotes with float shares (Sina), per security.",
            call="per_symbol_range",
            columns=(
                Column("date", "date"),
                _num("open", "CNY"),
                _num("high", "CNY"),
                _num("low", "CNY"),
                _num("close", "CNY", (0.1, 1e4)),
                _num("volume", "shares"),
                _num("amount", "CNY"),
                _num("outstanding_share", "shares", (1e6, 1e12)),
                _num("turnover", "ratio"),
            ),
            key=("symbol",),
            date_column="date",
            fixed_kwargs={"adjust": ""},
            request_columns=("symbol",),
        ),
        Dataset(
            function="stock_zh_a_spot_em",
            description="Post-close snapshot of every A share (Eastmoney), one call a day: "
            "the daily path's close and float market cap, instead of one Sina call per security.",
            call="snapshot",
            columns=(
                _num("序号", "ordinal"),
                Column("代码", "code"),
                Column("名称", "text"),
                _num("最新价", "CNY", (0.1, 1e4)),  # after the close: the close; NaN if suspended
                _signed("涨跌幅", "percent"),
                _signed("涨跌额", "CNY"),
                _num("成交量", "lots"),  # 手 = 100 shares
                _num("成交额", "CNY"),
                _num("振幅", "percent"),
                _num("最高", "CNY"),
                _num("最低", "CNY"),
                _num("今开", "CNY"),
                _num("昨收", "CNY"),
                _num("量比", "ratio"),
                _num("换手率", "percent"),
                _signed("市盈率-动态", "ratio"),
                _signed("市净率", "ratio"),
                _num("总市值", "CNY", (1e7, 1e13)),
                _num("流通市值", "CNY", (1e7, 1e13)),
                _signed("涨速", "percent"),
                _signed("5分钟涨跌", "percent"),
                _signed("60日涨跌幅", "percent"),
                _signed("年初至今涨跌幅", "percent"),
            ),
            key=("代码",),
        ),
        Dataset(
            function="stock_zh_index_daily",
            description="Spot index daily bars (Sina): CSI 300, SSE 50, CSI 500, CSI 1000.",
            call="per_symbol_full",
            columns=(
                Column("date", "date"),
                _num("open", "index_points"),
                _num("high", "index_points"),
                _num("low", "index_points"),
                _num("close", "index_points", (100, 1e5)),
                _num("volume", "shares"),
            ),
            key=("symbol",),
            date_column="date",
            request_columns=("symbol",),
        ),
        Dataset(
            function="get_futures_daily",
            description="CFFEX futures daily bars per contract (options already dropped).",
            call="range",
            columns=(
                Column("symbol", "text"),
                Column("date", "date"),
                _num("open", "index_points"),
                _num("high", "index_points"),
                _num("low", "index_points"),
                _num("close", "index_points", (50, 1e5)),
                _num("volume", "contracts"),
                _num("open_interest", "contracts"),
                _num("turnover", "10k_CNY"),
                _num("settle", "index_points"),
                _num("pre_settle", "index_points"),
                Column("variety", "text"),
            ),
            key=("symbol",),
            date_column="date",
            fixed_kwargs={"market": "CFFEX"},
        ),
    )
}

# Spot indices of the four CFFEX equity-index futures.
SPOT_INDEX_SYMBOLS = {
    "IF": "sh000300",
    "IH": "sh000016",
    "IC": "sh000905",
    "IM": "sh000852",
}

MARGIN_DETAIL_FUNCTIONS = (
    "stock_margin_detail_sse",
    "stock_margin_detail_szse",
    "stock_margin_detail_bse",
)


def sina_symbol(security_code: str) -> str:
    """'600000' -> 'sh600000'; '000001'/'300750' -> 'sz…'; BSE (4…, 8…, 92…) -> 'bj…'."""
    code = security_code.strip()
    if len(code) != 6 or not code.isdigit():
        raise ValueError(f"expected a 6-digit security code, got {security_code!r}")
    if code[0] in "569":
        return "sh" + code if not code.startswith("92") else "bj" + code
    if code[0] in "48":
        return "bj" + code
    return "sz" + code


@dataclass(frozen=True)
class Exchange:
    name: str
    detail_function: str
    summary_function: str
    summary_cny_per_unit: float  # SZSE publishes totals in 亿 (1e8) CNY


EXCHANGES = (
    Exchange("SSE", "stock_margin_detail_sse", "stock_margin_sse", 1.0),
    Exchange("SZSE", "stock_margin_detail_szse", "stock_margin_szse", 1e8),
    Exchange("BSE", "stock_margin_detail_bse", "stock_margin_bse", 1.0),
)
