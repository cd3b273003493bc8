"""BSE's switch of its listed stocks to 920xxx codes (seeds/bse_code_switch.csv), through
akshare's own functions on the HTTP-level fake sites (tests/akshare_http.py): a stock
that BSE publishes under its old code before its switch day and under its new code from
then on is one series in the warehouse, keyed by its new code (its margin detail, quotes,
industry and eligible list); a stock that switched without a row in the seed is named by
the warn-severity test.

The demo market's two BSE stocks play the parts: the sites publish the first under a
pair of the seed (one whose new code breaks the "920 + last three digits" rule, so only
the table gives it) and the second under an old code and a 920xxx code the seed lacks.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import duckdb
import pandas as pd
import pytest
from conftest import make_settings
from test_dbt_tests import invoke_dbt
from test_live_path import evening, live_source

from margin_wh.config import REPO_ROOT
from margin_wh.sources.demo import DemoMarket
from orchestration.definitions import build_definitions
from orchestration.runner import refresh
from tests.akshare_http import AkshareSites, demo_frames

SEED = REPO_ROOT / "seeds" / "bse_code_switch.csv"
START, END = dt.date(2025, 9, 26), dt.date(2025, 10, 14)  # around BSE's switch of 2025-10-09
UNMAPPED_TEST = "assert_bse_switched_codes_are_mapped"
# the columns in which each site publishes a security's code
CODE_COLUMNS = {
    "stock_margin_detail_bse": "证券代码",
    "stock_margin_underlying_info_bse": "证券代码",
    "stock_zh_a_spot_em": "代码",
    "stock_industry_clf_hist_sw": "symbol",
}


def seed() -> pd.DataFrame:
    return pd.read_csv(SEED, dtype=str, parse_dates=["switch_date"])


def switching_sites(market: DemoMarket, codes: dict[str, tuple[str, str, dt.date]]):
    """The sites of `market`, where each demo code in `codes` is published under its
    (old, new, switch day): the old code before the switch day, the new one from it on.
    Shenwan's history keeps the old code (its rows start before the switch); Sina serves
    the whole history under either symbol."""
    frames = demo_frames(market, END)
    demo_code_of = {c: demo for demo, (old, new, _) in codes.items() for c in (old, new)}

    def published(code: str, day: dt.date) -> str:
        old, new, switch_day = codes[code]
        return new if day >= switch_day else old

    def answer(function: str, kwargs: dict) -> pd.DataFrame | None:
        if function == "stock_zh_a_daily" and kwargs["symbol"][2:] in demo_code_of:
            kwargs = {**kwargs, "symbol": "bj" + demo_code_of[kwargs["symbol"][2:]]}
        frame = frames(function, kwargs)
        column = CODE_COLUMNS.get(function)
        if column is None or frame is None or frame.empty:
            return frame
        day = (dt.datetime.strptime(kwargs["date"], "%Y%m%d").date() if "date" in kwargs
               else END if function == "stock_zh_a_spot_em" else START)  # fmt: skip
        frame = frame.copy()
        frame[column] = [published(c, day) if c in codes else c for c in frame[column]]
        return frame

    return answer


@pytest.fixture(scope="module")
def switched(tmp_path_factory):
    market = DemoMarket(securities=20, start=dt.date(2025, 8, 1), end=dt.date(2025, 10, 31))
    mapped_code, unmapped_code = market.codes[market.exchange == "BSE"][:2]
    pairs = seed()
    switch_days = pairs["switch_date"].dt.date
    by_rule = "920" + pairs["security_code_before_switch"].str[-3:]
    # a pair of the window whose new code only the table gives
    pair = pairs[
        (switch_days > START) & (switch_days <= END) & (pairs["security_code"] != by_rule)
    ].iloc[0]
    switch_day = pair["switch_date"].date()
    taken = set(pairs["security_code"]) | set(market.codes)
    unmapped_new = next(f"920{n:03d}" for n in range(1000) if f"920{n:03d}" not in taken)
    assert unmapped_code not in set(pairs["security_code_before_switch"])
    codes = {
        mapped_code: (pair["security_code_before_switch"], pair["security_code"], switch_day),
        unmapped_code: (unmapped_code, unmapped_new, switch_day),
    }
    settings = make_settings(tmp_path_factory.mktemp("bse"), MARGIN_WH_SOURCE="akshare",
                             MARGIN_WH_HISTORY_START="2025-09-01")  # fmt: skip
    source = live_source(evening(END))
    with pytest.MonkeyPatch.context() as patch, AkshareSites(switching_sites(market, codes)):
        patch.setattr("margin_wh.sources._akshare_source", lambda: source)
        # the raw tables through dagster; then the models in one dbt build (far cheaper
        # than the refresh's per-day runs): the marts of the detail and of the eligible
        # lists, with their tests
        refresh(settings, START, END, dg.DagsterInstance.ephemeral(), raw_only=True,
                defs=build_definitions(settings))  # fmt: skip
    target = tmp_path_factory.mktemp("target")
    build = invoke_dbt(settings, target, "build", "--indirect-selection", "cautious", "--select",
                       "+fct_balance_to_float", "+fct_margin_eligibility_event")  # fmt: skip
    assert build.success, build.output
    return settings, market, codes, build


def query(settings, sql: str, *params) -> pd.DataFrame:
    with duckdb.connect(str(settings.db_path), read_only=True) as con:
        return con.execute(sql, list(params)).df()


def demo_series(market: DemoMarket, demo_code: str) -> pd.DataFrame:
    """The demo's own margin detail and closes of one security over the window."""
    rows = []
    for day in (d for d in market.trading_days if START <= d <= END):
        detail = market.call("stock_margin_detail_bse", date=day.strftime("%Y%m%d"))
        row = detail[detail["证券代码"] == demo_code]
        if len(row):
            rows.append({"trade_date": day, "financing_balance_cny": float(row["融资余额"].iloc[0])})  # fmt: skip
    quotes = market.call("stock_zh_a_daily", symbol="bj" + demo_code)
    closes = quotes.set_index("date")["close"]
    series = pd.DataFrame(rows)
    series["close_cny"] = [float(closes[closes.index <= d].iloc[-1]) for d in series["trade_date"]]
    return series


