"""akshare's real functions against the fake sites of tests/akshare_http.py.

Each test builds the frame akshare should return, lets the site encode it as the
exchange / portal sends it, and checks that akshare's own parsing gives the frame back.
"""

from __future__ import annotations

import datetime as dt
import urllib.error

import akshare
import numpy as np
import pandas as pd
import pytest
import requests

from tests.akshare_http import AkshareSites


def serve(table: dict[str, pd.DataFrame | None], **options) -> AkshareSites:
    """Sites answering each function with one frame, whatever the arguments."""
    return AkshareSites(lambda function, kwargs: table.get(function), **options)


def same(got: pd.DataFrame, want: pd.DataFrame, **loosen) -> None:
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True), **loosen)


D = dt.date


# --------------------------------------------------------------------------- frames

SSE_DETAIL = pd.DataFrame({
    "信用交易日期": ["20240710"] * 3,
    "标的证券代码": ["600000", "600036", "688981"],
    "标的证券简称": ["浦发银行", "招商银行", "中芯国际"],
    "融资余额": [4_113_500_000, 6_204_300_000, 5_512_900_000],
    "融资买入额": [61_230_000, 150_120_400, 402_300_100],
    "融资偿还额": [58_000_100, 141_020_000, 398_700_000],
    "融券余量": [5_820_000, 2_310_000, 3_400_000],
    "融券卖出量": [120_000, 40_100, 88_000],
    "融券偿还量": [98_000, 51_000, 90_300],
})  # fmt: skip
SSE_SUMMARY = pd.DataFrame({
    "信用交易日期": ["20240711", "20240710"],  # newest first, as SSE lists them
    "融资余额": [781_234_500_000, 780_998_100_000],
    "融资买入额": [31_204_000_000, 29_887_400_000],
    "融券余量": [3_120_400_000, 3_170_900_000],
    "融券余量金额": [21_400_300_000, 21_880_100_000],
    "融券卖出量": [130_200_000, 142_800_000],
    "融资融券余额": [802_634_800_000, 802_878_200_000],
})  # fmt: skip
SZSE_DETAIL = pd.DataFrame({
    "证券代码": ["000001", "000002", "300750"],
    "证券简称": ["平安银行", "万科Ａ", "宁德时代"],
    "融资买入额": [210_450_000, 98_120_000, 1_204_300_000],
    "融资余额": [5_620_400_000, 3_104_800_000, 9_905_100_000],
    "融券卖出量": [101_000, 0, 12_300],
    "融券余量": [4_100_000, 6_080_000, 410_000],
    "融券余额": [44_772_000, 47_484_800, 60_926_000],
    "融资融券余额": [5_665_172_000, 3_152_284_800, 9_966_026_000],
})  # fmt: skip
SZSE_SUMMARY = pd.DataFrame({  # 亿元 / 亿股, as SZSE reports them
    "融资买入额": [412.57], "融资余额": [6_893.12], "融券卖出量": [0.41],
    "融券余量": [8.79], "融券余额": [52.31], "融资融券余额": [6_945.43],
})  # fmt: skip
BSE_DETAIL = pd.DataFrame({
    "证券代码": ["430047", "830799", "835185"],
    "证券简称": ["诺思兰德", "艾融软件", "贝特瑞"],
    "融资买入额": [1_203_000, 4_512_300, 8_870_000],
    "融资余额": [32_150_000, 151_200_000, 213_900_000],
    "融券卖出量": [0, 1_200, 3_000],
    "融券余量": [21_000, 34_000, 48_000],
    "融券余额": [199_080, 885_020, 883_200],
    "融资融券余额": [32_349_080, 152_085_020, 214_783_200],
})  # fmt: skip
BSE_SUMMARY = pd.DataFrame({  # 万元 / 万股
    "融资买入额": [15_585.73], "融资余额": [397_250.0], "融券卖出量": [0.42],
    "融券余量": [10.3], "融券余额": [196.73], "融资融券余额": [397_446.73],
})  # fmt: skip
SPOT_COLUMNS = [
    "序号", "代码", "名称", "最新价", "涨跌幅", "涨跌额", "成交量", "成交额", "振幅", "最高", "最低",
    "今开", "昨收", "量比", "换手率", "市盈率-动态", "市净率", "总市值", "流通市值", "涨速", "5分钟涨跌",
    "60日涨跌幅", "年初至今涨跌幅",
]  # fmt: skip


def _quote(code, name, price, change, volume):
    if price is None:  # suspended: Eastmoney shows "-" for every figure
        return [code, name] + [np.nan] * 20
    prev = round(price / (1 + change / 100), 2)
    return [code, name, price, change, round(price - prev, 2), volume, round(volume * price * 100, 1),
            2.1, round(price * 1.01, 2), round(price * 0.99, 2), prev, prev, 1.02, 0.35, 5.2, 0.61,
            1.6e11, 1.5e11, 0.01, -0.02, 3.1, 8.4]  # fmt: skip


