"""The raw contract: what each akshare function returns, and how it is called.

One row of `DATASETS` per akshare function. The raw table in DuckDB is named after the
function (`raw.stock_margin_detail_sse`) and keeps the source's own column names, typed;
the loader adds `trade_date`, the request columns (e.g. `symbol`) and load metadata.
Everything that differs between exchanges or datasets lives in this table, not in code.

Every entry was read against akshare 1.19.5's own source: the comment above it names the
akshare file and function, what the function asks the site for, and how it builds the
frame (in particular where it assigns column names by position, so that a reordering at
the site would mislabel silently). Units are those akshare returns, which are the site's:
akshare converts none of them. `tests/test_akshare_http.py` runs akshare's own parsing
on site-shaped responses against this table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Literal

import numpy as np
import pandas as pd

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
class ArrivalUnit:
    """A unit a column may arrive in other than its own, where the sources disagree (akshare's
    docs say 名, public loaders of the same report store 万名): which one arrived is told by
    the frame's median, and the values are converted to the column's own unit on arrival."""

    unit: str  # e.g. 10k_persons (万名)
    to_column_unit: float  # one of this unit in the column's unit: 1e4 persons per 万名
    plausible_median: tuple[float, float]  # the median of the non-zero values, in this unit


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
    # Published in every row (a margin list's financing figures, an exchange's totals): a
    # blank or '-' there refuses the frame rather than loading NULL, which the marts
    # would sum as nothing, or fail a test on only after they were rebuilt with it.
    in_every_row: bool = False
    # Other units the column may arrive in (a disputed unit), each told apart by its own
    # plausible median; the raw table holds `unit`. The ranges must not overlap, or a
    # median could not say which unit arrived.
    also_arrives_in: tuple[ArrivalUnit, ...] = ()

    def __post_init__(self) -> None:
        if not self.also_arrives_in:
            return
        if self.kind != "number" or self.plausible_median is None:
            raise ValueError(
                f"column {self.name!r}: a column that may arrive in other units needs kind "
                f"'number' and a plausible median in its own unit, got kind {self.kind!r} and "
                f"plausible_median {self.plausible_median!r}"
            )
        ranges = sorted((u.plausible_median, u.unit) for u in self.arrival_units)
        for (low_range, low_unit), (high_range, high_unit) in pairwise(ranges):
            if high_range[0] <= low_range[1]:
                raise ValueError(
                    f"column {self.name!r}: the plausible medians of {low_unit} {low_range} "
                    f"and {high_unit} {high_range} overlap, so a median cannot tell them apart"
                )

    @property
    def arrival_units(self) -> tuple[ArrivalUnit, ...]:
        """Every unit the column may arrive in, its own first (converted by 1)."""
        if self.plausible_median is None:
            return ()
        own = ArrivalUnit(self.unit, 1.0, self.plausible_median)
        return (own, *self.also_arrives_in)


@dataclass(frozen=True)
class RowRule:
    """A relation between a frame's columns that a reordering at the site would break
    (e.g. 融资融券余额 = 融资余额 + 融券余额): where columns are assigned by position, a
    swap of two columns of the same unit passes every per-column check but not this.

    `holds(frame)` is True for each row that satisfies it, or for rows it does not apply
    to (missing values, a suspended security); the frame is refused if any row fails.
    """

    description: str
    holds: Callable[[pd.DataFrame], pd.Series]
    columns: tuple[str, ...] = ()  # shown beside the key when a row fails


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
    row_rules: tuple[RowRule, ...] = ()
    # Sina merges share-count change dates into its bars, so a history can carry a row on
    # a day the exchange did not trade: such rows are dropped with a note, not refused.
    drops_non_trading_rows: bool = False
    # The first trading day the source publishes: earlier days are neither asked for nor
    # missing (a backfill from 2010 makes no BSE call before BSE's margin trading began).
    first_day: dt.date | None = None
    # Balances that cannot all stand still from one trading day to the next: a day whose
    # rows repeat the previous day's in these columns is the old file served under the
    # new date ("not published yet"), refused rather than loaded as the new day. Set for
    # the per-security detail only: a summary's one row, rounded to 0.01 亿, can repeat.
    moves_daily: tuple[str, ...] = ()
    # Per-symbol data that has a row for every symbol on every trading day (the spot
    # indices): checked per symbol and day, not only per day (suspensions).
    each_symbol_every_day: bool = False
    # A range call's most trading days: a host that answers a long range with one page
    # cut short is asked in windows it answers in full.
    days_per_call: int | None = None

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def partitioned(self) -> bool:
        return self.call != "static"


def _num(
    name: str, unit: str, plausible: tuple[float, float] | None = None, in_every_row: bool = False
) -> Column:
    return Column(name, "number", unit, plausible, in_every_row=in_every_row)


def _signed(name: str, unit: str) -> Column:
    return Column(name, "number", unit, signed=True)


def _disputed_count(
    name: str, persons_plausible: tuple[float, float], ten_thousands_plausible: tuple[float, float]
) -> Column:
    """A count of investors that arrives in persons (名) or in 10k persons (万名); stored in
    persons."""
    in_ten_thousands = ArrivalUnit("10k_persons", 1e4, ten_thousands_plausible)
    return Column(name, "number", "persons", persons_plausible, also_arrives_in=(in_ten_thousands,))


# ----------------------------------------------------------------------- row rules
# Each returns a boolean Series over the frame's rows. Frame-wide rules (ratios of column
# sums) broadcast one verdict to every row.


def _both_positive(frame: pd.DataFrame, *columns: str) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    for name in columns:
        mask &= frame[name].notna() & (frame[name] > 0)
    return mask


def sums_to(total: str, parts: tuple[str, ...], rel: float, absolute: float) -> RowRule:
    """`total` = sum of `parts`, within rounding (the sites round each figure)."""

    def holds(frame: pd.DataFrame) -> pd.Series:
        values = frame[[total, *parts]]
        gap = (frame[total] - frame[list(parts)].sum(axis=1)).abs()
        ok = gap <= np.maximum(absolute * len(parts), rel * frame[total].abs())
        return ok | values.isna().any(axis=1)

    return RowRule(f"{total} = {' + '.join(parts)}", holds, (total, *parts))


def ratio_within(numerator: str, denominator: str, lo: float, hi: float, what: str) -> RowRule:
    """Per row, numerator / denominator (both published) is a plausible `what`."""

    def holds(frame: pd.DataFrame) -> pd.Series:
        applies = _both_positive(frame, numerator, denominator)
        ratio = frame[numerator] / frame[denominator]
        return ~applies | ratio.between(lo, hi)

    return RowRule(
        f"{numerator} / {denominator} ({what}) within [{lo:g}, {hi:g}]",
        holds,
        (numerator, denominator),
    )


def sum_ratio_within(numerator: str, denominator: str, lo: float, hi: float, what: str) -> RowRule:
    """Over the whole frame, sum(numerator) / sum(denominator) is a plausible `what`: a
    day's buys are a few percent of the balance, never more than it."""

    def holds(frame: pd.DataFrame) -> pd.Series:
        total = frame[denominator].sum()
        ok = total <= 0 or lo <= frame[numerator].sum() / total <= hi
        return pd.Series(ok, index=frame.index)

    return RowRule(
        f"sum({numerator}) / sum({denominator}) ({what}) within [{lo:g}, {hi:g}]",
        holds,
        (numerator, denominator),
    )


