"""The live path through akshare's real functions, on site-shaped responses
(tests/akshare_http.py) of the demo market: akshare's own parsing runs, no call reaches
the network.

The demo source answers each akshare function with the frame akshare would return; the
sites here answer akshare's HTTP requests with the bodies that make akshare return that
frame. So a live refresh over these sites must build the same warehouse as the demo
refresh: any mismatch between akshare's real output and our contract shows as a
difference or a refused frame.
"""

from __future__ import annotations

import datetime as dt

import akshare
import dagster as dg
import duckdb
import pandas as pd
import pytest
import requests
from conftest import make_settings
from test_dbt_tests import invoke_dbt

from margin_wh.calendar import SHANGHAI
from margin_wh.raw.load import WarehouseSourceError, ingest
from margin_wh.sources import get_source
from margin_wh.sources.akshare_source import (
    AkshareSource,
    HostThrottle,
    SourceResponseError,
    SourceUnavailableError,
)
from margin_wh.sources.datasets import DATASETS, security_type, sina_symbol
from margin_wh.sources.demo import DemoMarket
from margin_wh.sources.parse import SourceDataError
from orchestration.definitions import build_definitions
from orchestration.runner import refresh
from tests.akshare_http import AkshareSites, demo_frames

START, END = dt.date(2024, 6, 24), dt.date(2024, 7, 12)
LOAD_METADATA = ["_source", "_fetched_at"]


def live_source(now: dt.datetime | None = None) -> AkshareSource:
    """The live source on akshare itself, with no pauses: `now` decides which close a
    snapshot shows."""
    return AkshareSource(
        module=akshare, attempts=2, backoff_initial_s=0, sleep=lambda s: None,
        throttle=HostThrottle({}, sleep=lambda s: None),
        now=(lambda: now) if now else (lambda: dt.datetime(2026, 12, 4, tzinfo=dt.UTC)),
    )  # fmt: skip


def evening(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(16, 0), tzinfo=SHANGHAI)


def table(db: str, name: str, exclude: list[str] = ()) -> pd.DataFrame:
    columns = f"* exclude ({', '.join(exclude)})" if exclude else "*"
    with duckdb.connect(db, read_only=True) as con:
        frame = con.execute(f"select {columns} from {name}").df()
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """The same window refreshed from the demo source and, over the sites, from akshare."""
    demo = make_settings(tmp_path_factory.mktemp("demo"))
    live = make_settings(tmp_path_factory.mktemp("live"), MARGIN_WH_SOURCE="akshare")
    refresh(demo, START, END, dg.DagsterInstance.ephemeral(), publish=False)
    market: DemoMarket = get_source(demo).market
    source = live_source(evening(END))  # the evening of the last day: one snapshot, as demo
    with pytest.MonkeyPatch.context() as patch, AkshareSites(demo_frames(market, END)) as sites:
        patch.setattr("margin_wh.sources._akshare_source", lambda: source)
        refresh(live, START, END, dg.DagsterInstance.ephemeral(), publish=False,
                defs=build_definitions(live))  # fmt: skip
    return demo, live, sites


@pytest.mark.parametrize("function", sorted(DATASETS))
def test_a_live_refresh_through_akshare_loads_what_the_demo_source_loads(both, function):
    demo, live, _ = both
    # 序号 numbers the snapshot in akshare's sort by 涨跌幅, whose ties fall in any order
    exclude = LOAD_METADATA + (["序号"] if function == "stock_zh_a_spot_em" else [])
    got = table(str(live.db_path), f"raw.{function}", exclude)
    want = table(str(demo.db_path), f"raw.{function}", exclude)
    assert len(want) > 0, function
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9, check_dtype=False)


@pytest.mark.parametrize(
    "mart",
    ["fct_balance_to_float", "fct_short_concentration_by_industry", "fct_market_short_daily",
     "fct_market_margin_daily", "fct_index_futures_basis", "dim_margin_eligibility",
     "fct_margin_eligibility_event", "fct_margin_signal", "fct_market_leverage_daily"],
)  # fmt: skip
def test_the_marts_of_a_live_refresh_equal_the_demo_ones(both, mart):
    demo, live, _ = both
    got = table(str(live.db_path), f"marts.{mart}")
    want = table(str(demo.db_path), f"marts.{mart}")
    # SZSE's totals travel as text in 亿 with two decimals: a cent apart after conversion
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9, atol=0.05)


