"""The eligibility, signal and leverage marts against values computed here, in pandas,
from the raw frames the source returned (the eligible lists, the margin detail, the
quotes, the account statistics) and the thresholds of seeds/signal_thresholds.csv, not
from the mart SQL. Cases that must not fire are asserted beside the ones that must."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from conftest import sorted_table

from margin_wh.sources import get_source
from margin_wh.sources.datasets import security_type, sina_symbol

THRESHOLDS = Path(__file__).parents[1] / "seeds" / "signal_thresholds.csv"
DAY = dt.date(2024, 7, 10)  # a day with 20 trading days of quotes before it in the window


def ymd(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


def mart(warehouse, sql: str, params=()) -> pd.DataFrame:
    with duckdb.connect(str(warehouse.settings.db_path), read_only=True) as con:
        return con.execute(sql, list(params)).df()


@pytest.fixture(scope="module")
def thresholds() -> dict[str, float]:
    seed = pd.read_csv(THRESHOLDS)
    assert seed["source"].notna().all() and seed["threshold_name"].is_unique
    return dict(zip(seed["threshold_name"], seed["value"], strict=True))


@pytest.fixture(scope="module")
def window(warehouse) -> list[dt.date]:
    market = get_source(warehouse.settings).market
    return [d for d in market.trading_days if warehouse.first_day <= d <= warehouse.last_day]


# --------------------------------------------------------------------------- raw frames


def lists_from_raw(source, days) -> pd.DataFrame:
    """Each day's list state per security: SZSE / BSE as published, SSE from the detail."""
    frames = []
    for day in days:
        for exchange in ("SZSE", "BSE"):
            f = source.call(f"stock_margin_underlying_info_{exchange.lower()}", date=ymd(day))
            frames.append(pd.DataFrame({
                "trade_date": day, "security_code": f["证券代码"], "exchange": exchange,
                "fin": f["融资标的"].isin(["Y", "是"]), "short": f["融券标的"].isin(["Y", "是"]),
                "can_fin": f["当日可融资"].isin(["Y", "是"]),
                "can_short": f["当日可融券"].isin(["Y", "是"]).astype(object),
                "source": "exchange_list",
            }))  # fmt: skip
        sse = source.call("stock_margin_detail_sse", date=ymd(day))
        frames.append(pd.DataFrame({
            "trade_date": day, "security_code": sse["标的证券代码"], "exchange": "SSE",
            "fin": True, "short": True, "can_fin": None, "can_short": None,
            "source": "sse_margin_detail",
        }))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def lists(warehouse, window) -> pd.DataFrame:
    return lists_from_raw(get_source(warehouse.settings), window)