def ordered(low: str, middle: str, high: str, tolerance: float = 0.011) -> RowRule:
    """low <= middle <= high (prices of one bar), within the rounding of a tick."""

    def holds(frame: pd.DataFrame) -> pd.Series:
        values = frame[[low, middle, high]]
        ok = (frame[low] <= frame[middle] + tolerance) & (frame[middle] <= frame[high] + tolerance)
        return ok | values.isna().any(axis=1) | (values == 0).any(axis=1)

    return RowRule(f"{low} <= {middle} <= {high}", holds, (low, middle, high))


def average_price_within_bar(
    amount: str, volume: str, low: str, high: str, shares_per_volume_unit: float
) -> RowRule:
    """The day's average trade price (amount / volume) lies within the day's low and high:
    catches volume in 手 (100 shares) read as shares, and amount in 万元 read as CNY."""

    def holds(frame: pd.DataFrame) -> pd.Series:
        applies = _both_positive(frame, amount, volume, low, high)
        average = frame[amount] / (frame[volume] * shares_per_volume_unit)
        return ~applies | ((average >= frame[low] * 0.9) & (average <= frame[high] * 1.1))

    return RowRule(
        f"{amount} / ({volume} x {shares_per_volume_unit:g}) within [{low}, {high}]",
        holds,
        (amount, volume, low, high),
    )