def test_the_live_refresh_called_every_function_the_warehouse_uses(both):
    _, _, sites = both
    called = {function for function, _ in sites.calls}
    assert called == set(DATASETS)
    futures_days = [k["date"] for k in sites.calls_of("futures_hist_daily_cffex")]
    assert futures_days == sorted(set(futures_days)) and len(futures_days) == 15  # per day
    # funds asked of Sina's fund history, never of the stock history (which raises for them)
    funds = {k["symbol"] for k in sites.calls_of("fund_etf_hist_sina")}
    stocks = {k["symbol"] for k in sites.calls_of("stock_zh_a_daily")}
    assert funds and not funds & stocks


# --------------------------------------------------------------------------- one dataset


@pytest.fixture
def market() -> DemoMarket:
    return DemoMarket(securities=40, start=dt.date(2024, 6, 1), end=dt.date(2024, 7, 31))


def load(tmp_path, market, function, days, symbols=(), source=None, **site_options):
    """One dataset through ingest, over the sites of `market`."""
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con, AkshareSites(
        demo_frames(market), **site_options
    ) as sites:
        result = ingest(con, source or live_source(), DATASETS[function], days,
                        tmp_path / "landing", symbols)  # fmt: skip
        rows = con.execute(f"select count(*) from raw.{function}").fetchone()[0]
    return result, rows, sites


def test_bse_totals_arrive_in_10k_cny_and_pass_the_unit_checks(tmp_path, market):
    day = dt.date(2024, 7, 10)
    result, rows, _ = load(tmp_path, market, "stock_margin_bse", [day])
    assert rows == 1
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        balance = con.execute('select "融资余额" from raw.stock_margin_bse').fetchone()[0]
    detail = market.call("stock_margin_detail_bse", date="20240710")["融资余额"].sum()
    assert detail / 1e4 <= balance <= detail / 1e4 * 1.006  # 万元: detail sum plus a residual


def test_futures_of_2027_load_although_akshares_calendar_ends_in_2026(tmp_path):
    """get_futures_daily skips every day missing from akshare's calendar.json (it ends
    2026-12-31); CFFEX's daily file has no such gate."""
    market = DemoMarket(securities=20, start=dt.date(2026, 12, 1), end=dt.date(2027, 1, 29))
    day = dt.date(2027, 1, 4)
    assert day in market.trading_days
    with AkshareSites(demo_frames(market)):
        assert akshare.get_futures_daily("20270104", "20270104", market="CFFEX").empty
    result, rows, sites = load(tmp_path, market, "futures_hist_daily_cffex", [day])
    assert rows > 0 and result.trading_days == [day]
    assert sites.calls_of("futures_hist_daily_cffex") == [{"date": "20270104"}]


def test_a_sina_row_on_a_non_trading_day_is_dropped_with_a_note(tmp_path, market):
    """akshare outer-merges Sina's share-count change dates into the bars and forward-fills:
    a stock suspended on Friday whose share count changes on Saturday gets a row dated
    that Saturday (Thursday's prices) in a window that starts on the Friday."""
    code, other = [c for c in market.codes if c.startswith("6")][:2]
    symbol = f"sh{code}"
    friday, saturday = dt.date(2024, 7, 12), dt.date(2024, 7, 13)
    frames = demo_frames(market)

    def suspended_with_a_saturday_change(function, kwargs):
        frame = frames(function, kwargs)
        if function == "stock_zh_a_daily" and kwargs["symbol"] == symbol:
            frame = frame[frame["date"] != friday].reset_index(drop=True)
            shares = frame.set_index("date")["outstanding_share"]
            changes = shares[shares.ne(shares.shift())]
            changes[saturday] = shares.iloc[-1] * 1.1
            frame.attrs["share_changes"] = changes.sort_index()
        return frame

    days = [d for d in market.trading_days if friday <= d <= dt.date(2024, 7, 19)]
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con, AkshareSites(
        suspended_with_a_saturday_change
    ):
        raw = akshare.stock_zh_a_daily(symbol, "20240712", "20240719")
        assert saturday in set(raw["date"])  # the artefact, as akshare returns it
        result = ingest(con, live_source(), DATASETS["stock_zh_a_daily"], days,
                        tmp_path / "landing", [symbol, f"sh{other}"])  # fmt: skip
        loaded = {
            r[0] for r in con.execute(
                "select trade_date from raw.stock_zh_a_daily where symbol = ?", [symbol]
            ).fetchall()
        }  # fmt: skip
    assert saturday not in loaded and loaded and loaded <= set(days) - {friday}
    assert any(
        "dropped its row dated 2024-07-13" in note and symbol in note for note in result.notes
    ), result.notes