SPOT = pd.DataFrame(
    [
        [i + 1, *q]
        for i, q in enumerate([
            _quote("300750", "宁德时代", 148.6, 3.21, 301_200.0),
            _quote("600000", "浦发银行", 8.52, 0.83, 512_300.0),
            _quote("000001", "平安银行", 10.92, -1.27, 1_203_400.0),
            _quote("000002", "万科Ａ", None, None, None),
        ])
    ],
    columns=SPOT_COLUMNS,
)  # fmt: skip


def _bars(days, closes, volumes, *, shares=None, prevclose=False):
    frame = pd.DataFrame({
        "date": days,
        "open": [round(c * 0.99, 2) for c in closes],
        "high": [round(c * 1.02, 2) for c in closes],
        "low": [round(c * 0.97, 2) for c in closes],
        "close": closes,
        "volume": volumes,
        "amount": [float(round(v * c)) for v, c in zip(volumes, closes, strict=True)],
    })  # fmt: skip
    if prevclose:
        frame.insert(1, "prevclose", [closes[0], *closes[:-1]])
    if shares is not None:
        frame["outstanding_share"] = shares
        frame["turnover"] = frame["volume"] / frame["outstanding_share"]
    return frame


DAILY = _bars(
    [D(2024, 7, 8), D(2024, 7, 9), D(2024, 7, 10), D(2024, 7, 11)],
    [8.52, 8.61, 8.47, 8.55],
    [31_234_500.0, 28_000_100.0, 40_120_000.0, 25_300_000.0],
    shares=[29_352_080_400.0] * 2 + [29_352_180_400.0] * 2,
)
CFFEX = pd.DataFrame({
    "symbol": ["IF2407", "IF2408", "IH2407", "T2409"],
    "date": ["20240710"] * 4,
    "open": [3_480.0, 3_475.2, 2_401.6, 105.71],
    "high": [3_502.4, 3_497.0, 2_415.0, 105.83],
    "low": [3_461.8, 3_458.6, 2_395.2, 105.62],
    "close": [3_494.2, 3_489.0, 2_410.8, 105.8],
    "volume": [61_203, 12_044, 23_110, 70_412],
    "open_interest": [152_300, 41_020, 60_110, 182_003],
    "turnover": [6_402_113.2, 1_256_880.1, 1_668_004.5, 7_447_301.7],
    "settle": [3_492.6, 3_487.2, 2_409.4, 105.78],
    "pre_settle": [3_470.0, 3_466.4, 2_398.8, 105.7],
    "variety": ["IF", "IF", "IH", "T"],
})  # fmt: skip


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    "function, frame, kwargs",
    [
        ("stock_margin_detail_sse", SSE_DETAIL, {"date": "20240710"}),
        ("stock_margin_sse", SSE_SUMMARY, {"start_date": "20240710", "end_date": "20240711"}),
        ("stock_margin_detail_szse", SZSE_DETAIL, {"date": "20240710"}),
        ("stock_margin_szse", SZSE_SUMMARY, {"date": "20240710"}),
        ("stock_margin_detail_bse", BSE_DETAIL, {"date": "20240710"}),
        ("stock_margin_bse", BSE_SUMMARY, {"date": "20240710"}),
        ("stock_zh_a_spot_em", SPOT, {}),
        ("futures_hist_daily_cffex", CFFEX, {"date": "20240710"}),
    ],
)
def test_akshare_parses_back_the_served_frame(function, frame, kwargs):
    asked = []

    def frames(name, args):
        asked.append((name, args))
        return frame

    with AkshareSites(frames) as sites:
        got = getattr(akshare, function)(**kwargs)
    same(got, frame)
    assert asked and {name for name, _ in asked} == {function}
    assert sites.calls == asked
    assert all(args == kwargs for _, args in asked)


def test_bse_detail_follows_every_page():
    with serve(
        {"stock_margin_detail_bse": BSE_DETAIL}, page_sizes={"stock_margin_detail_bse": 2}
    ) as sites:
        got = akshare.stock_margin_detail_bse(date="20240710")
    same(got, BSE_DETAIL)
    assert sites.calls_of("stock_margin_detail_bse") == [{"date": "20240710"}] * 2


def test_eastmoney_spot_is_paged_and_renumbered_by_change():
    with serve({"stock_zh_a_spot_em": SPOT}, page_sizes={"stock_zh_a_spot_em": 3}) as sites:
        got = akshare.stock_zh_a_spot_em()
    same(got, SPOT)
    assert len(sites.calls) == 2


