"""The demo market answers like akshare: the raw contract, its identities, its story."""

from __future__ import annotations

import datetime as dt
import re
import urllib.error

import numpy as np
import pandas as pd
import pytest

from margin_wh.sources.datasets import DATASETS, SPOT_INDEX_SYMBOLS, security_type, sina_symbol
from margin_wh.sources.demo import (
    HOT_INDUSTRIES,
    SW2021_SEED,
    DemoMarket,
    demo_trading_calendar,
)

START, END = dt.date(2023, 9, 1), dt.date(2024, 10, 31)
SMALL = {"securities": 60, "start": START, "end": END}
# Columns akshare returns as 'YYYYMMDD' strings rather than dates.
YYYYMMDD_COLUMNS = {
    ("stock_margin_detail_sse", "信用交易日期"),
    ("stock_margin_sse", "信用交易日期"),
    ("futures_hist_daily_cffex", "date"),
}
# 6-digit codes: securities, and Shenwan industries.
CODE_COLUMNS = {
    "证券代码",
    "标的证券代码",
    "stock_industry_clf_hist_sw.symbol",
    "stock_industry_clf_hist_sw.industry_code",
}
PER_DAY = [f for f, d in DATASETS.items() if d.call == "per_day"]


@pytest.fixture(scope="module")
def market() -> DemoMarket:
    return DemoMarket(**SMALL)


@pytest.fixture(scope="module")
def default_market() -> DemoMarket:
    """The default size (300 securities, 2023-01..2025-06): the unit checks apply to it."""
    return DemoMarket()