def flags_in(columns: tuple[str, ...], allowed: tuple[str, ...]) -> RowRule:
    """Each flag column holds one of `allowed` (a list's Y/N marks): a number or a name in
    a flag column means the site's columns moved."""

    def holds(frame: pd.DataFrame) -> pd.Series:
        ok = pd.Series(True, index=frame.index)
        for name in columns:
            ok &= frame[name].isin(allowed)
        return ok

    return RowRule(f"{', '.join(columns)} in {list(allowed)}", holds, columns)


# The first day of each market's margin data: the SSE / SZSE pilot began on 2010-03-31
# (CSRC and the exchanges' pilot notices); BSE's margin trading on 2023-02-13 (*unconfirmed*: from another public
# loader's notes, "NEEQ北交所融资融券2023-02-13开通前无该所数据"; a BSE day before the real
# start would be refused as "not published yet", never loaded as empty); CFFEX's first
# equity-index future, IF, on 2010-04-16.
# The flags of the eligible lists (SZSE's names; akshare gives BSE's the same), and the
# values the lists mark them with.
ELIGIBILITY_FLAGS = ("融资标的", "融券标的", "当日可融资", "当日可融券")
FLAG_VALUES = ("Y", "N", "是", "否")
MARGIN_PILOT_START = dt.date(2010, 3, 31)
# Trading days per stock_margin_sse call: well inside the 2,000 rows SSE answers at most
# (about four years a call: a backfill from the pilot's start is four calls).
SSE_TOTALS_DAYS_PER_CALL = 1000
BSE_MARGIN_START = dt.date(2023, 2, 13)
CFFEX_INDEX_FUTURES_START = dt.date(2010, 4, 16)

# A day's financing buys (or repayments) against the balance: a few percent in a running
# market, up to about 1 on the pilot's first days (the balance is that day's buys), and
# the inverse, far above 2, when the two columns are swapped.
FLOW_TO_BALANCE_MAX = 2.0

# ----------------------------------------------------------------------- margin data
# The margin detail per security. akshare: stock_feature/stock_margin_szse.py and
# stock_margin_bse.py. SZSE and BSE publish the same table; akshare gives BSE's fields
# SZSE's names. Units: 元 (CNY) and 股 (shares; 份 = fund units for ETFs and LOFs, which
# are on the lists too). No date column and no repayments.
#   stock_margin_detail_szse(date): SZSE's ShowReport xlsx (CATALOGID 1837_xxpl, tab2);
#     akshare names the 8 columns BY POSITION and parses the numbers from text with
#     `.str.replace(",", "")` (numeric cells make it raise AttributeError: SourceError).
#   stock_margin_detail_bse(date): BSE's JSONP (detailInfoResult.do, every page), fields
#     picked BY NAME (zqdm, zqjc, rzmre, rzye, rqmcl, rqyl, rqye, rzrqye); the unrounded
#     fields, in 元 and 股 (the summary's *Round fields are 万: see stock_margin_bse).
_DETAIL_SZSE_LIKE = (
    Column("证券代码", "code"),
    Column("证券简称", "text"),
    _num("融资买入额", "CNY", (1e2, 1e10), in_every_row=True),
    _num("融资余额", "CNY", (1e4, 1e11), in_every_row=True),
    _num("融券卖出量", "shares"),
    _num("融券余量", "shares"),
    _num("融券余额", "CNY"),
    _num("融资融券余额", "CNY", (1e4, 1e11), in_every_row=True),
)
_DETAIL_SZSE_LIKE_RULES = (
    sums_to("融资融券余额", ("融资余额", "融券余额"), rel=1e-6, absolute=1.0),
    ratio_within("融券余额", "融券余量", 0.05, 5000, "the close, CNY per share"),
    sum_ratio_within("融资买入额", "融资余额", 0, FLOW_TO_BALANCE_MAX, "the day's buys to the balance"),
)
_SUMMARY_SZSE_LIKE = (
    "融资买入额",
    "融资余额",
    "融券卖出量",
    "融券余量",
    "融券余额",
    "融资融券余额",
)