def test_sina_daily_bars_through_the_real_decoder():
    with serve({"stock_zh_a_daily": DAILY}) as sites:
        got = akshare.stock_zh_a_daily(
            symbol="sh600000", start_date="20240709", end_date="20240711"
        )
    same(got, DAILY.iloc[1:])
    assert sites.calls == [("stock_zh_a_daily", {"symbol": "sh600000"})] * 2  # bars, shares


def test_a_share_change_on_a_non_trading_day_adds_a_row():
    """Sina dates a share-count change Saturday 2024-07-13. akshare outer-merges that date
    into the bars and forward-fills it with Friday's bar; it drops such a copy only when
    Friday is inside the window too, so a window opening on the weekend keeps it."""
    shares = {D(2024, 7, 11): 29_352_080_400.0, D(2024, 7, 13): 29_400_000_000.0}
    bars = _bars([D(2024, 7, 11), D(2024, 7, 12), D(2024, 7, 15), D(2024, 7, 16)],
                 [8.52, 8.61, 8.47, 8.55], [31_234_500.0, 28_000_100.0, 40_120_000.0, 25_300_000.0],
                 shares=[29_352_080_400.0] * 2 + [29_400_000_000.0] * 2)  # fmt: skip
    bars.attrs["share_changes"] = shares
    with serve({"stock_zh_a_daily": bars}):
        whole = akshare.stock_zh_a_daily(
            symbol="sh600000", start_date="20240711", end_date="20240716"
        )
        weekend = akshare.stock_zh_a_daily(
            symbol="sh600000", start_date="20240713", end_date="20240716"
        )
    same(whole, bars)  # Friday is in the window: the Saturday copy is dropped as a duplicate
    saturday = bars.iloc[[1]].assign(date=D(2024, 7, 13), outstanding_share=29_400_000_000.0)
    saturday["turnover"] = saturday["volume"] / saturday["outstanding_share"]
    same(weekend, pd.concat([saturday, bars.iloc[2:]]))


def test_sina_index_and_etf_bars_keep_the_decoders_extra_fields():
    index = _bars([D(2024, 7, 9), D(2024, 7, 10)], [3_503.214, 3_498.101], [1.2e10, 1.1e10])
    etf = _bars(
        [D(2024, 7, 9), D(2024, 7, 10)], [2.345, 2.351], [812_300.0, 790_100.0], prevclose=True
    )
    with serve({"stock_zh_index_daily": index, "fund_etf_hist_sina": etf}) as sites:
        got_index = akshare.stock_zh_index_daily(symbol="sh000300")
        got_etf = akshare.fund_etf_hist_sina(symbol="sh510050")
    # akshare converts the prices it names; the decoder's other fields come as JSON gave them
    same(got_index, index, check_dtype=False)
    same(got_etf, etf, check_dtype=False)
    assert [name for name, _ in sites.calls] == ["stock_zh_index_daily", "fund_etf_hist_sina"]


def test_sina_trading_calendar_through_the_real_decoder():
    days = [D(1990, 12, 19), D(1990, 12, 20), D(1990, 12, 21), D(1990, 12, 24), D(1992, 5, 4),
            D(2024, 9, 13), D(2024, 9, 18), D(2024, 9, 30), D(2024, 10, 8)]  # fmt: skip
    calendar = pd.DataFrame({"trade_date": days})
    with serve({"tool_trade_date_hist_sina": calendar}):
        got = akshare.tool_trade_date_hist_sina()
    same(got, calendar)


def test_shenwan_industry_history_from_the_xlsx():
    frame = pd.DataFrame({
        "symbol": ["000001", "600000"],
        "start_date": [D(2021, 7, 30), D(2014, 1, 1)],
        "industry_code": ["480301", "480301"],
        "update_time": [D(2021, 7, 30), D(2022, 8, 1)],
    })  # fmt: skip
    with serve({"stock_industry_clf_hist_sw": frame}):
        got = akshare.stock_industry_clf_hist_sw()
    same(got, frame)