def yyyymmdd(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


def sample_kwargs(market: DemoMarket, function: str, day: str = "20240710") -> dict:
    """A representative call of each dataset, as the loader would make it."""
    dataset = DATASETS[function]
    kwargs = dict(dataset.fixed_kwargs)
    if dataset.call == "per_day":
        kwargs["date"] = day
    elif dataset.call == "range":
        kwargs.update(start_date="20240701", end_date=day)
    elif dataset.call == "per_symbol_range":
        kwargs.update(symbol=listed(market, "stock", day), start_date="20240101", end_date=day)
    elif function == "fund_etf_hist_sina":
        kwargs["symbol"] = listed(market, "fund", day)
    elif dataset.call == "per_symbol_full":
        kwargs["symbol"] = SPOT_INDEX_SYMBOLS["IF"]
    return kwargs


def listed(market: DemoMarket, kind: str, day: str = "20240710") -> str:
    """The Sina symbol of the first security of a kind on SZSE's margin list that day."""
    codes = market.call("stock_margin_detail_szse", date=day)["证券代码"]
    return sina_symbol(next(c for c in codes if security_type(c) == kind))


def close_on(market: DemoMarket, code: str, day: str) -> tuple[float, float | None]:
    """(the last close on or before `day`, float shares or None for a fund), from the akshare
    function the warehouse asks for that security."""
    symbol = sina_symbol(code)
    if security_type(code) == "fund":
        bars = market.call("fund_etf_hist_sina", symbol=symbol)
        bars = bars[bars["date"] <= dt.datetime.strptime(day, "%Y%m%d").date()]
        return bars["close"].iloc[-1], None
    bars = market.call("stock_zh_a_daily", symbol=symbol, end_date=day)
    return bars["close"].iloc[-1], bars["outstanding_share"].iloc[-1]


def futures_between(market: DemoMarket, start: dt.date, end: dt.date) -> pd.DataFrame:
    """CFFEX's daily files of every demo trading day in [start, end], one after another."""
    days = [d for d in market.trading_days if start <= d <= end]
    return pd.concat(
        [market.call("futures_hist_daily_cffex", date=yyyymmdd(d)) for d in days],
        ignore_index=True,
    )


def market_short_balance(market: DemoMarket, day: dt.date) -> float:
    """SSE 融券余量金额 + SZSE 融券余额 (亿) + BSE 融券余额, in CNY."""
    d = yyyymmdd(day)
    sse = market.call("stock_margin_sse", start_date=d, end_date=d)["融券余量金额"].sum()
    szse = market.call("stock_margin_szse", date=d)["融券余额"].sum() * 1e8
    bse = market.call("stock_margin_bse", date=d)["融券余额"].sum()
    return float(sse + szse + bse)


# --------------------------------------------------------------------------- the contract


@pytest.mark.parametrize("function", sorted(DATASETS))
def test_frames_follow_the_raw_contract(market, function):
    dataset = DATASETS[function]
    frame = market.call(function, **sample_kwargs(market, function))
    assert list(frame.columns) == dataset.column_names
    assert len(frame) > 0
    for column in dataset.columns:
        values = frame[column.name]
        if column.kind == "number":
            assert pd.api.types.is_numeric_dtype(values), column.name
            assert not pd.api.types.is_bool_dtype(values), column.name
        elif (function, column.name) in YYYYMMDD_COLUMNS:
            assert values.map(lambda v: isinstance(v, str) and re.fullmatch(r"\d{8}", v)).all()
        elif column.kind == "date":
            assert values.map(lambda v: type(v) is dt.date).all(), column.name
        else:  # text and codes
            assert pd.api.types.is_string_dtype(values), column.name
            assert values.map(lambda v: isinstance(v, str)).all(), column.name
        if CODE_COLUMNS & {column.name, f"{function}.{column.name}"}:
            assert values.str.fullmatch(r"\d{6}").all(), column.name


@pytest.mark.parametrize("function", sorted(DATASETS))
def test_columns_pass_the_unit_checks_for_a_default_market(default_market, function):
    dataset = DATASETS[function]
    frame = default_market.call(function, **sample_kwargs(default_market, function))
    for column in dataset.columns:
        if column.plausible_median is None:
            continue
        values = frame[column.name]
        low, high = column.plausible_median
        assert low <= values[values != 0].median() <= high, column.name


def test_every_security_has_a_plausible_financing_balance(default_market):
    day = default_market.trading_days[len(default_market.trading_days) // 2]
    for function in (
        "stock_margin_detail_sse",
        "stock_margin_detail_szse",
        "stock_margin_detail_bse",
    ):
        frame = default_market.call(function, date=yyyymmdd(day))
        assert frame["融资余额"].between(1e4, 1e11).all(), function


def test_same_seed_same_frames_other_seed_other_frames(market):
    twin = DemoMarket(**SMALL)
    for function in DATASETS:
        kwargs = sample_kwargs(market, function)
        pd.testing.assert_frame_equal(
            market.call(function, **kwargs), twin.call(function, **kwargs)
        )
    other = DemoMarket(**SMALL, seed=7)
    kwargs = sample_kwargs(market, "stock_margin_detail_sse")
    assert not market.call("stock_margin_detail_sse", **kwargs).equals(
        other.call("stock_margin_detail_sse", **kwargs)
    )


# --------------------------------------------------------------------------- identities


def test_sse_detail_rolls_forward_exactly(market):
    days = market.trading_days[100:130]
    frames = [market.call("stock_margin_detail_sse", date=yyyymmdd(d)) for d in days]
    for previous, today in zip(frames[:-1], frames[1:], strict=True):
        both = today.merge(previous, on="标的证券代码", suffixes=("", "_prev"))
        assert len(both) > 0
        fin = both["融资余额_prev"] + both["融资买入额"] - both["融资偿还额"]
        short = both["融券余量_prev"] + both["融券卖出量"] - both["融券偿还量"]
        assert (fin == both["融资余额"]).all()
        assert (short == both["融券余量"]).all()
        flows = today[["融资买入额", "融资偿还额", "融券卖出量", "融券偿还量"]]
        assert (flows >= 0).all().all()


@pytest.mark.parametrize("function", ["stock_margin_detail_szse", "stock_margin_detail_bse"])
def test_short_balance_is_short_volume_times_close(market, function):
    day = dt.date(2024, 3, 15)
    detail = market.call(function, date=yyyymmdd(day))
    for _, row in detail.iterrows():
        close, _ = close_on(market, row["证券代码"], yyyymmdd(day))  # the last, if suspended
        assert abs(row["融券余额"] - row["融券余量"] * close) <= 0.5
        assert row["融资融券余额"] == row["融资余额"] + row["融券余额"]


def test_exchange_totals_are_detail_sums_plus_a_small_residual(market):
    days = market.trading_days[::40]
    sse = market.call(
        "stock_margin_sse", start_date=yyyymmdd(days[0]), end_date=yyyymmdd(days[-1])
    ).set_index("信用交易日期")
    for day in days:
        d = yyyymmdd(day)
        detail = market.call("stock_margin_detail_sse", date=d)
        quotes_close = {  # 融券余量金额 needs each security's close
            c: close_on(market, c, d)[0]
            for c in detail.loc[detail["融券余量"] > 0, "标的证券代码"]
        }
        short_value = sum(
            v * quotes_close.get(c, 0.0)
            for c, v in zip(detail["标的证券代码"], detail["融券余量"], strict=True)
        )
        total = sse.loc[d]
        assert 0 <= total["融资余额"] / detail["融资余额"].sum() - 1 <= 0.005
        assert 0 <= total["融券余量"] / detail["融券余量"].sum() - 1 <= 0.005
        assert -1e-8 <= total["融券余量金额"] / short_value - 1 <= 0.005 + 1e-6  # rint of the sum
        assert total["融资融券余额"] == total["融资余额"] + total["融券余量金额"]

        for function, summary, unit in (
            ("stock_margin_detail_szse", "stock_margin_szse", 1e8),
            ("stock_margin_detail_bse", "stock_margin_bse", 1e4),  # 万元 (*Round fields)
        ):
            detail = market.call(function, date=d)
            row = market.call(summary, date=d).iloc[0]
            for column in ("融资余额", "融券余额", "融资融券余额"):
                expected = detail[column].sum() / unit
                rounding = 0.005
                assert expected - rounding <= row[column] <= expected * 1.005 + rounding, column


# --------------------------------------------------------------------------- the story


def test_short_balance_collapses_after_the_2024_curbs(market):
    before = market_short_balance(market, dt.date(2023, 10, 13))
    end_of_2023 = market_short_balance(market, dt.date(2023, 12, 29))
    last_of_september = max(d for d in market.trading_days if d < dt.date(2024, 10, 1))
    after = market_short_balance(market, last_of_september)
    assert before > end_of_2023 > after > 0
    assert after < 0.2 * before


def longest_run_of_equal_values(values) -> int:
    """The most consecutive equal values in `values` (0 when empty)."""
    longest = run = 0
    previous = object()
    for value in values:
        run = run + 1 if value == previous else 1
        longest = max(longest, run)
        previous = value
    return longest


@pytest.mark.parametrize(
    ("values", "longest"),
    [([], 0), ([1.0], 1), ([1.0, 2.0, 2.0, 1.0], 2), ([3.0, 3.0, 3.0, 2.0, 2.0], 3)],
)
def test_longest_run_of_equal_values(values, longest):
    assert longest_run_of_equal_values(values) == longest


def test_the_maintenance_ratio_moves_with_the_market_and_stays_above_liquidation(default_market):
    # a real market's average ratio changes every day: a week of equal values is a bound
    # in the generator holding it, not a market
    a_trading_week = 5
    ratio = default_market.call("stock_margin_account_info")["平均维持担保比例"]
    assert len(ratio) == len(default_market.trading_days)
    assert longest_run_of_equal_values(ratio) < a_trading_week
    liquidation_percent = 130
    assert ratio.min() > liquidation_percent
    # it falls over the demo's last third: its last month below the month before that third
    last_third, a_month = len(ratio) * 2 // 3, 20
    assert ratio.iloc[-a_month:].mean() < ratio.iloc[last_third - a_month : last_third].mean()


def test_short_interest_concentrates_in_hot_industries(default_market):
    day = "20240710"
    industry = default_market.call("stock_industry_clf_hist_sw")
    industry = industry.sort_values("start_date").drop_duplicates("symbol", keep="last")
    codes = pd.read_csv(SW2021_SEED, dtype=str)
    hot_level2 = set(codes.loc[codes["industry_name_zh"].isin(HOT_INDUSTRIES), "industry_code"])
    hot = set(
        industry.loc[industry["industry_code"].str[:4].isin({c[:4] for c in hot_level2}), "symbol"]
    )
    detail = pd.concat(
        [
            default_market.call(f, date=day)
            for f in ("stock_margin_detail_szse", "stock_margin_detail_bse")
        ]
    )
    detail = detail[detail["证券代码"].map(security_type) == "stock"]  # funds: no float cap
    cap = {}
    for code in detail["证券代码"]:
        close, shares = close_on(default_market, code, day)
        cap[code] = close * shares
    detail["ratio"] = detail["融券余额"] / detail["证券代码"].map(cap)
    is_hot = detail["证券代码"].isin(hot)
    assert detail.loc[is_hot, "ratio"].mean() > 2.5 * detail["ratio"].mean()
    assert (detail["融券余量"] == 0).mean() > 0.05


def test_futures_list_four_contracts_per_index_variety_until_expiry(market):
    futures = futures_between(market, START, END)
    calendar = set(demo_trading_calendar(START.year, END.year + 1))
    index = futures[futures["variety"].isin(list(SPOT_INDEX_SYMBOLS))]
    counts = index.groupby(["date", "variety"]).size().unstack()
    assert set(counts.columns) == set(SPOT_INDEX_SYMBOLS)
    assert len(counts) == len(market.trading_days) and (counts == 4).all().all()
    assert futures["variety"].isin(["T", "TF"]).any()

    def expiry(symbol: str) -> str:
        year, month = 2000 + int(symbol[2:4]), int(symbol[4:6])
        first = dt.date(year, month, 1)
        day = first + dt.timedelta(days=(4 - first.weekday()) % 7 + 14)
        while day not in calendar:
            day += dt.timedelta(days=1)
        return yyyymmdd(day)

    assert (index["date"] <= index["symbol"].map(expiry)).all()
    # pre_settle is the previous trading day's settle of the same contract.
    ordered = futures.sort_values(["symbol", "date"])
    previous = ordered.groupby("symbol")["settle"].shift(1)
    assert (ordered["pre_settle"][previous.notna()] == previous.dropna()).all()
    assert (futures["high"] >= futures[["open", "close"]].max(axis=1)).all()


def test_futures_discount_deepens_and_open_interest_rises(market):
    futures = futures_between(market, START, END)
    spot = market.call("stock_zh_index_daily", symbol=SPOT_INDEX_SYMBOLS["IC"])
    spot = spot.assign(date=spot["date"].map(yyyymmdd)).set_index("date")["close"]
    ic = futures[futures["variety"] == "IC"].copy()
    ic["basis"] = ic["close"] / ic["date"].map(spot) - 1
    by_day = ic.groupby("date").agg(basis=("basis", "mean"), oi=("open_interest", "sum"))
    before, after = by_day[by_day.index <= "20231013"], by_day[by_day.index >= "20240930"]
    assert after["basis"].mean() < before["basis"].mean() < 0
    assert after["oi"].mean() > 1.3 * before["oi"].mean()


# --------------------------------------------------------------------------- calls


@pytest.mark.parametrize("day", ["20230902", "20231003", "20220104", "20241231"])
@pytest.mark.parametrize("function", PER_DAY)
def test_days_without_trading_give_empty_frames(market, function, day):
    if function == "futures_hist_daily_cffex":  # CFFEX has no file for the day: HTTP 404
        with pytest.raises(urllib.error.HTTPError, match="404"):
            market.call(function, date=day)
        return
    frame = market.call(function, date=day)  # Saturday, holiday, before start, after end
    assert frame.empty
    assert list(frame.columns) == DATASETS[function].column_names


def test_ranges_without_trading_give_empty_frames(market):
    for function in ("stock_margin_sse",):
        frame = market.call(function, start_date="20231001", end_date="20231006")
        assert frame.empty and list(frame.columns) == DATASETS[function].column_names


def test_unknown_calls_are_refused_by_name(market):
    with pytest.raises(ValueError, match="stock_margin_ratio_pa"):
        market.call("stock_margin_ratio_pa", symbol="深市", date="20240710")
    with pytest.raises(ValueError, match="symbol"):
        market.call("stock_margin_detail_sse", date="20240710", symbol="600000")
    with pytest.raises(ValueError, match="adjust"):
        market.call(
            "stock_zh_a_daily", **{**sample_kwargs(market, "stock_zh_a_daily"), "adjust": "qfq"}
        )
    with pytest.raises(ValueError, match="sh000001"):
        market.call("stock_zh_index_daily", symbol="sh000001")


def test_quotes_cover_only_the_requested_days_and_skip_suspensions(market):
    kwargs = sample_kwargs(market, "stock_zh_a_daily")
    quotes = market.call("stock_zh_a_daily", **kwargs)
    first, last = (
        dt.datetime.strptime(kwargs[k], "%Y%m%d").date() for k in ("start_date", "end_date")
    )
    assert quotes["date"].between(first, last).all() and quotes["date"].is_monotonic_increasing
    assert np.allclose(quotes["turnover"], quotes["volume"] / quotes["outstanding_share"])
    assert (quotes["high"] >= quotes[["open", "close"]].max(axis=1)).all()
    assert (quotes["low"] <= quotes[["open", "close"]].min(axis=1)).all()
    everything = [
        len(market.call("stock_zh_a_daily", symbol=sina_symbol(c), end_date=yyyymmdd(END)))
        for c in market.call("stock_industry_clf_hist_sw")["symbol"].unique()
    ]
    missing = 1 - sum(everything) / (len(everything) * len(market.trading_days))
    assert 0 < missing < 0.01  # rare suspensions, simply missing


def test_calendar_is_weekdays_without_holidays(market):
    calendar = market.call("tool_trade_date_hist_sina")["trade_date"].tolist()
    assert calendar == sorted(calendar)
    assert calendar[0] == dt.date(1992, 5, 4)  # added by akshare to whatever Sina sends
    calendar = calendar[1:]
    assert calendar[0] >= dt.date(START.year - 1, 1, 1) and calendar[-1] <= dt.date(
        END.year, 12, 31
    )
    assert calendar[-1] >= dt.date(END.year, 12, 25)
    assert all(d.weekday() < 5 for d in calendar)
    for holiday in (
        "2023-10-03",
        "2024-02-09",
        "2024-02-15",
        "2024-05-01",
        "2024-04-04",
        "2025-01-01",
    ):
        assert dt.date.fromisoformat(holiday) not in calendar
    assert dt.date(2024, 2, 16) in calendar and dt.date(2023, 10, 13) in calendar
    assert market.trading_days == [d for d in calendar if START <= d <= END]
    assert demo_trading_calendar(2024, 2024) == [d for d in calendar if d.year == 2024]


def test_industry_history_is_point_in_time(market):
    history = market.call("stock_industry_clf_hist_sw")
    firsts = history.groupby("symbol")["start_date"].min()
    assert (firsts < START).all() and len(firsts) == (~market.is_fund).sum()
    assert not any(security_type(c) == "fund" for c in firsts.index)  # Shenwan has no funds
    later = history[history["start_date"] >= START]
    assert len(later) >= 1 and later["start_date"].between(START, END).all()
    assert not history.duplicated(["symbol", "start_date"]).any()
    assert history["industry_code"].str.endswith("01").all()


# --------------------------------------------------------------------------- funds


def test_the_margin_lists_hold_funds_that_only_the_fund_functions_answer_for(default_market):
    day = "20240710"
    detail = pd.concat(
        default_market.call(f, date=day)[[c]].set_axis(["code"], axis=1)
        for f, c in (("stock_margin_detail_sse", "标的证券代码"),
                     ("stock_margin_detail_szse", "证券代码"))
    )  # fmt: skip
    funds = [c for c in detail["code"] if security_type(c) == "fund"]
    assert len(funds) >= 5 and {c[0] for c in funds} >= {"5", "1"}  # SSE and SZSE funds
    fund = sina_symbol(funds[0])
    with pytest.raises(ValueError, match="Length mismatch"):  # as akshare: no share counts
        default_market.call("stock_zh_a_daily", symbol=fund, end_date=day)
    bars = default_market.call("fund_etf_hist_sina", symbol=fund)
    assert list(bars.columns) == DATASETS["fund_etf_hist_sina"].column_names and len(bars) > 100
    snapshot = default_market.call("stock_zh_a_spot_em")
    assert not set(funds) & set(snapshot["代码"])  # Eastmoney's A-share boards only
    assert default_market.call("fund_etf_hist_sina", symbol="sh600000").shape == (0, 0)


def test_a_reclassified_security_is_named_after_its_industry_from_that_day(market):
    """Names carry the industry ('演示半导体07'): a security moved to another industry is
    renamed the same day, so a name never contradicts the industry shown beside it."""
    short = market._industries["short_name"].to_numpy()
    stocks = np.flatnonzero(~market.is_fund)
    movers = [i for i in stocks if market.reclass_day[i] < len(market.trading_days)]
    assert movers
    for t in (0, len(market.trading_days) // 2, len(market.trading_days) - 1):
        names = market.names_on(t)
        assert len(set(names)) == len(names)  # unique on every day
        for i in stocks:
            industry = market.industry_after[i] if t >= market.reclass_day[i] else market.industry[i]
            assert names[i].startswith(f"演示{short[industry]}"), (t, i, names[i])
