"""Arrival checks: numbers, codes and dates as the exchanges print them, and the errors
a frame that breaks the contract gets (naming the call, the day, the expected and the
arrived). Frames come from the stand-in, shaped as akshare returns them."""

from __future__ import annotations

import datetime as dt
import math
import re

import numpy as np
import pandas as pd
import pytest
from standins import FakeAkshare

from margin_wh.sources.datasets import DATASETS
from margin_wh.sources.parse import (
    SourceDataError,
    parse_codes,
    parse_dates,
    parse_frame,
    parse_numbers,
)

DAY = dt.date(2024, 10, 8)
DATE = "20241008"


def values(series: pd.Series) -> list:
    return [None if isinstance(v, float) and math.isnan(v) else v for v in series.tolist()]


# --------------------------------------------------------------------------- numbers


def test_parse_numbers_as_the_exchanges_print_them():
    raw = pd.Series(
        ["1,234.5", "-", "", None, "12a", " 7 ", "1,234,567", "--", "—", "1e3", 42, 3.25],
        dtype=object,
    )
    parsed, bad = parse_numbers(raw)
    assert parsed.dtype == "float64"
    assert values(parsed) == [1234.5, None, None, None, None, 7.0, 1234567.0, None, None,
                              1000.0, 42.0, 3.25]  # fmt: skip
    assert bad == [(4, "12a")]


def test_parse_numbers_reports_every_unparseable_value():
    parsed, bad = parse_numbers(pd.Series(["1.2.3", "N/A", "5%", True, "1,000"], dtype=object))
    assert bad == [(0, "1.2.3"), (1, "N/A"), (2, "5%"), (3, True)]
    assert values(parsed)[-1] == 1000.0


def test_parse_numbers_keeps_numeric_columns():
    parsed, bad = parse_numbers(pd.Series([1, 2**40, 0], dtype="int64"))
    assert values(parsed) == [1.0, float(2**40), 0.0]
    assert parsed.dtype == "float64" and bad == []
    parsed, bad = parse_numbers(pd.Series([1.5, np.nan]))
    assert values(parsed) == [1.5, None] and bad == []


def test_parse_numbers_on_pandas_string_dtype():
    parsed, bad = parse_numbers(pd.Series(["6,900.53", "-"], dtype="str"))
    assert values(parsed) == [6900.53, None] and bad == []


# --------------------------------------------------------------------------- codes


def test_parse_codes_pads_ints_from_older_files():
    raw = pd.Series([1, "000001", "600000", 300750, np.int64(2594), None, 2.0], dtype=object)
    parsed, bad = parse_codes(raw)
    assert values(parsed) == ["000001", "000001", "600000", "300750", "002594", None, "000002"]
    assert bad == []


def test_parse_codes_reports_what_is_not_a_code():
    raw = pd.Series(["60000a", "1234567", "sh600000", 1.5, True], dtype=object)
    parsed, bad = parse_codes(raw)
    assert bad == [(0, "60000a"), (1, "1234567"), (2, "sh600000"), (3, 1.5), (4, True)]
    assert values(parsed) == [None] * 5


# --------------------------------------------------------------------------- dates


def test_parse_dates_in_every_shape_akshare_returns():
    raw = pd.Series(
        ["20240110", "2024-01-10", dt.date(2024, 1, 10), pd.Timestamp("2024-01-10"),
         dt.datetime(2024, 1, 10, 15, 0), None, "2024/01/10", "20241301"],
        dtype=object,
    )  # fmt: skip
    parsed, bad = parse_dates(raw)
    assert values(parsed) == [dt.date(2024, 1, 10)] * 5 + [None, None, None]
    assert all(type(v) is dt.date for v in values(parsed)[:5])
    assert bad == [(6, "2024/01/10"), (7, "20241301")]


def test_parse_dates_of_a_datetime64_column():
    parsed, bad = parse_dates(pd.Series(pd.to_datetime(["2024-10-08", None])))
    assert values(parsed) == [DAY, None] and bad == []


# --------------------------------------------------------------------------- frames


@pytest.fixture
def ak() -> FakeAkshare:
    return FakeAkshare()


def parse(function: str, frame: pd.DataFrame, kwargs: dict, trade_day=DAY) -> pd.DataFrame:
    return parse_frame(DATASETS[function], frame, kwargs, trade_day)


def test_szse_detail_gets_its_trade_date_from_the_request(ak):
    frame = ak.stock_margin_detail_szse(date=DATE)
    typed = parse("stock_margin_detail_szse", frame, {"date": DATE})
    assert set(typed["trade_date"]) == {DAY}
    assert typed["证券代码"].tolist() == ["000001", "000002", "002594", "300750"]
    assert typed["融资余额"].tolist() == [float(v) for v in frame["融资余额"]]