def test_underlying_lists_account_statistics_and_etf_history():
    szse = pd.DataFrame({
        "证券代码": ["000001", "000002"], "证券简称": ["平安银行", "万科Ａ"],
        "融资标的": ["Y", "Y"], "融券标的": ["Y", "N"], "当日可融资": ["Y", "Y"], "当日可融券": ["Y", "N"],
        "融券卖出价格限制": ["Y", "Y"], "涨跌幅限制": ["10%", "10%"],
    })  # fmt: skip
    bse = pd.DataFrame({
        "证券代码": ["430047", "830799"], "证券简称": ["诺思兰德", "艾融软件"],
        "融资标的": ["是", "是"], "融券标的": ["是", "否"], "当日可融资": ["是", "是"], "当日可融券": ["否", "否"],
    })  # fmt: skip
    # the investor counts in 万名, as public loaders of this report store them (akshare's
    # docs say 名): the contract takes either (tests/test_disputed_units.py)
    account = pd.DataFrame({
        "日期": [D(2024, 7, 10), D(2024, 7, 11)],
        "融资余额": [14_512.3, 14_498.1], "融券余额": [231.4, 228.9],
        "融资买入额": [512.3, 498.7], "融券卖出额": [8.1, 7.6], "证券公司数量": [96, 96],
        "营业部数量": [11_321, 11_320], "个人投资者数量": [1_245.3, 1_244.9],
        "机构投资者数量": [4.91, 4.91], "参与交易的投资者数量": [41.2, 40.8],
        "有融资融券负债的投资者数量": [502.1, 501.9], "担保物总价值": [46_123.5, 46_010.2],
        "平均维持担保比例": [247.31, 246.85],
    })  # fmt: skip
    etf = pd.DataFrame({
        "日期": ["2024-07-10", "2024-07-11"], "开盘": [2.345, 2.351], "收盘": [2.351, 2.362],
        "最高": [2.36, 2.371], "最低": [2.34, 2.348], "成交量": [8_123_004, 7_901_233],
        "成交额": [1_907_112_340.0, 1_862_330_120.0], "振幅": [0.85, 0.98], "涨跌幅": [0.26, 0.47],
        "涨跌额": [0.006, 0.011], "换手率": [0.45, 0.43],
    })  # fmt: skip
    table = {
        "stock_margin_underlying_info_szse": szse,
        "stock_margin_underlying_info_bse": bse,
        "stock_margin_account_info": account,
        "fund_etf_hist_em": etf,
    }
    with serve(table, page_sizes={"stock_margin_account_info": 1}) as sites:
        same(akshare.stock_margin_underlying_info_szse(date="20240710"), szse)
        same(akshare.stock_margin_underlying_info_bse(date="20240710"), bse)
        same(akshare.stock_margin_account_info(), account)
        same(
            akshare.fund_etf_hist_em(symbol="510050", start_date="20240710", end_date="20240711"),
            etf,
        )
    assert len(sites.calls_of("stock_margin_account_info")) == 3  # page 1, then pages 1 and 2
    assert sites.calls_of("fund_etf_hist_em") == [
        {"symbol": "510050", "period": "daily", "start_date": "20240710", "end_date": "20240711",
         "adjust": ""}
    ]  # fmt: skip


# --------------------------------------------------------------------------- failures


def test_an_unserved_url_raises_instead_of_reaching_the_network():
    with serve({}):
        with pytest.raises(requests.ConnectionError):
            requests.get("https://www.szse.cn/api/other/report")
        with pytest.raises(urllib.error.URLError):
            pd.read_csv("http://www.cffex.com.cn/sj/other.csv")


def test_an_http_500_from_sse_surfaces_as_a_json_error():
    with serve({"stock_margin_detail_sse": SSE_DETAIL}) as sites:
        sites.fail("stock_margin_detail_sse", error=500)
        with pytest.raises(requests.JSONDecodeError):
            akshare.stock_margin_detail_sse(date="20240710")
        same(akshare.stock_margin_detail_sse(date="20240710"), SSE_DETAIL)  # the fault was used up
    assert len(sites.calls_of("stock_margin_detail_sse")) == 2


def test_eastmoney_retries_a_500_then_raises_the_http_error():
    with serve({"stock_zh_a_spot_em": SPOT}) as sites:
        sites.fail("stock_zh_a_spot_em", times=3, error=500)
        with pytest.raises(requests.HTTPError, match="500"):
            akshare.stock_zh_a_spot_em()
    assert len(sites.calls) == 3  # request_with_retry's three attempts


def test_a_connection_error_and_an_html_page_in_place_of_jsonp():
    with serve({"stock_margin_bse": BSE_SUMMARY}) as sites:
        sites.fail("stock_margin_bse", error=requests.ConnectionError)
        sites.fail("stock_margin_bse", error="<html><body>访问过于频繁</body></html>")
        with pytest.raises(requests.ConnectionError):
            akshare.stock_margin_bse(date="20240710")
        with pytest.raises(ValueError, match="JSONP"):
            akshare.stock_margin_bse(date="20240710")


def test_cffex_answers_a_non_trading_day_with_a_404():
    with serve({"futures_hist_daily_cffex": None}) as sites:
        with pytest.raises(urllib.error.HTTPError) as caught:
            akshare.futures_hist_daily_cffex(date="20240713")
    assert caught.value.code == 404
    assert sites.calls == [("futures_hist_daily_cffex", {"date": "20240713"})]


def test_szse_numeric_cells_break_akshares_text_handling():
    with serve({"stock_margin_detail_szse": SZSE_DETAIL}, numeric_cells=True):
        with pytest.raises(AttributeError, match=".str accessor"):
            akshare.stock_margin_detail_szse(date="20240710")