def _summary_szse_like(
    money_unit: str, volume_unit: str, balance_plausible: tuple[float, float], rounding: float
) -> dict:
    """Exchange totals as SZSE and BSE publish them, in the units each uses."""
    columns = tuple(
        _num(n, volume_unit, in_every_row=True)
        if n.endswith("量")
        else _num(n, money_unit, balance_plausible if n in ("融资余额", "融资融券余额") else None,
                  in_every_row=True)  # fmt: skip
        for n in _SUMMARY_SZSE_LIKE
    )
    rules = (
        sums_to("融资融券余额", ("融资余额", "融券余额"), rel=1e-6, absolute=rounding),
        # 亿元 / 亿股 and 万元 / 万股 are both CNY per share: the market's average close
        ratio_within("融券余额", "融券余量", 0.5, 500, "the average close, CNY per share"),
        ratio_within("融资买入额", "融资余额", 0, FLOW_TO_BALANCE_MAX, "the day's buys to the balance"),
    )
    return {"columns": columns, "row_rules": rules}


def _sina_full_history(price_unit: str, close_plausible: tuple[float, float], tick: float) -> dict:
    """A Sina bar file as akshare decodes it (indices, funds): the whole history of one
    symbol per call, the symbol kept as a column."""
    return {
        "call": "per_symbol_full",
        "columns": (
            Column("date", "date"),
            _num("open", price_unit),
            _num("high", price_unit),
            _num("low", price_unit),
            _num("close", price_unit, close_plausible),
            _num("volume", "shares"),
        ),
        "key": ("symbol",),
        "date_column": "date",
        "request_columns": ("symbol",),
        "row_rules": (ordered("low", "close", "high", tolerance=tick * 1.1),),
    }