def test_numeric_cells_in_szses_xlsx_become_our_error_naming_the_call(tmp_path, market):
    with pytest.raises(SourceResponseError) as raised:
        load(tmp_path, market, "stock_margin_detail_szse", [dt.date(2024, 7, 10)],
             numeric_cells=True)  # fmt: skip
    message = str(raised.value)
    assert "akshare.stock_margin_detail_szse(date='20240710') raised AttributeError" in message
    assert "A retry may help" in message
    assert raised.value.retry_may_help


def test_eastmoney_failing_after_akshares_own_retries_is_retried_then_named(tmp_path, market):
    day = market.trading_days[-1]
    source = live_source(evening(day))
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con, AkshareSites(demo_frames(market)) as sites:
        sites.fail("stock_zh_a_spot_em", times=100, error=503)
        with pytest.raises(SourceUnavailableError) as raised:
            ingest(con, source, DATASETS["stock_zh_a_spot_em"], [day], tmp_path / "landing")
    message = str(raised.value)
    assert "akshare.stock_zh_a_spot_em()" in message and "eastmoney" in message
    assert "HTTPError" in message and "Tried 2 times" in message
    # akshare tries three times itself, and we twice: six requests, no more
    assert len(sites.calls_of("stock_zh_a_spot_em")) == 6


def test_columns_swapped_at_the_source_are_refused_before_anything_is_written(tmp_path, market):
    """SSE's JSON is named by position: if SSE swapped its balance and buy fields, akshare
    would label each as the other. The frame is refused, and nothing is loaded."""
    frames = demo_frames(market)

    def swapped(function, kwargs):
        frame = frames(function, kwargs)
        if function == "stock_margin_detail_sse":
            frame = frame.rename(columns={"融资余额": "融资买入额", "融资买入额": "融资余额"})
            frame = frame[list(frames(function, kwargs).columns)]
        return frame

    with duckdb.connect(str(tmp_path / "w.duckdb")) as con, AkshareSites(swapped):
        with pytest.raises(SourceDataError, match=r"sum\(融资买入额\) / sum\(融资余额\)"):
            ingest(con, live_source(), DATASETS["stock_margin_detail_sse"],
                   [dt.date(2024, 7, 10)], tmp_path / "landing")  # fmt: skip
        tables = con.execute(
            "select count(*) from information_schema.tables where table_name = 'stock_margin_detail_sse'"
        ).fetchone()[0]
    assert tables == 0  # nothing half-written
    assert list((tmp_path / "landing" / "_rejected" / "stock_margin_detail_sse").glob("*.txt"))


def test_a_warehouse_holds_one_source(tmp_path, market):
    day = dt.date(2024, 7, 10)
    demo_source = get_source(make_settings(tmp_path / "settings"))
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        ingest(con, demo_source, DATASETS["stock_margin_szse"], [day], tmp_path / "landing")
    with pytest.raises(WarehouseSourceError, match=r"holds demo data; loading akshare data"):
        load(tmp_path, market, "stock_margin_szse", [day])
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        assert con.execute("select _source from raw.stock_margin_szse").fetchall() == [("demo",)]


# --------------------------------------------------------------------------- Eastmoney blocked


