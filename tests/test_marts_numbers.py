"""The marts' numbers against values computed here, in pandas, from the raw frames the
source returned — not from the mart SQL. If a join, a unit or a rank is wrong in dbt,
these disagree."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest

from margin_wh.sources import get_source
from margin_wh.sources.datasets import security_type, sina_symbol

DAY = dt.date(2024, 7, 10)  # the research report's reference day


@pytest.fixture(scope="module")
def expected(warehouse) -> pd.DataFrame:
    """Per security on DAY, from the source's frames: short balance, float cap, ratios."""
    source = get_source(warehouse.settings)
    ymd = DAY.strftime("%Y%m%d")
    sse = source.call("stock_margin_detail_sse", date=ymd)
    szse = source.call("stock_margin_detail_szse", date=ymd)
    bse = source.call("stock_margin_detail_bse", date=ymd)
    detail = pd.concat(
        [
            pd.DataFrame({"security_code": sse["标的证券代码"], "exchange": "SSE",
                          "short_volume_shares": sse["融券余量"].astype(float),
                          "financing_balance_cny": sse["融资余额"].astype(float),
                          "published_short_balance_cny": np.nan}),
            *[
                pd.DataFrame({"security_code": f["证券代码"], "exchange": name,
                              "short_volume_shares": f["融券余量"].astype(float),
                              "financing_balance_cny": f["融资余额"].astype(float),
                              "published_short_balance_cny": f["融券余额"].astype(float)})
                for name, f in (("SZSE", szse), ("BSE", bse))
            ],
        ],
        ignore_index=True,
    )
    closes, shares = {}, {}
    for code in detail["security_code"]:
        if security_type(code) == "fund":  # Sina's fund history: no unit count
            quotes = source.call("fund_etf_hist_sina", symbol=sina_symbol(code))
            quotes["outstanding_share"] = np.nan
        else:
            quotes = source.call("stock_zh_a_daily", symbol=sina_symbol(code),
                                 start_date="20240601", end_date=ymd, adjust="")
        last = quotes[quotes["date"] <= DAY].iloc[-1]  # last close on or before the day
        closes[code], shares[code] = last["close"], last["outstanding_share"]
    detail["close_cny"] = detail["security_code"].map(closes)
    detail["float_market_cap_cny"] = detail["close_cny"] * detail["security_code"].map(shares)
    # SZSE and BSE publish the short balance; SSE's is short volume × close.
    detail["short_balance_cny"] = detail["published_short_balance_cny"].fillna(
        detail["short_volume_shares"] * detail["close_cny"]
    )
    detail["short_to_float_ratio"] = detail["short_balance_cny"] / detail["float_market_cap_cny"]

    industries = source.call("stock_industry_clf_hist_sw")
    pit = industries[industries["start_date"] <= DAY].sort_values("start_date").groupby("symbol").last()
    detail["sw_l1_code"] = detail["security_code"].map(pit["industry_code"].str[:2] + "0000")
    detail["security_type"] = detail["security_code"].map(security_type)
    return detail.set_index("security_code")


def _mart(warehouse, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(warehouse.settings.db_path), read_only=True) as con:
        return con.execute(sql, [DAY]).df()


def test_balance_to_float_matches_raw_frames(warehouse, expected):
    mart = _mart(warehouse, "select * from marts.fct_balance_to_float where trade_date = ?").set_index("security_code")
    assert sorted(mart.index) == sorted(expected.index)
    for column in ("short_balance_cny", "financing_balance_cny", "float_market_cap_cny",
                   "close_cny", "short_to_float_ratio"):
        np.testing.assert_allclose(
            mart.loc[expected.index, column].to_numpy(float), expected[column].to_numpy(float),
            rtol=1e-9, err_msg=column,
        )
    assert (mart.loc[expected.index, "exchange"] == expected["exchange"]).all()
    assert (mart.loc[expected.index, "sw_l1_code"].fillna("-") == expected["sw_l1_code"].fillna("-")).all()
    assert (mart.loc[expected.index, "security_type"] == expected["security_type"]).all()
    assert (expected["security_type"] == "fund").sum() > 0  # the demo's lists hold funds
    # Rank 1 is the highest short/float of the day.
    top = expected["short_to_float_ratio"].idxmax()
    assert mart.loc[top, "short_to_float_rank"] == 1


def test_industry_concentration_matches_raw_frames(warehouse, expected):
    mart = _mart(
        warehouse,
        "select * from marts.fct_short_concentration_by_industry where trade_date = ? and industry_level = 1",
    ).set_index("industry_code")
    industry = expected["sw_l1_code"].where(expected["security_type"] == "stock", "fund")
    by_industry = expected.assign(sw_l1_code=industry.fillna("unknown")).groupby("sw_l1_code")
    short = by_industry["short_balance_cny"].sum()
    share = short / expected["short_balance_cny"].sum()
    hhi = by_industry["short_balance_cny"].apply(lambda s: ((s / s.sum()) ** 2).sum() if s.sum() > 0 else np.nan)
    np.testing.assert_allclose(mart.loc[short.index, "short_balance_cny"], short, rtol=1e-9)
    np.testing.assert_allclose(mart.loc[share.index, "share_of_market_short_ratio"], share, rtol=1e-9)
    has_short = hhi.dropna().index
    np.testing.assert_allclose(mart.loc[has_short, "short_hhi"], hhi[has_short], rtol=1e-9)
    # The top security is defined where the industry has any short balance at all.
    top = by_industry["short_balance_cny"].idxmax()[short > 0]
    assert len(top) > 5
    assert (mart.loc[top.index, "top_short_security_code"] == top).all()


def test_market_totals_match_raw_frames(warehouse, expected):
    mart = _mart(warehouse, "select * from marts.fct_market_short_daily where trade_date = ?").iloc[0]
    assert mart["short_balance_cny"] == pytest.approx(expected["short_balance_cny"].sum(), rel=1e-9)
    assert mart["financing_balance_cny"] == pytest.approx(expected["financing_balance_cny"].sum(), rel=1e-9)
    # funds count in the balances, not in the ratio to float (they have no float cap)
    with_cap = expected[expected["float_market_cap_cny"].notna()]
    assert mart["short_to_float_ratio"] == pytest.approx(
        with_cap["short_balance_cny"].sum() / with_cap["float_market_cap_cny"].sum(), rel=1e-9
    )
