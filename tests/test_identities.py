"""The identity between an exchange's published totals and the sum of its detail, as
pure functions: which days fail it, and what the refusal says."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from margin_wh.raw.identities import (
    TOTALS_TOLERANCE_RATIO,
    TotalsMismatch,
    implied_close_mismatch,
    likely_cause,
    totals_mismatches,
    totals_pair,
    unit_exponent,
)
from margin_wh.sources.datasets import DATASETS, EXCHANGES

SSE, SZSE, BSE = EXCHANGES
DAY = dt.date(2024, 10, 8)
TOTAL_CNY = 2.741e10


def test_a_detail_within_the_tolerance_of_the_total_passes():
    within = TOTAL_CNY * (1 - TOTALS_TOLERANCE_RATIO * 0.99)
    assert totals_mismatches(SZSE, {DAY: within}, {DAY: TOTAL_CNY}) == []
    beyond = TOTAL_CNY * (1 - TOTALS_TOLERANCE_RATIO * 1.01)
    [mismatch] = totals_mismatches(SZSE, {DAY: beyond}, {DAY: TOTAL_CNY})
    assert mismatch == TotalsMismatch(SZSE, DAY, detail_cny=beyond, total_cny=TOTAL_CNY)


def test_only_days_held_on_both_sides_with_a_published_total_are_judged():
    other = DAY + dt.timedelta(days=1)
    assert totals_mismatches(SZSE, {DAY: 1.0}, {other: TOTAL_CNY}) == []  # nothing to compare
    assert totals_mismatches(SZSE, {DAY: 1.0}, {DAY: 0.0}) == []  # the pilot's first day
    assert totals_mismatches(SZSE, {DAY: 1.0}, {DAY: float("nan")}) == []  # a blank total
    [nan_detail] = totals_mismatches(SZSE, {DAY: float("nan")}, {DAY: TOTAL_CNY})
    assert nan_detail.trade_date == DAY


def test_a_detail_in_wan_yuan_is_refused_naming_both_figures_and_the_unit():
    [mismatch] = totals_mismatches(SZSE, {DAY: TOTAL_CNY / 1e4}, {DAY: TOTAL_CNY})
    reason = mismatch.reason("detail")
    for fragment in (
        "stock_margin_detail_szse for 2024-10-08",
        "融资余额 summing to 2.741e+06 CNY",
        "the SZSE total loaded (stock_margin_szse) is 2.741e+10 CNY (274.10 亿元)",
        "1/10,000 of the total",
        "the detail looks to be in 万元, its contract says 元",
        "within 2% of each other",
        "this day's detail is refused",
        "margin_wh/sources/datasets.py",
    ):
        assert fragment in reason, (fragment, reason)


def test_a_total_that_contradicts_the_loaded_detail_is_refused_as_the_total():
    # SZSE's totals in 万元 where the contract says 亿元: 10,000x the detail's sum
    [mismatch] = totals_mismatches(SZSE, {DAY: TOTAL_CNY}, {DAY: TOTAL_CNY * 1e4})
    reason = mismatch.reason("total")
    assert reason.startswith("stock_margin_szse for 2024-10-08 arrived with a 融资余额 of")
    assert "the detail loaded (stock_margin_detail_szse) sums to 2.741e+10 CNY" in reason
    assert "the total looks to be in 万元, its contract says 亿元" in reason
    assert "this day's total is refused" in reason


@pytest.mark.parametrize(
    ("arrived_to_expected", "exponent"),
    [(1e-4, 4), (1e-8, 8), (1e4, -4), (0.0105, 2), (1e-3 * 1.2, 3), (0.5, None), (1.3e-4, None),
     (1e-6, None), (0.0, None), (float("nan"), None)],
)  # fmt: skip
def test_a_unit_change_is_a_power_of_ten_between_two_units(arrived_to_expected, exponent):
    assert unit_exponent(arrived_to_expected) == exponent


def test_a_gap_that_is_no_units_is_named_as_what_else_it_may_be():
    assert "securities missing" in likely_cause(SSE, 0.7, "detail")
    assert "another day" in likely_cause(SSE, 1.3, "detail")
    # SSE's totals are in 元: a detail 10,000x too large is no unit the contract knows
    assert "off by a factor of 10,000" in likely_cause(SSE, 1e4, "detail")


def test_each_exchange_pairs_its_detail_with_its_totals():
    assert totals_pair("stock_margin_detail_bse") == (BSE, "detail")
    assert totals_pair("stock_margin_sse") == (SSE, "total")
    assert totals_pair("stock_zh_a_daily") is None


def test_a_refresh_loads_an_exchanges_totals_before_its_detail():
    from orchestration.assets.raw import _upstream, raw_key

    for exchange in EXCHANGES:
        assert raw_key(exchange.summary_function) in _upstream(DATASETS[exchange.detail_function])


# --------------------------------------------------------------------------- volume x close

CODES = ["430047", "830799", "835185"]
CLOSES = pd.Series([9.48, 26.03, 18.40], index=CODES)
VOLUMES = pd.Series([21_000.0, 34_000.0, 48_000.0], index=CODES)


def mismatch_of(balance, volume=VOLUMES, closes=CLOSES):
    return implied_close_mismatch("stock_margin_detail_bse", DAY, balance, volume, closes)


def test_short_balances_at_the_quoted_close_or_a_days_move_from_it_pass():
    assert mismatch_of(VOLUMES * CLOSES) is None
    assert mismatch_of(VOLUMES * CLOSES * 1.3) is None  # a limit-up day since the last close
    # one security's close halved by a bonus issue: the median over the list holds
    assert mismatch_of(VOLUMES * CLOSES * pd.Series([0.5, 1, 1], index=CODES)) is None


def test_a_short_volume_in_lots_is_refused_naming_the_factor():
    mismatch = mismatch_of(VOLUMES * CLOSES, volume=VOLUMES / 100)
    assert mismatch.implied_to_quoted == pytest.approx(100)
    assert mismatch.securities == 3
    reason = mismatch.reason()
    for fragment in ("stock_margin_detail_bse for 2024-10-08", "融券余额 / 融券余量",
                     "a median 100× the close loaded", "3 securities compared",
                     "a factor of 100", "手 (100 shares)", "this day's detail is refused"):  # fmt: skip
        assert fragment in reason, (fragment, reason)


def test_only_securities_with_a_short_position_and_a_quoted_close_are_compared():
    no_close = pd.Series(dtype=float)
    assert mismatch_of(VOLUMES * CLOSES * 100, closes=no_close) is None  # nothing quoted yet
    flat = pd.Series(0.0, index=CODES)
    assert mismatch_of(flat, volume=flat) is None  # no short position anywhere
    one_quoted = CLOSES[[CODES[1]]]
    mismatch = mismatch_of(VOLUMES * CLOSES * 100, closes=one_quoted)
    assert mismatch.securities == 1