@pytest.fixture(scope="module")
def panel(warehouse, window) -> pd.DataFrame:
    """Per security and day of the window: the margin detail, the close (the last on or
    before the day, within the loaded window) and the day's own bar."""
    source = get_source(warehouse.settings)
    rows = []
    for day in window:
        sse = source.call("stock_margin_detail_sse", date=ymd(day))
        rows.append(pd.DataFrame({
            "trade_date": day, "security_code": sse["标的证券代码"], "exchange": "SSE",
            "security_name": sse["标的证券简称"], "fin": sse["融资余额"].astype(float),
            "buy": sse["融资买入额"].astype(float), "repay": sse["融资偿还额"].astype(float),
            "short_volume": sse["融券余量"].astype(float), "published_short": np.nan,
        }))  # fmt: skip
        for exchange in ("SZSE", "BSE"):
            f = source.call(f"stock_margin_detail_{exchange.lower()}", date=ymd(day))
            rows.append(pd.DataFrame({
                "trade_date": day, "security_code": f["证券代码"], "exchange": exchange,
                "security_name": f["证券简称"], "fin": f["融资余额"].astype(float),
                "buy": f["融资买入额"].astype(float), "repay": np.nan,
                "short_volume": f["融券余量"].astype(float),
                "published_short": f["融券余额"].astype(float),
            }))  # fmt: skip
    detail = pd.concat(rows, ignore_index=True)
    first, last = ymd(window[0]), ymd(window[-1])
    bars = []
    for code in detail["security_code"].unique():
        if security_type(code) == "fund":
            q = source.call("fund_etf_hist_sina", symbol=sina_symbol(code))
            q = q[(q["date"] >= window[0]) & (q["date"] <= window[-1])]
            q = q.assign(amount=np.nan, outstanding_share=np.nan)
        else:
            q = source.call("stock_zh_a_daily", symbol=sina_symbol(code), start_date=first,
                            end_date=last, adjust="")  # fmt: skip
        bars.append(q.assign(security_code=code)[
            ["security_code", "date", "close", "volume", "amount", "outstanding_share"]])
    bars = pd.concat(bars, ignore_index=True).rename(columns={"date": "trade_date"})
    detail = detail.merge(
        bars[["security_code", "trade_date", "volume", "amount"]],
        on=["security_code", "trade_date"], how="left",
    )  # fmt: skip
    # the last close on or before the day (a suspended security keeps its last close)
    detail = pd.merge_asof(
        detail.assign(ts=pd.to_datetime(detail["trade_date"])).sort_values("ts"),
        bars.assign(ts=pd.to_datetime(bars["trade_date"]))
        .sort_values("ts")[["ts", "security_code", "close", "outstanding_share"]],
        on="ts", by="security_code",
    )  # fmt: skip
    detail["short_balance"] = detail["published_short"].fillna(
        detail["short_volume"] * detail["close"]
    )
    detail["float_cap"] = detail["close"] * detail["outstanding_share"]
    detail["index"] = detail["trade_date"].map({d: i for i, d in enumerate(window)})
    detail = detail.sort_values(["security_code", "index"]).reset_index(drop=True)
    return detail.drop(columns="ts")


def back(panel: pd.DataFrame, column: str, n: int) -> pd.Series:
    """`column` exactly n trading days earlier for the same security, else NaN."""
    earlier = pd.DataFrame(
        {"security_code": panel["security_code"], "index": panel["index"] + n, "value": panel[column]}
    )
    merged = panel[["security_code", "index"]].merge(earlier, on=["security_code", "index"], how="left")
    return pd.Series(merged["value"].to_numpy(), index=panel.index)


# --------------------------------------------------------------------------- eligibility


def expected_events(lists: pd.DataFrame, days: list[dt.date]) -> set[tuple]:
    """Day-over-day changes; the first day is the initial state."""
    events = set()
    for before, day in zip(days[:-1], days[1:], strict=True):
        a = lists[lists["trade_date"] == before].set_index("security_code")
        b = lists[lists["trade_date"] == day].set_index("security_code")
        for code in a.index.union(b.index):
            was, now = (a.loc[code] if code in a.index else None), (b.loc[code] if code in b.index else None)
            for side, added, removed in (("fin", "financing_added", "financing_removed"),
                                         ("short", "short_added", "short_removed")):  # fmt: skip
                w, n = bool(was is not None and was[side]), bool(now is not None and now[side])
                if n and not w:
                    events.add((day, code, added))
                if w and not n:
                    events.add((day, code, removed))
            listed_both = was is not None and now is not None and was["short"] and now["short"]
            if listed_both and now["source"] == "exchange_list":  # SSE's says nothing of it
                if bool(was["can_short"]) and not bool(now["can_short"]):
                    events.add((day, code, "short_suspended"))
                if not bool(was["can_short"]) and bool(now["can_short"]):
                    events.add((day, code, "short_resumed"))
    return events


def expected_spells(lists: pd.DataFrame, days: list[dt.date]) -> set[tuple]:
    """(code, valid_from, valid_to or None, state...) per run of equal consecutive states."""
    index = {d: i for i, d in enumerate(days)}
    spells = set()
    state_columns = ["fin", "short", "can_fin", "can_short", "source"]
    for code, rows in lists.sort_values("trade_date").groupby("security_code"):
        exchange = rows["exchange"].iloc[0]
        last_list_day = lists.loc[lists["exchange"] == exchange, "trade_date"].max()
        start, prev_i, prev_state = None, None, None
        for row in rows.itertuples(index=False):
            state = tuple(getattr(row, c) for c in state_columns)
            i = index[row.trade_date]
            if start is None or i != prev_i + 1 or state != prev_state:
                if start is not None:
                    spells.add((code, start, days[prev_i + 1], *prev_state))
                start = row.trade_date
            prev_i, prev_state = i, state
        end = None if days[prev_i] == last_list_day else days[prev_i + 1]
        spells.add((code, start, end, *prev_state))
    return spells


