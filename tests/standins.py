"""Stand-ins for akshare: a tiny hand-made market behind akshare's function names.

`FakeAkshare()` is passed where the akshare module goes (`AkshareSource(module=...)`).
Its functions have akshare's names and keyword arguments and return frames shaped as
akshare 1.19.5 returns them (see site-packages/akshare for each function):

- SSE detail / summary: 信用交易日期 as a 'YYYYMMDD' str, codes as str, numbers int64;
  the summary is newest first.
- SZSE / BSE detail: no date column, codes as str, numbers int64.
- SZSE summary: one row in 亿 (100 million) CNY / shares, float64; BSE summary in 万
  (10 thousand) CNY / shares, float64 (BSE's *Round fields). Every exchange's totals are
  the sums of its detail plus a small residual (securities removed from the list).
- stock_zh_a_daily: `date` as datetime.date, every other column float64; only the
  trading days in [start_date, end_date].
- stock_zh_a_spot_em: no arguments; every security (plus one not on the margin list) as
  Eastmoney lists them at the moment of the call — the close of `spot_day`, which a test
  sets: 序号 int64, 代码/名称 str, every other column float64 (akshare's pd.to_numeric),
  NaN prices for a suspended security.
- stock_zh_index_daily: the full history whatever the window, `date` as datetime.date.
- futures_hist_daily_cffex: one day, `date` as the requested 'YYYYMMDD' str, bond futures
  (T, TF, TS, TL) mixed in with the equity-index ones; an HTTP 404 (urllib's, as pandas
  reads CFFEX's CSV) for a day CFFEX did not trade.
- tool_trade_date_hist_sina: `trade_date` as datetime.date.
- stock_margin_underlying_info_szse / _bse: the day's list, flags 'Y' / 'N' as str
  (SZSE's with its two price-rule columns); one security off the 融券 list on each.
- stock_margin_account_info: no arguments, every trading day oldest first, `日期` as
  datetime.date, the rest float64 in Eastmoney's units (亿, 万名, 名, percent).
- fund_etf_hist_sina: the lists here hold no fund, so a bare `pd.DataFrame()` (Sina's
  answer for a symbol it does not know).

The market, 2024-09-02 .. 2024-10-31, includes Mid-Autumn (09-16/17), National Day
(10-01 .. 10-07) and the make-up Saturdays on which the exchanges stay shut (09-14,
09-29, 10-12). The calendar here is built from weekdays and that holiday list, not from
margin_wh, so tests can check margin_wh's calendar arithmetic against it.

The ugly cases are switched on per function (and optionally per call) with the methods
of `FakeAkshare` (`thousands`, `int_codes`, `blanks`, `rename`, `drop`, `unparseable`,
`duplicate_row`, `scale`, `empty`, `skip_day`, `fail`). Every call is recorded in
`calls` (function, kwargs), including calls that raise.
"""

from __future__ import annotations

import datetime as dt
import inspect
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import requests

# --------------------------------------------------------------------------- calendar

MARKET_START, MARKET_END = dt.date(2024, 9, 2), dt.date(2024, 10, 31)
HOLIDAYS = {
    dt.date(2024, 9, 16),
    dt.date(2024, 9, 17),  # Mid-Autumn
    *(dt.date(2024, 10, d) for d in range(1, 8)),  # National Day
}
# Older days Sina's calendar also returns (1992-05-04 is the one akshare adds itself).
OLD_TRADING_DAYS = [dt.date(1990, 12, 19), dt.date(1992, 5, 4), dt.date(2023, 12, 29)]


def _all_days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


TRADING_DAYS = [
    d for d in _all_days(MARKET_START, MARKET_END) if d.weekday() < 5 and d not in HOLIDAYS
]
TRADING_DAY_SET = set(TRADING_DAYS)
FULL_CALENDAR = OLD_TRADING_DAYS + TRADING_DAYS