def test_ugly_but_valid_szse_detail_parses_as_meant(ak):
    clean = ak.clean("stock_margin_detail_szse", date=DATE)
    ak.thousands("stock_margin_detail_szse").int_codes("stock_margin_detail_szse")
    ak.blanks("stock_margin_detail_szse", "融券余额")
    frame = ak.stock_margin_detail_szse(date=DATE)
    assert frame.loc[0, "融资余额"] == f"{clean.loc[0, '融资余额']:,}"  # the ugly case is on
    assert frame.loc[0, "证券代码"] == 1
    typed = parse("stock_margin_detail_szse", frame, {"date": DATE})
    assert typed["证券代码"].tolist() == clean["证券代码"].tolist()
    assert typed["融资余额"].tolist() == [float(v) for v in clean["融资余额"]]
    assert values(typed["融券余额"]) == [None, None] + [float(v) for v in clean["融券余额"][2:]]


def test_sse_detail_date_column_must_be_the_requested_day(ak):
    frame = ak.stock_margin_detail_sse(date="20240930")
    with pytest.raises(SourceDataError) as error:
        parse("stock_margin_detail_sse", frame, {"date": DATE})
    message = str(error.value)
    assert "stock_margin_detail_sse(date='20241008')" in message
    assert "asked for 2024-10-08" in message and "2024, 9, 30" in message


