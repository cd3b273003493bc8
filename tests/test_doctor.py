"""`margin-wh doctor` through akshare's real functions, against site-shaped responses of
the demo market (tests/akshare_http.py): no call reaches the network."""

from __future__ import annotations

import datetime as dt

import akshare
import pytest

from margin_wh import cli
from margin_wh.sources.akshare_source import FUNCTION_HOSTS, AkshareSource, HostThrottle
from margin_wh.sources.datasets import DATASETS
from margin_wh.sources.demo import DemoMarket
from margin_wh.sources.doctor import run_doctor
from tests.akshare_http import AkshareSites, demo_frames

TODAY = dt.date(2024, 7, 15)  # a Monday: the latest published day is Friday 07-12


@pytest.fixture(scope="module")
def market() -> DemoMarket:
    return DemoMarket(securities=120, start=dt.date(2024, 1, 1), end=dt.date(2024, 7, 31))


def live_source() -> AkshareSource:
    """The live source on akshare itself, with no pauses between calls."""
    return AkshareSource(
        module=akshare, attempts=2, backoff_initial_s=0, sleep=lambda s: None,
        throttle=HostThrottle({}, sleep=lambda s: None),
    )  # fmt: skip


def test_every_function_answers_as_the_contract_expects(market):
    with AkshareSites(demo_frames(market, dt.date(2024, 7, 12))) as sites:
        findings = run_doctor(live_source(), TODAY, FUNCTION_HOSTS)
    assert [f.function for f in findings] == list(DATASETS)
    failed = {f.function: f.detail for f in findings if not f.ok}
    assert failed == {}
    by_function = {f.function: f for f in findings}
    assert by_function["stock_margin_detail_szse"].call == "stock_margin_detail_szse(date='20240712')"
    assert by_function["stock_margin_detail_szse"].host == "szse"
    assert by_function["stock_zh_a_daily"].rows > 0 and by_function["fund_etf_hist_sina"].rows > 0
    # Sina's extra amount column is let through and noted, not refused
    assert "left out column(s) ['amount']" in by_function["stock_zh_index_daily"].detail
    # one request per function, plus Sina's share counts and the paged sites' pages
    assert {f for f, _ in sites.calls} == set(DATASETS)


def test_a_host_that_fails_is_reported_and_the_exit_code_says_so(market, monkeypatch, capsys):
    monkeypatch.setenv("MARGIN_WH_SOURCE", "akshare")
    monkeypatch.setattr("margin_wh.sources._akshare_source", live_source)
    with AkshareSites(demo_frames(market, dt.date(2024, 7, 12))) as sites:
        sites.fail("stock_margin_detail_szse", times=5, error=500)
        sites.fail("stock_margin_bse", times=5, error="<html>维护中</html>")
        code = cli.main(["doctor", "--today", TODAY.isoformat()])
    out = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    assert code == 1
    assert "2 of 16 functions failed: stock_margin_detail_szse, stock_margin_bse" in out
    # SZSE's error page is no xlsx: akshare's reader fails, and the doctor says so
    assert "akshare.stock_margin_detail_szse(date='20240712') raised BadZipFile" in out
    assert "while parsing szse's answer" in out and "A retry may help" in out


def test_a_renamed_column_fails_the_columns_check(market):
    """A new akshare release that renames a column: doctor says the columns changed."""

    class RenamingSource:
        name = "demo"

        def call(self, function: str, **kwargs):
            frame = market.call(function, **kwargs)
            if function == "futures_hist_daily_cffex":
                frame = frame.rename(columns={"open_interest": "hold"})
            return frame

    findings = {f.function: f for f in run_doctor(RenamingSource(), TODAY, FUNCTION_HOSTS)}
    futures = findings["futures_hist_daily_cffex"]
    assert not futures.ok and futures.columns_ok is False and futures.rows > 0
    assert "missing ['open_interest']" in futures.detail and "unexpected ['hold']" in futures.detail
    assert all(f.ok for name, f in findings.items() if name != "futures_hist_daily_cffex")