def test_eligibility_events_match_the_daily_lists(warehouse, lists, window):
    got = mart(warehouse, "select trade_date, security_code, event_type from marts.fct_margin_eligibility_event")
    got = {(r.trade_date.date(), r.security_code, r.event_type) for r in got.itertuples()}
    want = expected_events(lists, window)
    assert got == want
    kinds = {e[2] for e in want}
    # the demo's cases: joiners, a removal, a suspension and its end
    assert {"financing_added", "short_added", "short_removed", "short_suspended", "short_resumed"} <= kinds
    # must not fire: the first list is the initial state, not a burst of additions
    assert not [e for e in got if e[0] == window[0]]
    # SSE's list says nothing of suspensions
    sse = set(lists.loc[lists["exchange"] == "SSE", "security_code"])
    assert not [e for e in got if e[1] in sse and e[2] in ("short_suspended", "short_resumed")]


def test_eligibility_spells_match_the_daily_lists(warehouse, lists, window):
    got = mart(warehouse, "select * from marts.dim_margin_eligibility")
    got = {
        (r.security_code, r.valid_from.date(), None if pd.isna(r.valid_to) else r.valid_to.date(),
         r.is_financing_eligible, r.is_short_eligible,
         None if pd.isna(r.can_finance_today) else r.can_finance_today,
         None if pd.isna(r.can_short_today) else r.can_short_today, r.eligibility_source)
        for r in got.itertuples()
    }  # fmt: skip
    want = {(c, f, t, fin, short, None if cf is None else bool(cf), None if cs is None else bool(cs), s)
            for c, f, t, fin, short, cf, cs, s in expected_spells(lists, window)}  # fmt: skip
    assert got == want
    # the removed security: one spell on both sides, then one off the 融券 list, current
    removed = next(code for day, code, kind in expected_events(lists, window) if kind == "short_removed")
    mine = sorted((s for s in got if s[0] == removed), key=lambda s: s[1])
    assert [(s[3], s[4], s[2] is None) for s in mine] == [(True, True, False), (True, False, True)]


# --------------------------------------------------------------------------- balances