# Each bad case: (function, kwargs, how the frame is spoiled, fragments of the message).
BAD_CASES = {
    "renamed column": (
        "stock_margin_detail_sse", {"date": DATE},
        lambda ak: ak.rename("stock_margin_detail_sse", "融资余额", "融资余额(元)"),
        ["missing ['融资余额']", "unexpected ['融资余额(元)']", "renamed upstream",
         "expected ['信用交易日期', '标的证券代码'", "arrived ['信用交易日期', '标的证券代码'"],
    ),
    "missing column": (
        "stock_margin_detail_szse", {"date": DATE},
        lambda ak: ak.drop("stock_margin_detail_szse", "融券余额"),
        ["missing ['融券余额']", "unexpected []", "'融资融券余额']; arrived ['证券代码'"],
    ),
    "unparseable number": (
        "stock_margin_detail_szse", {"date": DATE},
        lambda ak: ak.unparseable("stock_margin_detail_szse", "融资余额", "12a", row=1),
        ["column '融资余额'", "expected number in CNY", "row 1: '12a'"],
    ),
    "duplicated key": (
        "stock_margin_detail_bse", {"date": DATE},
        lambda ak: ak.duplicate_row("stock_margin_detail_bse", row=0),
        ["duplicated key ['证券代码', 'trade_date']", "2 rows share keys", "'430047'"],
    ),
    "negative value": (
        "stock_margin_detail_sse", {"date": DATE},
        lambda ak: ak.scale("stock_margin_detail_sse", "融券余量", -1),
        ["column '融券余量'", "negative value", "-5703600"],
    ),
    "SZSE summary in CNY instead of 亿": (
        "stock_margin_szse", {"date": DATE},
        lambda ak: ak.scale("stock_margin_szse", "融资余额", 1e8),
        ["column '融资余额'", "wrong unit", "[0.001, 100000] 100m_CNY", "arrived with median"],
    ),
    "outstanding_share in 万股": (
        "stock_zh_a_daily",
        {"symbol": "sz000001", "start_date": "20240926", "end_date": "20241010", "adjust": ""},
        lambda ak: ak.scale("stock_zh_a_daily", "outstanding_share", 1e-4),
        ["column 'outstanding_share'", "wrong unit", "[1e+06, 1e+12] shares",
         "arrived with median 194000"],
    ),
    "empty frame": (
        "stock_margin_detail_bse", {"date": DATE},
        lambda ak: ak.empty("stock_margin_detail_bse"),
        ["empty frame", "not published yet"],
    ),
    "empty frame without columns": (
        "futures_hist_daily_cffex", {"date": DATE},
        lambda ak: ak.empty("futures_hist_daily_cffex", columnless=True),
        ["empty frame", "not published yet"],
    ),
    "a '-' where the exchange publishes a number": (
        "stock_margin_detail_szse", {"date": DATE},
        lambda ak: ak.unparseable("stock_margin_detail_szse", "融资买入额", "-", row=1),
        ["column '融资买入额' expected a number in every row", "blank or '-' in 1 of", "'证券代码'"],
    ),
    "a blank in the SSE totals": (
        "stock_margin_sse", {"start_date": DATE, "end_date": DATE},
        lambda ak: ak.unparseable("stock_margin_sse", "融券卖出量", "", row=0),
        ["column '融券卖出量' expected a number in every row"],
    ),
    "a code that is not a code": (
        "stock_margin_detail_szse", {"date": DATE},
        lambda ak: ak.unparseable("stock_margin_detail_szse", "证券代码", "-", row=0),
        ["column '证券代码'", "expected code", "row 0: '-'"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_frames_are_refused_with_a_message_that_says_what_and_where(ak, case):
    function, kwargs, spoil, fragments = BAD_CASES[case]
    spoil(ak)
    frame = getattr(ak, function)(**kwargs)
    trade_day = DAY if "date" in kwargs else None
    with pytest.raises(SourceDataError) as error:
        parse(function, frame, kwargs, trade_day)
    message = str(error.value)
    call = f"{function}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
    assert message.startswith(call), message
    if trade_day:
        assert "for trading day 2024-10-08" in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_the_wrong_unit_message_gives_the_median_that_arrived(ak):
    ak.scale("stock_margin_szse", "融资余额", 1e8)
    frame = ak.stock_margin_szse(date=DATE)
    expected_median = ak.clean("stock_margin_szse", date=DATE).loc[0, "融资余额"] * 1e8
    with pytest.raises(
        SourceDataError, match=re.escape(f"arrived with median {expected_median:g}")
    ):
        parse("stock_margin_szse", frame, {"date": DATE})


def test_not_a_frame_at_all(ak):
    with pytest.raises(SourceDataError, match=r"expected a pandas DataFrame, got NoneType"):
        parse("stock_margin_szse", None, {"date": DATE})


# --------------------------------------------------------------------------- lists, accounts


def _szse_list(**flags) -> pd.DataFrame:
    return pd.DataFrame({
        "证券代码": ["000001", "300750"], "证券简称": ["平安银行", "宁德时代"],
        "融资标的": ["Y", "Y"], "融券标的": ["Y", "N"], "当日可融资": ["Y", "Y"],
        "当日可融券": ["Y", "N"], "融券卖出价格限制": ["Y", "Y"], "涨跌幅限制": ["10%", "20%"],
        **flags,
    })  # fmt: skip


def test_an_eligible_list_with_y_n_flags_parses_and_anything_else_is_refused():
    dataset = DATASETS["stock_margin_underlying_info_szse"]
    typed = parse_frame(dataset, _szse_list(), {"date": DATE}, DAY)
    assert list(typed["trade_date"]) == [DAY, DAY]
    # a number where a flag belongs: the site's columns moved
    with pytest.raises(SourceDataError, match=r"融资标的, 融券标的, 当日可融资, 当日可融券 in"):
        parse_frame(dataset, _szse_list(融券标的=["Y", "1.5"]), {"date": DATE}, DAY)


def test_bse_list_may_mark_its_flags_in_chinese():
    frame = _szse_list(融资标的=["是", "是"], 融券标的=["否", "是"], 当日可融资=["是", "是"],
                       当日可融券=["否", "否"]).drop(columns=["融券卖出价格限制", "涨跌幅限制"])  # fmt: skip
    typed = parse_frame(DATASETS["stock_margin_underlying_info_bse"], frame, {"date": DATE}, DAY)
    assert len(typed) == 2


def _accounts(ratio: float) -> pd.DataFrame:
    return pd.DataFrame({
        "日期": [dt.date(2024, 7, 10), dt.date(2024, 7, 11)],
        "融资余额": [14_512.3, 14_498.1], "融券余额": [231.4, 228.9], "融资买入额": [512.3, 498.7],
        "融券卖出额": [8.1, 7.6], "证券公司数量": [96.0, 96.0], "营业部数量": [11_321.0, 11_320.0],
        "个人投资者数量": [1_245.3, 1_244.9], "机构投资者数量": [49_100.0, 49_120.0],
        "参与交易的投资者数量": [412_000.0, 408_000.0],
        "有融资融券负债的投资者数量": [5_021_000.0, 5_019_000.0],
        "担保物总价值": [46_123.5, 46_010.2], "平均维持担保比例": [ratio, ratio],
    })  # fmt: skip


def test_account_statistics_in_percent_parse_and_a_fraction_is_refused_as_a_unit_change():
    dataset = DATASETS["stock_margin_account_info"]
    typed = parse_frame(dataset, _accounts(247.31), {})
    assert typed["平均维持担保比例"].tolist() == [247.31, 247.31]
    with pytest.raises(SourceDataError, match="平均维持担保比例.*wrong unit"):
        parse_frame(dataset, _accounts(2.4731), {})  # 2.47 is a fraction: 247 % in percent
