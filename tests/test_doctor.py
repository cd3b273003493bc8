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
from margin_wh.sources.doctor import latest_published_day, run_doctor
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


DISPUTED = ("参与交易的投资者数量", "有融资融券负债的投资者数量")


def test_investor_counts_in_ten_thousands_pass_and_the_unit_that_arrived_is_shown(market):
    """A public loader's 万名 where akshare's docs say 名: accepted, and doctor says so."""
    demo = demo_frames(market, dt.date(2024, 7, 12))

    def frames(function: str, kwargs: dict):
        frame = demo(function, kwargs)
        if function == "stock_margin_account_info":
            frame = frame.assign(**{name: frame[name] / 1e4 for name in DISPUTED})
        return frame

    with AkshareSites(frames):
        findings = {f.function: f for f in run_doctor(live_source(), TODAY, FUNCTION_HOSTS)}
    accounts = findings["stock_margin_account_info"]
    assert accounts.ok, accounts.detail
    assert dict(accounts.units_arrived) == dict.fromkeys(DISPUTED, "10k_persons")
    assert f"column '{DISPUTED[0]}' arrived in 10k_persons" in accounts.detail
    assert all(f.ok for f in findings.values())


def test_doctor_passes_on_the_demo_source_after_the_demo_market_has_ended(
    tmp_path, monkeypatch, capsys
):
    """The default command on the default source: the demo market ends (MARGIN_WH_DEMO_END)
    while the clock runs on, so its dated calls are asked for its last day, not for a day
    it never simulated (an empty frame, read as "not published yet")."""
    demo_end = dt.date(2024, 7, 31)
    for name, value in {
        "MARGIN_WH_SOURCE": "demo", "MARGIN_WH_HOME": str(tmp_path),
        "MARGIN_WH_HISTORY_START": "2024-06-03", "MARGIN_WH_DEMO_END": demo_end.isoformat(),
        "MARGIN_WH_DEMO_SECURITIES": "40",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("margin_wh.calendar.shanghai_today", lambda: dt.date(2026, 12, 5))
    code = cli.main(["doctor"])
    out = " ".join(capsys.readouterr().out.split())
    assert code == 0, out
    assert f"all {len(DATASETS)} functions answer as the contract expects" in out
    assert "stock_margin_detail_szse(date='20240731'): ok" in out  # the demo's last day
    assert f"column '{DISPUTED[1]}' arrived in persons" in out


def test_dated_calls_ask_for_the_day_before_today_or_the_last_day_a_source_answers_for():
    calendar = [dt.date(2024, 7, d) for d in (8, 9, 10, 11, 12, 15)]
    monday, thursday = dt.date(2024, 7, 15), dt.date(2024, 7, 11)
    assert latest_published_day(calendar, monday, None) == dt.date(2024, 7, 12)
    assert latest_published_day(calendar, monday, dt.date(2024, 7, 10)) == dt.date(2024, 7, 10)
    # a source that ends after today changes nothing
    assert latest_published_day(calendar, thursday, monday) == dt.date(2024, 7, 10)


def _name_not_resolved(function: str) -> Exception:
    """What a call raises on a machine with no network: requests' ConnectionError whose
    cause chain holds the resolver's socket.gaierror (as urllib3's NameResolutionError
    does), or, for CFFEX's CSV read through urllib, URLError with the gaierror as reason."""
    import socket
    import urllib.error

    import requests

    if function == "futures_hist_daily_cffex":
        return urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))
    try:
        raise socket.gaierror(-3, "Temporary failure in name resolution")
    except socket.gaierror as resolver:
        error = requests.ConnectionError("Failed to resolve host")
        error.__cause__ = resolver
        return error


def test_no_network_is_said_at_once_not_retried_as_a_slow_host(market):
    """A name that does not resolve is no network, not a slow host: no retry, no backoff,
    and every call says so."""
    import time

    waits: list[float] = []
    source = AkshareSource(module=akshare, attempts=5, backoff_initial_s=2, sleep=waits.append,
                           throttle=HostThrottle({}, sleep=lambda s: None))  # fmt: skip
    with AkshareSites(demo_frames(market, dt.date(2024, 7, 12))) as sites:
        for function in DATASETS:
            sites.fail(function, times=100, error=_name_not_resolved(function))
        started = time.monotonic()
        findings = run_doctor(source, TODAY, FUNCTION_HOSTS)
    assert time.monotonic() - started < 30
    assert waits == []  # not one backoff
    called = [f for f in findings if f.rows is None and "symbol=?" not in f.call]
    assert called and all(f.no_network for f in called), [f.detail for f in called]
    assert "no network (or no DNS)" in called[0].detail and "A retry will not help" in called[0].detail