def test_volume_turnover_repayments_and_days_to_cover_match_raw_frames(warehouse, panel, thresholds):
    p = panel.copy()
    previous_fin = back(p, "fin", 1)
    p["repay_effective"] = p["repay"].fillna(previous_fin + p["buy"] - p["fin"])
    n = int(thresholds["days_to_cover_window_trading_days"])
    counts = p.groupby("security_code")["volume"].transform(lambda v: v.rolling(n, min_periods=n).count())
    means = p.groupby("security_code")["volume"].transform(lambda v: v.rolling(n, min_periods=n).mean())
    full = (counts == n) & (back(p, "index", n - 1) == p["index"] - (n - 1))
    p["days_to_cover"] = (p["short_volume"] / means.where(full)).where(means != 0)
    want = p[p["trade_date"] == DAY].set_index("security_code")
    got = mart(warehouse, "select * from marts.fct_balance_to_float where trade_date = ?", [DAY]).set_index("security_code")
    got = got.loc[want.index]
    for mart_column, column in (("volume_shares", "volume"), ("turnover_cny", "amount")):
        np.testing.assert_allclose(got[mart_column], want[column], rtol=1e-9, err_msg=mart_column)
    np.testing.assert_allclose(got["financing_buy_to_turnover_ratio"], want["buy"] / want["amount"].where(want["amount"] != 0), rtol=1e-9)
    np.testing.assert_allclose(got["net_financing_buy_cny"], want["buy"] - want["repay_effective"], rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(got["financing_repay_to_buy_ratio"], want["repay_effective"] / want["buy"].where(want["buy"] != 0), rtol=1e-9)
    np.testing.assert_allclose(got["days_to_cover"], want["days_to_cover"], rtol=1e-9)
    assert want["days_to_cover"].notna().sum() > len(want) / 2
    # not before a full window of bars: the window's 19th day has no days to cover
    early = mart(warehouse, "select count(days_to_cover) from marts.fct_balance_to_float where trade_date = ?",
                 [sorted(panel["trade_date"].unique())[n - 2]])  # fmt: skip
    assert early.iloc[0, 0] == 0


# --------------------------------------------------------------------------- signals


def limit_ratio(code: str, exchange: str, name: str, t: dict) -> float:
    if "ST" in name:
        return t["price_limit_st_ratio"]
    if exchange == "BSE":
        return t["price_limit_bse_ratio"]
    if code[:3] in ("300", "301", "688", "689"):
        return t["price_limit_growth_board_ratio"]
    return t["price_limit_main_board_ratio"]


def expected_signals(panel: pd.DataFrame, events: set[tuple], t: dict) -> pd.DataFrame:
    p = panel.copy()
    material = t["short_material_balance_cny"]
    growth_days = int(t["short_growth_window_trading_days"])
    history_days = int(t["financing_high_history_trading_days"])
    p["vol_before"] = back(p, "short_volume", 1)
    p["bal_before"] = back(p, "short_balance", 1)
    p["bal_week"] = back(p, "short_balance", growth_days)
    p["bal_week_y"] = back(p, "short_balance", growth_days + 1)
    p["ratio"] = p["fin"] / p["float_cap"]
    p["ratio_before"] = back(p, "ratio", 1)
    p["close_before"] = back(p, "close", 1)
    tick = np.where(p["security_code"].map(security_type) == "fund", 0.001, 0.01)
    limit = [limit_ratio(c, x, n, t) for c, x, n in zip(p["security_code"], p["exchange"], p["security_name"], strict=True)]
    limit_price = np.round(p["close_before"] * (1 + np.array(limit)) / tick) * tick
    p["is_limit_up"] = (p["close"] >= limit_price - tick / 2).fillna(False)
    p["change"] = p["close"] / p["close_before"] - 1
    drop = 1 - p["short_volume"] / p["vol_before"].where(p["vol_before"] != 0)
    growth = p["short_balance"] / p["bal_week"] - 1
    growth_y = p["bal_before"] / p["bal_week_y"] - 1
    rules = {
        "short_cleared": (p["bal_before"] >= material) & (p["vol_before"] > 0)
        & (p["short_volume"] <= t["short_cleared_max_remaining_ratio"] * p["vol_before"]),
        "short_squeeze": p["is_limit_up"] & (p["bal_before"] >= material) & (drop >= t["short_squeeze_min_drop_ratio"]),
        "financing_to_float_high": (p["ratio"] > t["financing_to_float_high_ratio"])
        & (p["ratio_before"] <= t["financing_to_float_high_ratio"]),
        "short_growth_weekly": (p["bal_week"] >= material) & (growth >= t["short_growth_weekly_ratio"])
        & p["bal_before"].notna() & p["bal_week_y"].notna()
        & ~((p["bal_week_y"] >= material) & (growth_y >= t["short_growth_weekly_ratio"]).fillna(False)),
        # record: above every earlier balance, with a year of rows before it
        "financing_record_high": (p.groupby("security_code").cumcount() >= history_days - 1)
        & (p["fin"] > p.groupby("security_code")["fin"].transform(lambda f: f.shift(1).cummax())),
        # one-year: a full year of rows before it (the window holds less: cannot fire)
        "financing_one_year_high": (back(p, "index", history_days - 1) == p["index"] - (history_days - 1))
        & (p["fin"] > p.groupby("security_code")["fin"].transform(
            lambda f: f.shift(1).rolling(history_days - 1, min_periods=history_days - 1).max())),
    }  # fmt: skip
    fired = [p.loc[mask.fillna(False), ["trade_date", "security_code", "is_limit_up", "change"]].assign(signal_type=kind)
             for kind, mask in rules.items()]  # fmt: skip
    removed = pd.DataFrame([(d, c) for d, c, kind in events if kind == "short_removed"],
                           columns=["trade_date", "security_code"])  # fmt: skip
    removed = removed.merge(p[["trade_date", "security_code", "is_limit_up", "change"]], how="left")
    fired.append(removed.assign(signal_type="short_removed"))
    return pd.concat(fired, ignore_index=True)


@pytest.fixture(scope="module")
def signals(warehouse) -> pd.DataFrame:
    return mart(warehouse, "select * from marts.fct_margin_signal")


def test_signals_match_raw_frames(warehouse, panel, lists, window, thresholds, signals):
    want = expected_signals(panel, expected_events(lists, window), thresholds)
    got_keys = {(r.trade_date.date(), r.security_code, r.signal_type) for r in signals.itertuples()}
    want_keys = {(r.trade_date, r.security_code, r.signal_type) for r in want.itertuples()}
    assert got_keys == want_keys
    merged = signals.assign(trade_date=signals["trade_date"].dt.date).merge(
        want, on=["trade_date", "security_code", "signal_type"], suffixes=("", "_want")
    )  # fmt: skip
    assert (merged["is_limit_up"] == merged["is_limit_up_want"].astype(bool)).all()
    np.testing.assert_allclose(merged["close_change_1d_ratio"], merged["change"], rtol=1e-9)


def test_the_demo_cases_fire_and_others_do_not(warehouse, signals, window):
    market = get_source(warehouse.settings).market
    fired = {(r.trade_date.date(), r.security_code, r.signal_type) for r in signals.itertuples()}
    case = {name: (market.trading_days[t], code) for name, (t, code) in market.margin_events.items()}
    day, code = case["short_removed"]  # like 金安国纪: off the list, shorts closed, limit-up
    assert {(day, code, s) for s in ("short_removed", "short_cleared", "short_squeeze")} <= fired
    day, code = case["short_cleared"]  # like 键邦股份: bought back to ~0 at the limit
    assert {(day, code, "short_cleared"), (day, code, "short_squeeze")} <= fired
    day, code = case["short_squeeze"]  # half bought back at the limit: a squeeze, not cleared
    assert (day, code, "short_squeeze") in fired and (day, code, "short_cleared") not in fired
    day, code = case["financing_to_float"]
    assert (day, code, "financing_to_float_high") in fired
    # above 5 % on the following days too, but the alert fires on the crossing only
    assert not [f for f in fired if f[1] == code and f[2] == "financing_to_float_high" and f[0] != day]
    # a suspension of short sales is no removal
    day, code = case["short_suspended"]
    assert not [f for f in fired if f[1] == code and f[2] == "short_removed"]
    # no history, no signal: nothing on the window's first day, no financing highs at all
    assert not [f for f in fired if f[0] == window[0]]
    assert not signals["signal_type"].isin(["financing_record_high", "financing_one_year_high"]).any()
    assert signals["is_limit_up"].notna().all()


def test_signals_never_fail_a_run():
    """The signal mart's only test is its grain, and no column has a data test: a signal
    is information, never a failed check (its constraints hold by construction)."""
    import yaml

    models = [
        model
        for path in sorted((Path(__file__).parents[1] / "models/marts").glob("*.yml"))
        for model in yaml.safe_load(path.read_text()).get("models", [])
    ]
    signal = next(m for m in models if m["name"] == "fct_margin_signal")
    assert [next(iter(t)) for t in signal.get("data_tests", [])] == ["primary_key"]
    assert not [c["name"] for c in signal["columns"] if c.get("data_tests")]


# --------------------------------------------------------------------------- leverage


def test_market_leverage_matches_raw_frames(warehouse, panel, thresholds):
    source = get_source(warehouse.settings)
    p = panel.copy()
    p["repay_effective"] = p["repay"].fillna(back(p, "fin", 1) + p["buy"] - p["fin"])
    p["margin_total"] = p["fin"] + p["short_balance"]
    by_day = p.groupby("trade_date")
    traded = p[p["amount"] > 0].groupby("trade_date")
    repaid = p[p["repay_effective"].notna()].groupby("trade_date")
    capped = p[p["float_cap"] > 0].groupby("trade_date")
    want = pd.DataFrame({
        "financing_balance_cny": by_day["fin"].sum(),
        "financing_buy_to_turnover_ratio": traded["buy"].sum() / traded["amount"].sum(),
        "financing_repay_to_buy_ratio": repaid["repay_effective"].sum() / repaid["buy"].sum(),
        "margin_to_float_ratio": capped["margin_total"].sum() / capped["float_cap"].sum(),
    })  # fmt: skip
    n = int(thresholds["leverage_volatility_window_trading_days"])
    change = want["financing_balance_cny"].pct_change(fill_method=None)
    want["financing_balance_change_volatility_20d_ratio"] = change.rolling(n, min_periods=n).std(ddof=1)
    accounts = source.call("stock_margin_account_info").set_index("日期")
    want["avg_maintenance_ratio"] = accounts["平均维持担保比例"].reindex(want.index) / 100
    want["collateral_value_cny"] = accounts["担保物总价值"].reindex(want.index) * 1e8
    want["investors_with_debt_count"] = accounts["有融资融券负债的投资者数量"].reindex(want.index)

    got = mart(warehouse, "select * from marts.fct_market_leverage_daily order by trade_date")
    got = got.set_index(got["trade_date"].dt.date)
    assert list(got.index) == list(want.index)
    last = max(want.index)  # the snapshot's day: its volumes are the snapshot's, not Sina's
    for column in want.columns:
        rows = [d for d in want.index if d != last] if column == "financing_buy_to_turnover_ratio" else list(want.index)
        np.testing.assert_allclose(got.loc[rows, column].astype(float), want.loc[rows, column].astype(float),
                                   rtol=1e-9, err_msg=column)  # fmt: skip
    # not before 20 daily changes: the first 20 days have no volatility
    assert got["financing_balance_change_volatility_20d_ratio"].iloc[:n].isna().all()
    assert got["financing_balance_change_volatility_20d_ratio"].iloc[n:].notna().all()
    # the demo's maintenance ratio is a percentage turned into a fraction: 1.3-4, not 130-400
    assert got["avg_maintenance_ratio"].between(1.3, 4).all()


def test_anomaly_query_returns_the_signal_rows(warehouse):
    sql = (Path(__file__).parents[1] / "queries" / "margin_anomaly_securities.sql").read_text()
    rows = mart(warehouse, sql)
    assert len(rows) > 0
    assert {"security_code", "trade_date", "change_pct", "signals"} <= set(rows.columns)
    # the latest 20 trading days of the signal mart, limit-up cases first
    days = mart(warehouse, "select distinct trade_date from marts.fct_margin_signal order by 1 desc limit 20")
    assert set(pd.to_datetime(rows.trade_date)) <= set(pd.to_datetime(days.trade_date))
    assert rows.is_limit_up.tolist() == sorted(rows.is_limit_up.tolist(), reverse=True)


def test_a_one_day_refresh_rebuilds_that_day_as_the_range_built_it(warehouse, day_refreshed_again):
    """The incremental marts rebuild one day's window from the days before it (the
    lookbacks, the record-high history): refreshing a day inside the window again gives
    the rows the range build gave, and leaves the other days, before and after, alone."""
    new_marts = ("fct_balance_to_float", "fct_margin_eligibility_event", "fct_margin_signal",
                 "fct_market_leverage_daily", "dim_margin_eligibility")  # fmt: skip
    assert warehouse.first_day < day_refreshed_again.day < warehouse.last_day
    for name in new_marts:
        after = sorted_table(warehouse.settings.db_path, f"marts.{name}")
        before = day_refreshed_again.before[f"marts.{name}"]
        assert len(after) and after[after.columns[0]].notna().all()
        pd.testing.assert_frame_equal(after, before, check_exact=False, rtol=1e-12, obj=name)