def test_a_stock_on_both_sides_of_its_switch_is_one_series_under_its_new_code(switched):
    settings, market, codes, _ = switched
    demo_code = next(iter(codes))
    old, new, switch_day = codes[demo_code]
    # the raw tables hold both codes: BSE published the old one, then the new one
    published = query(settings, 'select distinct "证券代码" as code, trade_date from raw.stock_margin_detail_bse '
                                'where "证券代码" in (?, ?)', old, new)  # fmt: skip
    assert published[published["code"] == old]["trade_date"].max().date() < switch_day
    assert published[published["code"] == new]["trade_date"].min().date() == switch_day
    # Sina's history was fetched under both symbols, with days in common: counted once below
    sina = query(settings, "select symbol, trade_date from raw.stock_zh_a_daily where symbol in (?, ?)",
                 "bj" + old, "bj" + new)  # fmt: skip
    days_by_symbol = sina.groupby("symbol")["trade_date"].apply(set)
    assert days_by_symbol["bj" + old] & days_by_symbol["bj" + new]

    want = demo_series(market, demo_code)
    for model in ("intermediate.int_margin_detail_unified", "marts.fct_balance_to_float"):
        rows = f"select * from {model} where security_code = ? order by trade_date"
        assert query(settings, rows, old).empty, model
        got = query(settings, rows, new)
        # every day of the demo's detail, before and after the switch, once
        assert [d.date() for d in got["trade_date"]] == list(want["trade_date"]), model
        assert got["trade_date"].min().date() < switch_day <= got["trade_date"].max().date()
        pd.testing.assert_series_equal(got["financing_balance_cny"], want["financing_balance_cny"],
                                       check_names=False)  # fmt: skip
    unified = query(settings, "select * from intermediate.int_margin_detail_unified "
                              "where security_code = ? order by trade_date", new)  # fmt: skip
    # the quotes and the industry, published under the old code too, join on every day
    pd.testing.assert_series_equal(unified["close_cny"], want["close_cny"], check_names=False)
    assert unified["float_shares"].notna().all() and unified["sw_l1_code"].notna().all()


def test_a_stock_that_switched_without_a_row_in_the_seed_is_named_by_a_warning(switched):
    settings, _, codes, build = switched
    demo_code = list(codes)[1]
    old, new, switch_day = codes[demo_code]
    # the build ran it (it reads the BSE detail): a warning, and the build succeeded
    assert build.results[UNMAPPED_TEST]["status"] == "warn", build.output
    named = query(settings, build.results[UNMAPPED_TEST]["compiled_code"])  # its rows
    # exactly the unmapped pair (the mapped one is one series: nothing to name)
    assert list(named["security_code_before_switch"]) == [old]
    assert list(named["security_code"]) == [new]
    assert named["switch_date"][0].date() == switch_day


def test_a_switch_is_no_change_of_the_eligible_list_unless_unmapped(switched):
    """On its switch day a mapped stock stays on the list, one security; an unmapped one
    looks as if its old code left the list and a new code joined it."""
    settings, _, codes, _ = switched
    events = query(settings, "select * from marts.fct_margin_eligibility_event")
    (mapped_old, mapped_new, switch_day), (unmapped_old, unmapped_new, _) = codes.values()
    on_switch_day = events[events["trade_date"].dt.date == switch_day]
    assert not set(on_switch_day["security_code"]) & {mapped_old, mapped_new}
    assert {unmapped_old, unmapped_new} <= set(on_switch_day["security_code"])