DATASETS: dict[str, Dataset] = {
    d.function: d
    for d in (
        # akshare tool/trade_date_hist.py, tool_trade_date_hist_sina(): Sina's klc_td_sh.txt,
        # decoded by Sina's JavaScript (hk_js_decode); one column of datetime.date, every
        # SSE trading day since 1990 (akshare adds 1992-05-04, missing at Sina) to the end
        # of the current year.
        Dataset(
            function="tool_trade_date_hist_sina",
            description="SSE trading calendar (Sina), every trading day since 1990.",
            call="static",
            columns=(Column("trade_date", "date"),),
            key=("trade_date",),
        ),
        # akshare stock/stock_industry_sw.py, stock_industry_clf_hist_sw(): the Shenwan 2021
        # StockClassifyUse_stock.xls, columns renamed BY NAME (股票代码, 计入日期, 行业代码,
        # 更新日期); codes as text, dates as datetime.date.
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
        # akshare stock_feature/stock_margin_sse.py, stock_margin_detail_sse(date): SSE's
        # queryMargin.do JSON (tabType=mxtype), 13 fields named BY POSITION, 9 kept, numbers
        # through pd.to_numeric(errors="coerce"). 信用交易日期 is text 'YYYYMMDD'. Units: 元
        # and 股 (份 for funds). SSE publishes no short balance in CNY: the warehouse derives
        # it from the close (a fund's from the fund's own close).
        Dataset(
            function="stock_margin_detail_sse",
            first_day=MARGIN_PILOT_START,
            moves_daily=("融资余额", "融券余量"),
            description="SSE margin detail per security and day (融资融券明细).",
            call="per_day",
            columns=(
                Column("信用交易日期", "date"),
                Column("标的证券代码", "code"),
                Column("标的证券简称", "text"),
                _num("融资余额", "CNY", (1e4, 1e11), in_every_row=True),
                _num("融资买入额", "CNY", (1e2, 1e10), in_every_row=True),
                _num("融资偿还额", "CNY", (1e2, 1e10), in_every_row=True),
                _num("融券余量", "shares"),
                _num("融券卖出量", "shares"),
                _num("融券偿还量", "shares"),
            ),
            key=("标的证券代码",),
            date_column="信用交易日期",
            row_rules=(
                sum_ratio_within("融资买入额", "融资余额", 0, FLOW_TO_BALANCE_MAX, "the day's buys to the balance"),
                sum_ratio_within("融资偿还额", "融资余额", 0, FLOW_TO_BALANCE_MAX, "the day's repayments to the balance"),
            ),
        ),
        Dataset(
            function="stock_margin_detail_szse",
            first_day=MARGIN_PILOT_START,
            moves_daily=("融资余额", "融券余量"),
            description="SZSE margin detail per security and day; no date column.",
            call="per_day",
            columns=_DETAIL_SZSE_LIKE,
            key=("证券代码",),
            row_rules=_DETAIL_SZSE_LIKE_RULES,
        ),
        Dataset(
            function="stock_margin_detail_bse",
            first_day=BSE_MARGIN_START,
            moves_daily=("融资余额", "融券余量"),
            description="BSE margin detail per security and day; no date column.",
            call="per_day",
            columns=_DETAIL_SZSE_LIKE,
            key=("证券代码",),
            row_rules=_DETAIL_SZSE_LIKE_RULES,
        ),
        # akshare stock_feature/stock_margin_sse.py, stock_margin_sse(start_date, end_date):
        # the same queryMargin.do without tabType, one row per day (newest first), 13 fields
        # named BY POSITION. Units: 元 and 股. akshare asks for one page of 5000 rows, yet
        # its own documented example of a multi-year request returns exactly 2,000: the host
        # cuts a long range short, so a backfill asks in windows of SSE_TOTALS_DAYS_PER_CALL.
        Dataset(
            function="stock_margin_sse",
            days_per_call=SSE_TOTALS_DAYS_PER_CALL,
            first_day=MARGIN_PILOT_START,
            description="SSE margin totals per day (融资融券汇总), in CNY and shares.",
            call="range",
            columns=(
                Column("信用交易日期", "date"),
                _num("融资余额", "CNY", (1e5, 1e13), in_every_row=True),  # 2010-03-31: ~6.6 million
                _num("融资买入额", "CNY", in_every_row=True),
                _num("融券余量", "shares", in_every_row=True),
                _num("融券余量金额", "CNY", in_every_row=True),
                _num("融券卖出量", "shares", in_every_row=True),
                _num("融资融券余额", "CNY", (1e5, 1e13), in_every_row=True),
            ),
            key=(),
            date_column="信用交易日期",
            row_rules=(
                sums_to("融资融券余额", ("融资余额", "融券余量金额"), rel=1e-6, absolute=1.0),
                ratio_within("融券余量金额", "融券余量", 0.5, 500, "the average close, CNY per share"),
                ratio_within("融资买入额", "融资余额", 0, FLOW_TO_BALANCE_MAX, "the day's buys to the balance"),
            ),
        ),
        # akshare stock_feature/stock_margin_szse.py, stock_margin_szse(date): SZSE's JSON
        # (CATALOGID 1837_xxpl, tab1), 6 fields named BY POSITION, parsed from text with
        # `.str.replace`. Units: 亿元 (1e8 CNY) and 亿股 (1e8 shares), rounded to 0.01.
        Dataset(
            function="stock_margin_szse",
            first_day=MARGIN_PILOT_START,
            description="SZSE margin totals per day, in 亿 (100 million) CNY and shares.",
            call="per_day",
            key=(),
            **_summary_szse_like("100m_CNY", "100m_shares", (1e-3, 1e5), rounding=0.011),
        ),
        # akshare stock_feature/stock_margin_bse.py, stock_margin_bse(date): BSE's JSONP
        # (summaryInfoResult.do), the *Round fields picked BY NAME: 万元 (1e4 CNY) and 万股
        # (1e4 shares), rounded to 0.01 (akshare's docs show 融资余额 835758.44). An
        # unpublished day is an empty frame with the columns.
        Dataset(
            function="stock_margin_bse",
            first_day=BSE_MARGIN_START,
            description="BSE margin totals per day, in 万 (10 thousand) CNY and shares.",
            call="per_day",
            key=(),
            **_summary_szse_like("10k_CNY", "10k_shares", (1e1, 1e8), rounding=0.011),
        ),
        # ------------------------------------------------------------- eligible lists
        # akshare stock_feature/stock_margin_szse.py, stock_margin_underlying_info_szse(date):
        # SZSE's ShowReport xlsx (CATALOGID 1834_xxpl, TABKEY tab1, txtDate YYYY-MM-DD) read
        # by pd.read_excel with 证券代码 as text; the columns are the sheet's own header, so
        # BY NAME, kept as they come: 证券代码, 证券简称, 融资标的, 融券标的, 当日可融资,
        # 当日可融券, 融券卖出价格限制 (Y/N marks), 涨跌幅限制 (text such as '10%'). Listed:
        # the securities that are a 融资 or 融券 标的 that day; a security off the list is
        # neither. akshare's docs show 'Y' / 'N'. No date column.
        Dataset(
            function="stock_margin_underlying_info_szse",
            first_day=MARGIN_PILOT_START,
            description="SZSE margin-eligible list per day (标的证券信息): 融资 / 融券 标的 "
            "and whether each side may be opened that day.",
            call="per_day",
            columns=(
                Column("证券代码", "code"),
                Column("证券简称", "text"),
                *(Column(name, "text") for name in ELIGIBILITY_FLAGS),
                Column("融券卖出价格限制", "text"),
                Column("涨跌幅限制", "text"),
            ),
            key=("证券代码",),
            row_rules=(flags_in(ELIGIBILITY_FLAGS, FLAG_VALUES),),
        ),
        # akshare stock_feature/stock_margin_bse.py, stock_margin_underlying_info_bse(date):
        # BSE's JSONP (rzrqbdzqController/infoResult.do, POSTed transDate YYYY-MM-DD and
        # page, every page followed), fields picked BY NAME (zqdm, zqjc, rzbd, rqbd, drkrz,
        # drkrq) and renamed to SZSE's names; values as the site sends them (akshare's docs
        # show none: 'Y'/'N' as SZSE, and 是/否, are both accepted and mapped in staging).
        # An unpublished day is an empty frame with the six columns.
        Dataset(
            function="stock_margin_underlying_info_bse",
            first_day=BSE_MARGIN_START,
            description="BSE margin-eligible list per day, in SZSE's layout (no price-limit "
            "columns).",
            call="per_day",
            columns=(
                Column("证券代码", "code"),
                Column("证券简称", "text"),
                *(Column(name, "text") for name in ELIGIBILITY_FLAGS),
            ),
            key=("证券代码",),
            row_rules=(flags_in(ELIGIBILITY_FLAGS, FLAG_VALUES),),
        ),
        # akshare stock_feature/stock_margin_em.py, stock_margin_account_info(): Eastmoney's
        # datacenter (reportName RPTA_WEB_MARGIN_DAILYTRADE, 500 rows a page, every page),
        # fields renamed BY NAME (STATISTICS_DATE -> 日期, FIN_BALANCE -> 融资余额, ...),
        # 日期 a datetime.date, the rest pd.to_numeric(errors="coerce"), oldest first; the
        # whole history in one call, no argument; akshare converts no unit. Units per
        # akshare's docs: 融资余额, 融券余额, 融资买入额, 融券卖出额, 担保物总价值 in 亿元
        # (1e8 CNY); 个人投资者数量 in 万名; 机构投资者数量, 证券公司数量, 营业部数量 家;
        # 平均维持担保比例 in percent. 参与交易的投资者数量 and 有融资融券负债的投资者数量
        # are disputed: 名 (persons) in akshare's docs, 万名 in public loaders of the same
        # report (INVESTOR_NUM, MARGINLIAB_INVESTOR_NUM). Both are accepted, told apart by
        # the median (10^4 apart) and stored in persons.
        Dataset(
            function="stock_margin_account_info",
            description="Market margin accounts per day (两融账户信息, Eastmoney): balances "
            "in 亿, investors, collateral, average maintenance ratio in %.",
            call="static",
            columns=(
                Column("日期", "date"),
                _num("融资余额", "100m_CNY", (1e1, 1e6)),
                _num("融券余额", "100m_CNY"),
                _num("融资买入额", "100m_CNY"),
                _num("融券卖出额", "100m_CNY"),
                _num("证券公司数量", "count"),
                _num("营业部数量", "count"),
                _num("个人投资者数量", "10k_persons", (1e0, 1e5)),
                _num("机构投资者数量", "count"),
                # each unit's range spans the same persons (a span under 10^4 wide, so that
                # the two cannot overlap); the low ends admit the demo's smallest markets
                _disputed_count("参与交易的投资者数量", (1e3, 5e6), (0.1, 500)),
                _disputed_count("有融资融券负债的投资者数量", (1e4, 5e7), (1, 5e3)),
                _num("担保物总价值", "100m_CNY", (1e2, 1e7)),
                # 平均维持担保比例: 130 % is the liquidation line, so a median below 100
                # is a fraction (2.5 for 250 %), not percent
                _num("平均维持担保比例", "percent", (100, 2000)),
            ),
            key=("日期",),
            row_rules=(
                ratio_within("融资买入额", "融资余额", 0, FLOW_TO_BALANCE_MAX, "the day's buys to the balance"),
                # collateral covers the debt (that is what the ratio measures): a balance
                # column in its place gives a ratio near 1 or far above 20
                ratio_within("担保物总价值", "融资余额", 1.05, 20, "collateral per CNY of financing debt"),
            ),
        ),
        # ------------------------------------------------------------------- quotes
        # akshare stock/stock_zh_a_sina.py, stock_zh_a_daily(symbol, start_date, end_date,
        # adjust=""): Sina's price history (decoded by Sina's JavaScript; prevclose, postVol,
        # postAmt dropped, the rest named BY POSITION) outer-merged with the share-count
        # history (万股, multiplied by 1e4) and forward-filled, then cut to the window. Units:
        # prices 元, volume 股, amount 元, outstanding_share 股, turnover a fraction. For a
        # fund Sina has no share counts and akshare raises ValueError ("Length mismatch"):
        # funds' quotes come from fund_etf_hist_sina.
        Dataset(
            function="stock_zh_a_daily",
            description="Unadjusted daily quotes with float shares (Sina), per stock.",
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
            row_rules=(
                ordered("low", "close", "high"),
                ordered("low", "open", "high"),
                average_price_within_bar("amount", "volume", "low", "high", 1),
            ),
            drops_non_trading_rows=True,
        ),
        # akshare fund/fund_etf_sina.py, fund_etf_hist_sina(symbol): Sina's klc_kl.js for
        # the fund (ETFs and LOFs alike), decoded by Sina's JavaScript; the decoded fields
        # are kept as they come (date, open, high, low, close, volume, and whatever else the
        # decoder emits, e.g. amount), the whole history in one call. Units: prices 元 per
        # unit, volume 份 (fund units). An unknown symbol is a bare pd.DataFrame().
        Dataset(
            function="fund_etf_hist_sina",
            description="Daily bars of the ETFs and LOFs on the margin lists (Sina), per fund.",
            drops_non_trading_rows=True,
            **_sina_full_history("CNY", (0.01, 1e4), tick=0.001),
        ),
        # akshare stock_feature/stock_hist_em.py, stock_zh_a_spot_em(): Eastmoney's clist
        # (every A share, 100 a page, akshare's own retries in utils/request.py), 32 fields
        # named BY POSITION, 23 kept, sorted by 涨跌幅 and numbered (序号). Units: prices 元,
        # 成交量 手 (100 shares), 成交额 元, 总市值 and 流通市值 元, the rest percent or ratios.
        # No funds: the fs filter lists A-share boards only.
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
            row_rules=(
                ordered("最低", "最新价", "最高"),
                ratio_within("流通市值", "总市值", 0.0, 1.000001, "the float share of the total"),
                average_price_within_bar("成交额", "成交量", "最低", "最高", 100),
            ),
        ),
        # akshare index/index_stock_zh.py, stock_zh_index_daily(symbol): Sina's index
        # history, decoded by Sina's JavaScript, every decoded field kept (an extra one such
        # as amount is noted, not refused); the whole history in one call. Index points.
        Dataset(
            function="stock_zh_index_daily",
            description="Spot index daily bars (Sina): CSI 300, SSE 50, CSI 500, CSI 1000.",
            each_symbol_every_day=True,
            **_sina_full_history("index_points", (100, 1e5), tick=0.01),
        ),
        # akshare futures/futures_daily_bar.py, futures_hist_daily_cffex(date): CFFEX's daily
        # CSV (GBK), read by pd.read_csv(url) — urllib, not requests — with its 14 columns
        # named BY POSITION; subtotal rows and the options (IO, MO, HO) dropped; `date` is the
        # requested 'YYYYMMDD'. Units: index points (bond futures: price), volume and
        # open_interest in contracts (手), turnover 万元. A day CFFEX did not trade is an
        # HTTP 404. Not get_futures_daily: that one skips every day missing from akshare's
        # bundled calendar.json, which ends 2026-12-31.
        Dataset(
            function="futures_hist_daily_cffex",
            first_day=CFFEX_INDEX_FUTURES_START,
            description="CFFEX futures daily bars per contract (options already dropped).",
            call="per_day",
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
            row_rules=(
                ordered("low", "close", "high", tolerance=0.01),
                # a contract is worth about a million CNY (IF: index x 300; T: price x 10 000)
                ratio_within("turnover", "volume", 1, 1e3, "万元 per contract"),
            ),
        ),
    )
}

