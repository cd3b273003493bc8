"""The trading calendar's horizon: when Sina's file ends before today (as it has at year
ends), the days that traded are learned from SSE's margin totals, through akshare's own
`stock_margin_sse` on site-shaped responses (tests/akshare_http.py), and loaded with no
manual step.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import duckdb
import pandas as pd
import pytest
import requests
from conftest import make_settings
from test_live_path import live_source

from margin_wh.calendar import CALENDAR_FUNCTION
from margin_wh.raw.landed_calendar import load_calendar
from margin_wh.raw.learned_days import learn_days_past_calendar
from margin_wh.raw.load import ingest
from margin_wh.sources.datasets import DATASETS
from margin_wh.sources.demo import DemoMarket
from tests.akshare_http import AkshareSites, demo_frames

D = dt.date
SINA_END = D(2026, 12, 31)  # Sina's file has not reached the new year yet


def lagging_sites(market: DemoMarket, today: dt.date):
    """The demo market's sites on `today` morning: Sina's calendar still ends on
    2026-12-31, and SSE has published every trading day before `today`."""
    frames = demo_frames(market)

    def answer(function: str, kwargs: dict):
        frame = frames(function, kwargs)
        if function == CALENDAR_FUNCTION:
            return frame[pd.to_datetime(frame["trade_date"]).dt.date <= SINA_END]
        if function == "stock_margin_sse":
            return frame[pd.to_datetime(frame["信用交易日期"]).dt.date < today]
        return frame

    return AkshareSites(answer)


@pytest.fixture(scope="module")
def market() -> DemoMarket:
    return DemoMarket(securities=20, start=D(2026, 12, 1), end=D(2027, 1, 29))


def land_sina_calendar(con, landing):
    ingest(con, live_source(), DATASETS[CALENDAR_FUNCTION], [], landing)


def test_the_days_past_sinas_calendar_are_learned_from_sses_totals(tmp_path, market):
    today = D(2027, 1, 6)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con, lagging_sites(market, today) as sites:
        land_sina_calendar(con, tmp_path)
        calendar = load_calendar(tmp_path)
        assert calendar[-1] == SINA_END
        learned = learn_days_past_calendar(con, live_source(), calendar, tmp_path, today)
        loaded = {r[0] for r in con.execute("select trade_date from raw.stock_margin_sse").fetchall()}
    # 2027-01-01 is New Year's Day: SSE published nothing for it, so it is not learned
    assert learned.days == (D(2027, 1, 4), D(2027, 1, 5)) and not learned.failed
    assert "SSE published 2 trading days" in learned.note
    assert sites.calls_of("stock_margin_sse") == [{"start_date": "20270101", "end_date": "20270106"}]
    assert loaded == set(learned.days)  # a load like any other: the refresh makes no second call
    assert load_calendar(tmp_path)[-3:] == [SINA_END, D(2027, 1, 4), D(2027, 1, 5)]


def test_a_span_with_nothing_published_yet_is_said_not_refused(tmp_path, market):
    today = D(2027, 1, 4)  # New Year's Day is the only weekday since the calendar's end
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con, lagging_sites(market, today):
        land_sina_calendar(con, tmp_path)
        learned = learn_days_past_calendar(con, live_source(), load_calendar(tmp_path), tmp_path, today)
    assert learned.days == () and not learned.failed
    assert "SSE lists no day there yet" in learned.note
    assert load_calendar(tmp_path)[-1] == SINA_END


def test_a_host_down_while_learning_is_a_warning_and_the_next_run_asks_again(tmp_path, market):
    today = D(2027, 1, 6)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con, lagging_sites(market, today) as sites:
        land_sina_calendar(con, tmp_path)
        sites.fail("stock_margin_sse", times=10, error=requests.ConnectionError)
        learned = learn_days_past_calendar(con, live_source(), load_calendar(tmp_path), tmp_path, today)
    assert learned.failed and learned.days == ()
    assert "the next run asks again" in learned.note and "host is down" in learned.note
    assert load_calendar(tmp_path)[-1] == SINA_END


def test_the_calendar_asset_registers_the_learned_days_as_partitions(tmp_path, market, monkeypatch):
    """The real calendar asset, with the clock on 2027-01-06 and Sina's file ending on
    2026-12-31: the learned trading days become partitions, in order, New Year's Day not."""
    from orchestration.definitions import build_definitions
    from orchestration.partitions import TRADING_DAYS
    from orchestration.runner import refresh

    settings = make_settings(tmp_path, MARGIN_WH_SOURCE="akshare",
                             MARGIN_WH_HISTORY_START="2026-12-21")  # fmt: skip
    source = live_source()
    monkeypatch.setattr("margin_wh.sources._akshare_source", lambda: source)
    monkeypatch.setattr("orchestration.assets.raw.shanghai_today", lambda: D(2027, 1, 6))
    monkeypatch.setattr("orchestration.runner.shanghai_today", lambda: D(2027, 1, 6))
    instance = dg.DagsterInstance.ephemeral()
    with lagging_sites(market, D(2027, 1, 6)):
        refresh(settings, D(2026, 12, 28), D(2027, 1, 5), instance, raw_only=True,
                defs=build_definitions(settings))  # fmt: skip
    keys = instance.get_dynamic_partitions(TRADING_DAYS.name)
    assert keys[-4:] == ["2026-12-30", "2026-12-31", "2027-01-04", "2027-01-05"]
    with duckdb.connect(str(settings.db_path), read_only=True) as con:
        days = {r[0] for r in con.execute("select distinct trade_date from raw.stock_margin_detail_sse").fetchall()}
    assert {D(2027, 1, 4), D(2027, 1, 5)} <= days