# The window most tests load: two weeks across a weekend and National Day.
WINDOW_START, WINDOW_END = dt.date(2024, 9, 26), dt.date(2024, 10, 10)
WINDOW = [d for d in TRADING_DAYS if WINDOW_START <= d <= WINDOW_END]
assert WINDOW == [
    dt.date(2024, 9, 26),
    dt.date(2024, 9, 27),
    dt.date(2024, 9, 30),
    dt.date(2024, 10, 8),
    dt.date(2024, 10, 9),
    dt.date(2024, 10, 10),
]


def ymd(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


def _day(text: str) -> dt.date:
    return dt.datetime.strptime(text, "%Y%m%d").date()


def _t(day: dt.date) -> int:
    """Day index in the market (drives every deterministic series)."""
    return TRADING_DAYS.index(day)


# --------------------------------------------------------------------------- securities


@dataclass(frozen=True)
class Security:
    code: str
    name: str
    close: float  # CNY
    float_shares: float  # shares
    financing: int  # financing balance at the market start, CNY
    short_volume: int  # short volume outstanding at the market start, shares
    industry: str  # Shenwan 2021 level-3 code


SSE = (
    Security("600000", "浦发银行", 8.52, 2.93e9, 4_113_500_000, 5_820_000, "480301"),
    Security("600036", "招商银行", 35.20, 2.06e9, 6_204_300_000, 2_310_000, "480301"),
    Security("601318", "中国平安", 45.10, 1.08e9, 9_318_700_000, 1_750_000, "490301"),
    Security("688981", "中芯国际", 80.30, 1.98e9, 5_512_900_000, 3_400_000, "270107"),
)
SZSE = (
    Security("000001", "平安银行", 10.92, 1.94e9, 5_620_400_000, 4_100_000, "480301"),
    Security("000002", "万科Ａ", 7.81, 9.72e8, 3_104_800_000, 6_080_000, "430101"),
    Security("002594", "比亚迪", 140.05, 1.16e9, 8_812_000_000, 260_000, "280202"),
    Security("300750", "宁德时代", 148.60, 3.90e9, 9_905_100_000, 410_000, "630701"),
)
BSE = (
    Security("430047", "诺思兰德", 9.48, 2.12e8, 32_150_000, 21_000, "370201"),
    Security("830799", "艾融软件", 26.03, 1.01e8, 151_200_000, 34_000, "710402"),
    Security("835185", "贝特瑞", 18.40, 8.41e8, 213_900_000, 48_000, "270401"),
)
ALL_SECURITIES = SSE + SZSE + BSE
SINA_SYMBOLS = {  # written out by hand, not through margin_wh.sources.datasets.sina_symbol
    "600000": "sh600000", "600036": "sh600036", "601318": "sh601318", "688981": "sh688981",
    "000001": "sz000001", "000002": "sz000002", "002594": "sz002594", "300750": "sz300750",
    "430047": "bj430047", "830799": "bj830799", "835185": "bj835185",
}  # fmt: skip
# Eastmoney's snapshot lists every A share, not only the margin list's.
NOT_ON_MARGIN_LIST = Security("001979", "招商蛇口", 9.95, 7.7e9, 0, 0, "430101")
SECURITY_BY_SYMBOL = {SINA_SYMBOLS[s.code]: s for s in ALL_SECURITIES}
# 万科 is suspended on 2024-10-09: no quote that day (it stays in the margin detail).
SUSPENDED = {("sz000002", dt.date(2024, 10, 9))}

INDEX_CLOSE = {"sh000300": 3_903.6, "sh000016": 2_701.3, "sh000905": 5_802.4, "sh000852": 6_012.9}
# CFFEX contracts: equity-index futures and the bond futures akshare mixes in.
FUTURES = {
    "IF": 3_880.0, "IH": 2_690.0, "IC": 5_750.0, "IM": 5_930.0,
    "T": 106.8, "TF": 104.9, "TS": 102.3, "TL": 111.5,
}  # fmt: skip
FUTURE_MONTHS = {"IF": ("2410", "2412"), "IH": ("2410", "2412"), "IC": ("2410", "2412"),
                 "IM": ("2410", "2412"), "T": ("2412",), "TF": ("2412",), "TS": ("2412",),
                 "TL": ("2412",)}  # fmt: skip


def close_on(security: Security, day: dt.date) -> float:
    t = _t(day)
    i = ALL_SECURITIES.index(security) if security in ALL_SECURITIES else len(ALL_SECURITIES)
    return round(security.close * (1 + 0.004 * ((t + i) % 5) - 0.008), 2)


def _financing(security: Security, day: dt.date) -> tuple[int, int, int]:
    """(balance, buys, repayments); balance rolls forward from buys and repayments."""
    balance = security.financing
    buys = repays = 0
    for t in range(_t(day) + 1):
        buys = security.financing * (20 + t % 5) // 1000
        repays = security.financing * (19 + (t + 2) % 5) // 1000
        balance += buys - repays
    return balance, buys, repays


def _short(security: Security, day: dt.date) -> tuple[int, int, int]:
    """(volume outstanding, sold, repaid) in shares."""
    volume = security.short_volume
    sold = repaid = 0
    for t in range(_t(day) + 1):
        sold = security.short_volume * (3 + t % 3) // 100
        repaid = security.short_volume * (3 + (t + 1) % 3) // 100
        volume += sold - repaid
    return volume, sold, repaid


def _totals(securities, day: dt.date) -> tuple[int, int, int, int, int]:
    """An exchange's published totals (buys, financing balance, shares sold short, short
    volume, short balance in CNY): the sums of its detail, plus a small residual for
    securities removed from the list, which the totals still include."""
    residual = 1 + 0.002 + 0.001 * (_t(day) % 3)
    buys = financing = sold = volume = short_value = 0
    for s in securities:
        balance, bought, _ = _financing(s, day)
        outstanding, sold_short, _ = _short(s, day)
        buys, financing = buys + bought, financing + balance
        sold, volume = sold + sold_short, volume + outstanding
        short_value += int(round(outstanding * close_on(s, day)))
    return tuple(int(round(v * residual)) for v in (buys, financing, sold, volume, short_value))


# --------------------------------------------------------------------------- quirks


@dataclass
class Quirk:
    function: str
    change: Callable[[pd.DataFrame], pd.DataFrame]
    when: dict[str, Any] = field(default_factory=dict)  # kwargs the call must have


@dataclass
class Failure:
    function: str
    times: int  # raise on this many calls, then answer
    error: Callable[[], Exception]
    when: dict[str, Any] = field(default_factory=dict)  # kwargs the call must have


@dataclass(frozen=True)
class Call:
    function: str
    kwargs: dict[str, Any]


def _as_object(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    frame[column] = frame[column].astype(object)
    return frame


def _thousands(frame: pd.DataFrame) -> pd.DataFrame:
    """Every number as the exchanges print it: '1,234,567' or '6,900.53'."""
    out = frame.copy()
    for name in out.columns:
        if pd.api.types.is_numeric_dtype(out[name]):
            out[name] = [f"{int(v):,}" if float(v).is_integer() else f"{v:,.2f}" for v in out[name]]
    return out


# --------------------------------------------------------------------------- the module


class FakeAkshare:
    """akshare, as far as the warehouse calls it, over the hand-made market."""

    __name__ = "akshare"
    __version__ = "1.19.5"

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.returned: list[tuple[Call, pd.DataFrame]] = []
        self._quirks: list[Quirk] = []
        self._failures: list[Failure] = []
        self.spot_day = MARKET_END  # the day whose close stock_zh_a_spot_em shows "now"
        for name in self.FUNCTIONS:
            setattr(self, name, self._recorded(name, getattr(self, "_" + name)))

    FUNCTIONS = (
        "tool_trade_date_hist_sina",
        "stock_industry_clf_hist_sw",
        "stock_margin_detail_sse",
        "stock_margin_detail_szse",
        "stock_margin_detail_bse",
        "stock_margin_sse",
        "stock_margin_szse",
        "stock_margin_bse",
        "fund_etf_hist_sina",
        "stock_zh_a_daily",
        "stock_zh_a_spot_em",
        "stock_zh_index_daily",
        "futures_hist_daily_cffex",
        "stock_margin_underlying_info_szse",
        "stock_margin_underlying_info_bse",
        "stock_margin_account_info",
    )

    # ---------------------------------------------------------------- configuration

    def quirk(self, function: str, change: Callable[[pd.DataFrame], pd.DataFrame], **when):
        self._quirks.append(Quirk(function, change, when))
        return self

    def thousands(self, function: str, **when):
        """Numbers as strings with thousands separators ('1,234,567')."""
        return self.quirk(function, _thousands, **when)

    def int_codes(self, function: str, **when):
        """Codes as ints, as older SZSE files return them: 1 instead of '000001'."""
        column = "标的证券代码" if function == "stock_margin_detail_sse" else "证券代码"

        def change(frame):
            frame[column] = frame[column].astype("int64")
            return frame

        return self.quirk(function, change, **when)

    def blanks(self, function: str, column: str, tokens=("-", ""), **when):
        """The first rows of `column` printed as '-' and '' (not published)."""

        def change(frame):
            frame = _as_object(frame, column)
            for row, token in enumerate(tokens):
                frame.loc[frame.index[row], column] = token
            return frame

        return self.quirk(function, change, **when)

    def rename(self, function: str, old: str, new: str, **when):
        return self.quirk(function, lambda f: f.rename(columns={old: new}), **when)

    def drop(self, function: str, column: str, **when):
        return self.quirk(function, lambda f: f.drop(columns=[column]), **when)

    def unparseable(self, function: str, column: str, value: Any = "12a", row: int = 1, **when):
        def change(frame):
            frame = _as_object(frame, column)
            frame.loc[frame.index[row], column] = value
            return frame

        return self.quirk(function, change, **when)

    def duplicate_row(self, function: str, row: int = 0, **when):
        return self.quirk(
            function, lambda f: pd.concat([f, f.iloc[[row]]], ignore_index=True), **when
        )

    def scale(self, function: str, column: str, factor: float, **when):
        """A unit change (元 -> 亿 is 1e-8, 股 -> 万股 is 1e-4) or a revision of the data."""

        def change(frame):
            frame[column] = frame[column] * factor
            return frame

        return self.quirk(function, change, **when)

    def empty(self, function: str, columnless: bool = False, **when):
        """No rows: with the columns (the exchanges' shape) or with none (futures_hist_daily_cffex)."""
        return self.quirk(
            function, lambda f: pd.DataFrame() if columnless else f.iloc[0:0].copy(), **when
        )

    def skip_day(self, function: str, day: dt.date, **when):
        """A range call silently leaves out one trading day (akshare's stale calendar)."""
        column = "date" if function == "futures_hist_daily_cffex" else "信用交易日期"

        def change(frame):
            return frame[frame[column] != ymd(day)]

        return self.quirk(function, change, **when)

    def fail(self, function: str, times: int, error: Callable[[], Exception] | None = None, **when):
        """Raise `error()` (requests.ConnectionError by default) on the next `times` calls
        (of those with the arguments in `when`), then answer."""
        error = error or (lambda: requests.ConnectionError("Connection aborted: remote end closed"))
        self._failures.append(Failure(function, times, error, when))
        return self

    def clear(self) -> FakeAkshare:
        self._quirks.clear()
        self._failures.clear()
        return self

    # ---------------------------------------------------------------- inspection

    def calls_of(self, function: str) -> list[dict[str, Any]]:
        return [c.kwargs for c in self.calls if c.function == function]

    def clean(self, function: str, **kwargs) -> pd.DataFrame:
        """What `function(**kwargs)` returns without quirks, unrecorded."""
        return getattr(self, "_" + function)(**kwargs)

    def requested_days(self) -> set[dt.date]:
        """Every day named in a date, start_date or end_date argument."""
        days = set()
        for call in self.calls:
            for name in ("date", "start_date", "end_date"):
                if name in call.kwargs:
                    days.add(_day(call.kwargs[name]))
        return days

    # ---------------------------------------------------------------- plumbing

    def _recorded(self, name: str, fn: Callable[..., pd.DataFrame]) -> Callable[..., pd.DataFrame]:
        signature = inspect.signature(fn)

        def call(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)  # TypeError on a wrong argument
            record = Call(name, dict(kwargs))
            self.calls.append(record)
            for failure in self._failures:
                if (
                    failure.function == name
                    and failure.times > 0
                    and all(bound.arguments.get(k) == v for k, v in failure.when.items())
                ):
                    failure.times -= 1
                    raise failure.error()
            frame = fn(*bound.args, **bound.kwargs)
            for quirk in self._quirks:
                if quirk.function == name and all(
                    bound.arguments.get(k) == v for k, v in quirk.when.items()
                ):
                    frame = quirk.change(frame.copy())
            self.returned.append((record, frame.copy()))
            return frame

        call.__name__ = name
        call.__signature__ = signature  # type: ignore[attr-defined]
        return call

    # ---------------------------------------------------------------- the functions

    def _tool_trade_date_hist_sina(self) -> pd.DataFrame:
        return pd.DataFrame({"trade_date": list(FULL_CALENDAR)})

    def _stock_industry_clf_hist_sw(self) -> pd.DataFrame:
        rows = []
        for s in ALL_SECURITIES:
            rows.append((s.code, dt.date(2021, 7, 30), s.industry, dt.date(2021, 7, 30)))
        # One reclassification: 中芯国际 moved within electronics in 2023.
        rows.append(("688981", dt.date(2023, 6, 1), "270108", dt.date(2023, 6, 2)))
        return pd.DataFrame(rows, columns=["symbol", "start_date", "industry_code", "update_time"])

    def _check_trading_day(self, function: str, day: dt.date) -> None:
        if day not in TRADING_DAY_SET:
            # The exchanges answer a holiday with an error page; akshare then fails.
            raise ValueError(f"stand-in {function}: {day} is not a trading day")

    def _stock_margin_detail_sse(self, date: str = "20230922") -> pd.DataFrame:
        day = _day(date)
        self._check_trading_day("stock_margin_detail_sse", day)
        rows = []
        for s in SSE:
            balance, buys, repays = _financing(s, day)
            volume, sold, repaid = _short(s, day)
            rows.append((date, s.code, s.name, balance, buys, repays, volume, sold, repaid))
        return pd.DataFrame(
            rows,
            columns=["信用交易日期", "标的证券代码", "标的证券简称", "融资余额", "融资买入额",
                     "融资偿还额", "融券余量", "融券卖出量", "融券偿还量"],
        )  # fmt: skip

    def _detail_szse_like(self, function: str, securities, date: str) -> pd.DataFrame:
        day = _day(date)
        self._check_trading_day(function, day)
        rows = []
        for s in securities:
            balance, buys, _ = _financing(s, day)
            volume, sold, _ = _short(s, day)
            short_value = int(round(volume * close_on(s, day)))
            rows.append(
                (s.code, s.name, buys, balance, sold, volume, short_value, balance + short_value)
            )
        return pd.DataFrame(
            rows,
            columns=["证券代码", "证券简称", "融资买入额", "融资余额", "融券卖出量", "融券余量",
                     "融券余额", "融资融券余额"],
        )  # fmt: skip

    def _stock_margin_detail_szse(self, date: str = "20230925") -> pd.DataFrame:
        return self._detail_szse_like("stock_margin_detail_szse", SZSE, date)

    def _stock_margin_detail_bse(self, date: str = "20260721") -> pd.DataFrame:
        return self._detail_szse_like("stock_margin_detail_bse", BSE, date)

    def _eligible_list(self, function: str, securities, date: str, off_short: str) -> pd.DataFrame:
        self._check_trading_day(function, _day(date))
        short = ["N" if s.code == off_short else "Y" for s in securities]
        return pd.DataFrame({
            "证券代码": [s.code for s in securities], "证券简称": [s.name for s in securities],
            "融资标的": ["Y"] * len(securities), "融券标的": short,
            "当日可融资": ["Y"] * len(securities), "当日可融券": short,
        })  # fmt: skip

    def _stock_margin_underlying_info_szse(self, date: str = "20221129") -> pd.DataFrame:
        frame = self._eligible_list("stock_margin_underlying_info_szse", SZSE, date, "000002")
        limits = ["20%" if s.code.startswith("300") else "10%" for s in SZSE]
        return frame.assign(融券卖出价格限制="Y", 涨跌幅限制=limits)

    def _stock_margin_underlying_info_bse(self, date: str = "20260722") -> pd.DataFrame:
        return self._eligible_list("stock_margin_underlying_info_bse", BSE, date, "830799")

    def _stock_margin_account_info(self) -> pd.DataFrame:
        t = pd.Series(range(len(TRADING_DAYS)), dtype="float64")
        financing = 14_512.3 + 12.5 * t  # 亿
        return pd.DataFrame({
            "日期": TRADING_DAYS, "融资余额": financing, "融券余额": 231.4 - 0.8 * t,
            "融资买入额": 512.3 + 3.0 * (t % 4), "融券卖出额": 8.1 + 0.1 * (t % 3),
            "证券公司数量": 96.0, "营业部数量": 11_321.0, "个人投资者数量": 1_245.3 + 0.2 * t,
            "机构投资者数量": 49_100.0, "参与交易的投资者数量": 412_000.0 + 1_000 * (t % 5),
            "有融资融券负债的投资者数量": 5_021_000.0 + 500 * t,
            "担保物总价值": financing * 3.1, "平均维持担保比例": 247.31 - 0.1 * t,
        })  # fmt: skip

    def _stock_margin_sse(
        self, start_date: str = "20010106", end_date: str = "20230922"
    ) -> pd.DataFrame:
        days = [d for d in TRADING_DAYS if _day(start_date) <= d <= _day(end_date)]
        rows = []
        for day in reversed(days):  # newest first, as SSE lists them
            buys, financing, sold, volume, short_value = _totals(SSE, day)
            rows.append(
                (ymd(day), financing, buys, volume, short_value, sold, financing + short_value)
            )
        return pd.DataFrame(
            rows,
            columns=["信用交易日期", "融资余额", "融资买入额", "融券余量", "融券余量金额",
                     "融券卖出量", "融资融券余额"],
        )  # fmt: skip

    def _summary_szse_like(self, function: str, securities, date: str, unit: float):
        day = _day(date)
        self._check_trading_day(function, day)
        buys, financing, sold, volume, short_value = (
            round(value / unit, 2) for value in _totals(securities, day)
        )
        row = (buys, financing, sold, volume, short_value, round(financing + short_value, 2))
        return pd.DataFrame(
            [row],
            columns=["融资买入额", "融资余额", "融券卖出量", "融券余量", "融券余额",
                     "融资融券余额"],
        )  # fmt: skip

    def _stock_margin_szse(self, date: str = "20240411") -> pd.DataFrame:
        return self._summary_szse_like("stock_margin_szse", SZSE, date, 1e8)  # 亿元 / 亿股

    def _stock_margin_bse(self, date: str = "20260721") -> pd.DataFrame:
        return self._summary_szse_like("stock_margin_bse", BSE, date, 1e4)  # 万元 / 万股

    def _stock_zh_a_daily(
        self,
        symbol: str = "sh603843",
        start_date: str = "19900101",
        end_date: str = "21000118",
        adjust: str = "",
    ) -> pd.DataFrame:
        if adjust != "":
            raise ValueError(f"stand-in only serves unadjusted quotes, got adjust={adjust!r}")
        security = SECURITY_BY_SYMBOL[symbol]  # an unknown symbol: KeyError, as Sina's 404
        rows = []
        for day in TRADING_DAYS:
            if not _day(start_date) <= day <= _day(end_date) or (symbol, day) in SUSPENDED:
                continue
            close = close_on(security, day)
            volume = float(round(security.float_shares * (0.004 + 0.001 * (_t(day) % 4))))
            rows.append(
                (day, round(close * 0.99, 2), round(close * 1.02, 2), round(close * 0.98, 2),
                 close, volume, round(volume * close, 1), security.float_shares,
                 volume / security.float_shares)
            )  # fmt: skip
        frame = pd.DataFrame(
            rows,
            columns=["date", "open", "high", "low", "close", "volume", "amount",
                     "outstanding_share", "turnover"],
        )  # fmt: skip
        for name in frame.columns[1:]:
            frame[name] = frame[name].astype("float64")
        return frame

    def _stock_zh_a_spot_em(self) -> pd.DataFrame:
        day = self.spot_day
        rows = []
        listed = [*ALL_SECURITIES, NOT_ON_MARGIN_LIST]
        for i, security in enumerate(sorted(listed, key=lambda s: s.code)):
            symbol = SINA_SYMBOLS.get(security.code, "sz" + security.code)
            suspended = (symbol, day) in SUSPENDED
            close = float("nan") if suspended else close_on(security, day)
            volume_lots = 0.0 if suspended else float(round(security.float_shares * 0.005 / 100))
            rows.append(
                (i + 1, security.code, security.name, close, 0.45, 0.04, volume_lots,
                 volume_lots * 100 * (0 if suspended else close), 1.2, close, close, close,
                 close, 0.98, 0.5, 12.3, -0.8, security.float_shares * 1.3 * close,
                 security.float_shares * close, 0.0, 0.01, -3.2, 5.6)
            )  # fmt: skip
        frame = pd.DataFrame(
            rows,
            columns=["序号", "代码", "名称", "最新价", "涨跌幅", "涨跌额", "成交量", "成交额",
                     "振幅", "最高", "最低", "今开", "昨收", "量比", "换手率", "市盈率-动态",
                     "市净率", "总市值", "流通市值", "涨速", "5分钟涨跌", "60日涨跌幅",
                     "年初至今涨跌幅"],
        )  # fmt: skip
        for name in frame.columns[3:]:
            frame[name] = frame[name].astype("float64")
        return frame

    def _stock_zh_index_daily(self, symbol: str = "sh000922") -> pd.DataFrame:
        base = INDEX_CLOSE[symbol]
        rows = []
        for day in TRADING_DAYS:  # the whole history, whatever the window
            t = _t(day)
            close = round(base * (1 + 0.003 * (t % 6) - 0.007), 2)
            rows.append((day, round(close * 0.995, 2), round(close * 1.01, 2),
                         round(close * 0.99, 2), close, 12_000_000_000 + 10_000_000 * t))  # fmt: skip
        return pd.DataFrame(rows, columns=["date", "open", "high", "low", "close", "volume"])

    def _fund_etf_hist_sina(self, symbol: str = "sh510050") -> pd.DataFrame:
        return pd.DataFrame()  # the stand-in's lists hold no fund: Sina's answer for those

    def _futures_hist_daily_cffex(self, date: str = "20260403") -> pd.DataFrame:
        day = _day(date)
        if day not in TRADING_DAY_SET:
            url = f"http://www.cffex.com.cn/sj/hqsj/rtj/{date[:6]}/{date[6:]}/{date}_1.csv"
            raise urllib.error.HTTPError(url, 404, "Not Found", None, None)  # type: ignore[arg-type]
        t = _t(day)
        rows = []
        for variety, price in FUTURES.items():
            for k, month in enumerate(FUTURE_MONTHS[variety]):
                close = round(price * (1 + 0.002 * ((t + k) % 5) - 0.004) - 8 * k, 1)
                volume = 50_000 - 20_000 * k + 100 * t
                multiplier = 10_000 if variety.startswith("T") else 300
                rows.append(
                    (f"{variety}{month}", date, close - 5, close + 12, close - 15, close,
                     float(volume), float(180_000 - 60_000 * k + 50 * t),
                     round(volume * close * multiplier / 1e4, 2), close + 0.4, close - 2.0,
                     variety)
                )  # fmt: skip
        return pd.DataFrame(
            rows,
            columns=["symbol", "date", "open", "high", "low", "close", "volume",
                     "open_interest", "turnover", "settle", "pre_settle", "variety"],
        )  # fmt: skip


class UnreachableAkshare:
    """akshare that must not be touched (replay): any function raises."""

    __name__ = "akshare"
    __version__ = "unreachable"

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise AssertionError(f"akshare.{name} was called, but nothing may be fetched here")