# The closing snapshot when Eastmoney refuses us (akshare issues #6696 and #7314: its
# clist host blocks IPs that page through it). Not in DATASETS: it is no dataset of its own
# but the stand-in for stock_zh_a_spot_em's close on the days that one fails.
# akshare stock/stock_zh_a_sina.py, stock_zh_a_spot(): Sina's hs_a node, one count request
# (getHQNodeStockCount) then every page of 80 (getHQNodeData, sorted by symbol) back to back
# with no pause, each page's 20 JSON fields named BY POSITION and 14 kept. What akshare drops:
# per, pb, mktcap and nmc (流通市值), so no float market cap; float shares must come from an
# earlier day (the last snapshot's 流通市值 / 最新价, or Sina's outstanding_share). Units
# (akshare's docs, docs/data/stock/stock.md, "实时行情数据-新浪"): prices 元, 成交量 股
# (not Eastmoney's 手), 成交额 元, 涨跌幅 percent; 代码 is Sina's symbol (sh600000, bj430017),
# not a 6-digit code; a suspended stock has 最新价 0; 时间戳 is the time of day of its last tick.
SINA_SNAPSHOT_PAGE_ROWS = 80  # akshare's payload: num=80
SINA_SNAPSHOT = Dataset(
    function="stock_zh_a_spot",
    description="Post-close snapshot of every A share (Sina, paged): the close when "
    "Eastmoney's snapshot is refused; no float market cap.",
    call="snapshot",
    columns=(
        Column("代码", "text"),  # Sina's symbol: exchange prefix and code
        Column("名称", "text"),
        _num("最新价", "CNY", (0.1, 1e4)),  # after the close: the close; 0 if suspended
        _signed("涨跌额", "CNY"),
        _signed("涨跌幅", "percent"),
        _num("买入", "CNY"),
        _num("卖出", "CNY"),
        _num("昨收", "CNY"),
        _num("今开", "CNY"),
        _num("最高", "CNY"),
        _num("最低", "CNY"),
        _num("成交量", "shares"),
        _num("成交额", "CNY"),
        Column("时间戳", "text"),
    ),
    key=("代码",),
    row_rules=(
        ordered("最低", "最新价", "最高"),
        average_price_within_bar("成交额", "成交量", "最低", "最高", 1),
    ),
)
FALLBACK_DATASETS = {SINA_SNAPSHOT.function: SINA_SNAPSHOT}
# Every raw table's contract: the datasets, and the fallbacks that stand in for one of them.
RAW_TABLES: dict[str, Dataset] = {**DATASETS, **FALLBACK_DATASETS}

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

SecurityType = Literal["stock", "fund"]


def security_type(security_code: str) -> SecurityType:
    """Funds on the margin lists by code: SSE 5xxxxx (ETFs 51/56/58, LOFs 501/502), SZSE
    15xxxx (ETFs), 16xxxx (LOFs) and 18xxxx (closed-end funds, REITs); BSE lists none.
    As the SQL macro security_type_of_code."""
    code = security_code.strip()
    return "fund" if code[:1] == "5" or code[:2] in ("15", "16", "18") else "stock"


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
    summary_cny_per_unit: float  # the unit of the published totals, in CNY (and shares)


EXCHANGES = (
    Exchange("SSE", "stock_margin_detail_sse", "stock_margin_sse", 1.0),
    Exchange("SZSE", "stock_margin_detail_szse", "stock_margin_szse", 1e8),  # 亿
    Exchange("BSE", "stock_margin_detail_bse", "stock_margin_bse", 1e4),  # 万
)