def test_a_close_eastmoney_refuses_is_taken_from_sinas_paged_snapshot_its_cost_said_first(tmp_path):
    """Eastmoney refuses the evening's snapshot (it blocks IPs: akshare #6696, #7314). The
    run says what Sina's paged snapshot will cost against a Sina call per stock, takes the
    close from it (one akshare call: a count, then the pages), and the quotes of the day
    carry each stock's last known float shares; no per-security call is made for the day."""
    settings = make_settings(tmp_path, MARGIN_WH_SOURCE="akshare")
    demo = get_source(make_settings(tmp_path / "demo")).market  # the market the sites hold
    before, end = demo.trading_days[-2], demo.trading_days[-1]
    instance = dg.DagsterInstance.ephemeral()
    defs = build_definitions(settings)
    with pytest.MonkeyPatch.context() as patch:
        # the evening before: Eastmoney's snapshot answers (raw data only: no model is read)
        patch.setattr("margin_wh.sources._akshare_source", lambda: live_source(evening(before)))
        with AkshareSites(demo_frames(demo, before)):
            refresh(settings, before, before, instance, raw_only=True, defs=defs)
        patch.setattr("margin_wh.sources._akshare_source", lambda: live_source(evening(end)))
        with AkshareSites(demo_frames(demo, end)) as sites:
            sites.fail("stock_zh_a_spot_em", times=1000, error=403)
            refresh(settings, end, end, instance, raw_only=True, defs=defs)
    # the quotes' models and their tests only: the marts would take a minute more
    built = invoke_dbt(settings, tmp_path / "dbt", "build", "--select", "+int_security_quotes_daily",
                       "--indirect-selection", "cautious")
    assert built.success, built.output
    eastmoney = demo.snapshot("stock_zh_a_spot_em", end)
    requests = sites.calls_of("stock_zh_a_spot")
    assert requests[0] == {} and len(requests) == 1 + -(-len(eastmoney) // 80)
    assert sites.calls_of("stock_zh_a_daily") == []
    # said before it was paid: the snapshot step's note, materialized before Sina's step ran
    said = instance.fetch_materializations(dg.AssetKey(["raw", "stock_zh_a_spot_em"]), limit=1).records[0]
    paid = instance.fetch_materializations(dg.AssetKey(["raw", "stock_zh_a_spot"]), limit=1).records[0]
    assert said.storage_id < paid.storage_id
    note = said.asset_materialization.metadata["note"].value
    stocks = len(quote_symbols_of(settings, before))
    assert "HTTP 403" in note and f"one call of ~{len(requests)} requests" in note
    assert f"would make {stocks} calls" in note and "assumed" not in note
    with duckdb.connect(str(settings.db_path), read_only=True) as con:
        quotes = con.execute(
            "select security_code, trade_date, close_cny, float_shares, quote_source "
            "from intermediate.int_security_quotes_daily where quote_source <> 'fund_etf_hist_sina'"
        ).df()
    today = quotes[quotes["trade_date"] == pd.Timestamp(end)].set_index("security_code")
    assert set(today["quote_source"]) == {"stock_zh_a_spot"}
    traded = eastmoney[eastmoney["最新价"] > 0].set_index("代码")
    assert set(today.index) == set(traded.index)
    pd.testing.assert_series_equal(today["close_cny"].sort_index(),
                                   traded["最新价"].astype(float).sort_index(),
                                   check_names=False)  # fmt: skip
    earlier = quotes[quotes["trade_date"] < pd.Timestamp(end)].sort_values("trade_date")
    last_known = earlier.groupby("security_code")["float_shares"].last()
    carried = today["float_shares"].dropna()
    assert len(carried) and carried.equals(last_known[carried.index].rename("float_shares"))


def quote_symbols_of(settings, day: dt.date) -> list[str]:
    from margin_wh.raw.universe import quote_symbols

    with duckdb.connect(str(settings.db_path), read_only=True) as con:
        return quote_symbols(con, [day], "stock")


def test_the_dry_run_says_what_a_refused_snapshot_would_cost(tmp_path):
    """`margin-wh refresh --dry-run` (refresh_cost's notes) names the fallback's price
    beside the snapshot's one call: from what the warehouse holds, or said assumed."""
    from margin_wh.raw.cost import ASSUMED_LIST_SIZE, ASSUMED_MARKET_SIZE, refresh_cost
    from margin_wh.sources.akshare_source import FUNCTION_HOSTS, MIN_INTERVAL_S

    market = DemoMarket(securities=20, start=dt.date(2024, 6, 3), end=dt.date(2024, 6, 28))
    day = market.trading_days[-1]
    with duckdb.connect() as con:
        costs = refresh_cost([day], market.trading_days, con, live_source(evening(day)),
                             tmp_path / "landing", FUNCTION_HOSTS, MIN_INTERVAL_S)  # fmt: skip
    snapshot = next(c for c in costs if c.function == "stock_zh_a_spot_em")
    assert snapshot.to_fetch == 1
    pages = -(-ASSUMED_MARKET_SIZE // 80)
    assert snapshot.estimated.startswith("if Eastmoney refuses it: Sina's paged snapshot")
    assert f"one call of ~{1 + pages} requests" in snapshot.estimated
    assert f"would make {ASSUMED_LIST_SIZE['stock']} calls" in snapshot.estimated
    assert "assumed: no snapshot loaded yet" in snapshot.estimated
    # no snapshot to take (the evening shows another day's close): nothing to say
    with duckdb.connect() as con:
        costs = refresh_cost([market.trading_days[-2]], market.trading_days, con,
                             live_source(evening(day)), tmp_path / "landing", FUNCTION_HOSTS,
                             MIN_INTERVAL_S)  # fmt: skip
    assert not next(c for c in costs if c.function == "stock_zh_a_spot_em").estimated


def test_the_assumed_market_size_is_about_what_akshares_docs_print():
    from margin_wh.raw.cost import ASSUMED_MARKET_SIZE
    from tests.docs_examples import documented

    printed = [documented(f).rows for f in ("stock_zh_a_spot", "stock_zh_a_spot_em")]
    assert all(abs(ASSUMED_MARKET_SIZE - rows) < 0.1 * rows for rows in printed)


# --------------------------------------------------------------------------- true messages


def test_a_symbol_the_site_does_not_know_is_said_so_and_no_retry_is_promised(tmp_path, market):
    """Sina's histories are whole files: a symbol it does not know is not "not published
    yet", and no retry will bring it. Through akshare's own functions: the fund history's
    empty frame, and the stock history's file the decoder cannot read."""
    frames = demo_frames(market)
    stock = next(f"sh{c}" for c in market.codes if c.startswith("6"))
    fund = next(sina_symbol(c) for c in market.codes if security_type(c) == "fund")
    unknown = {"sh600999", "sz159999"}
    days = [d for d in market.trading_days if d >= dt.date(2024, 7, 8)][:3]

    def sites_without_them(function, kwargs):
        return None if kwargs.get("symbol") in unknown else frames(function, kwargs)

    reasons = {}
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con, AkshareSites(sites_without_them):
        for function, symbols in (("stock_zh_a_daily", ["sh600999", stock]),
                                  ("fund_etf_hist_sina", ["sz159999", fund])):  # fmt: skip
            result = ingest(con, live_source(), DATASETS[function], days, tmp_path / "landing", symbols)
            reasons |= {f.symbol: f.reason for f in result.missing_symbols}
    assert set(reasons) == unknown  # the known ones loaded
    for symbol, reason in reasons.items():
        assert f"not know symbol '{symbol}'" in reason, reason
        assert "not published" not in reason and "A retry may help" not in reason, reason
    assert "A retry will not help" in reasons["sh600999"]


def test_a_failed_per_symbol_load_is_stale_since_each_symbols_own_day(tmp_path, market):
    """Sina goes down mid-run: the symbols it answered are current, the others stop at the
    previous run's day, and a symbol set aside earlier at its own first missing day. The
    dataset's newest day would hide both (margin_wh/raw/staleness.py)."""
    from margin_wh.raw.staleness import stale_lines

    frames = demo_frames(market)
    stocks = [sina_symbol(c) for c in market.codes if security_type(c) == "stock"][:6]
    unknown = "sh600999"
    first, second = [d for d in market.trading_days if d >= dt.date(2024, 7, 8)][:2]
    requests_before_outage = 2 * 2  # two stocks answered: their bars and share counts
    answered = []

    def sina_goes_down(function, kwargs):
        if function == "stock_zh_a_daily" and kwargs["symbol"] != unknown:
            answered.append(kwargs["symbol"])
            if len(answered) > len(stocks) * 2 + requests_before_outage:
                return requests.ConnectionError("Sina is down")
        return None

    def sites(function, kwargs):
        return None if kwargs.get("symbol") == unknown else frames(function, kwargs)

    daily = DATASETS["stock_zh_a_daily"]
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con, AkshareSites(sites, outage=sina_goes_down):
        ingest(con, live_source(), daily, [first], tmp_path / "landing", [unknown, *stocks])
        with pytest.raises(SourceUnavailableError):
            ingest(con, live_source(), daily, [second], tmp_path / "landing", stocks)
        lines = stale_lines(con, market.trading_days, ["stock_zh_a_daily"], second)
        reached = {r[0] for r in con.execute(
            "select symbol from raw.stock_zh_a_daily where trade_date = ?", [second]).fetchall()}  # fmt: skip
    after_second = market.trading_days[market.trading_days.index(second) + 1]
    assert len(reached) == 2
    assert lines[0] == (f"stock_zh_a_daily: stale since {after_second} (last day loaded: {second}) "
                        "for the symbols it holds then")  # fmt: skip
    not_reached = sorted(set(stocks) - reached)
    assert f"stale since {second} for {len(not_reached)} symbol(s) (not reached by the failed run, " \
           f"or suspended): {', '.join(not_reached[:5])}" in "\n".join(lines)  # fmt: skip
    assert f"stale since {first} for 1 symbol(s) (set aside: the next run asks again): {unknown}" in lines[1]
