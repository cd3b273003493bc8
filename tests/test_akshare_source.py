"""The live client, without the network: retries, backoff, per-host politeness, HTTP
timeouts, and the calls the loader plans (never a closed day; one call per symbol)."""

from __future__ import annotations

import datetime as dt
import inspect
import threading

import pytest
import requests
from standins import FULL_CALENDAR, HOLIDAYS, TRADING_DAY_SET, WINDOW, FakeAkshare

from margin_wh.calendar import trading_days_between
from margin_wh.raw.load import plan_requests
from margin_wh.sources.akshare_source import (
    AkshareSource,
    HostThrottle,
    SourceResponseError,
    SourceUnavailableError,
    default_http_timeout,
)
from margin_wh.sources.datasets import DATASETS

DATE = "20241008"


class FakeClock:
    """monotonic() and sleep() for HostThrottle: sleeping moves the clock."""

    def __init__(self, now: float = 1000.0):
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def make_source(ak, waits: list[float] | None = None, **kwargs) -> AkshareSource:
    """A source that never really sleeps: backoff waits are recorded in `waits`."""
    waits = [] if waits is None else waits
    kwargs.setdefault("throttle", HostThrottle({}, clock=FakeClock(), sleep=lambda s: None))
    return AkshareSource(module=ak, backoff_initial_s=0, sleep=waits.append, **kwargs)


# --------------------------------------------------------------------------- retries


@pytest.mark.parametrize(
    "error",
    [
        lambda: requests.ConnectionError("Connection aborted: remote end closed"),
        lambda: requests.Timeout("HTTPSConnectionPool: read timed out"),
        lambda: requests.exceptions.ReadTimeout("read timed out (read timeout=60)"),
        lambda: ConnectionResetError(104, "Connection reset by peer"),
    ],
)
def test_transient_errors_are_retried_until_the_call_succeeds(error):
    ak = FakeAkshare().fail("stock_margin_detail_szse", times=2, error=error)
    waits: list[float] = []
    frame = make_source(ak, waits, attempts=5).call("stock_margin_detail_szse", date=DATE)
    assert frame.equals(ak.clean("stock_margin_detail_szse", date=DATE))
    assert ak.calls_of("stock_margin_detail_szse") == [{"date": DATE}] * 3
    assert len(waits) == 2  # one backoff before each retry


def test_backoff_grows_exponentially_with_jitter_and_is_capped():
    ak = FakeAkshare().fail("stock_margin_sse", times=4, error=lambda: requests.Timeout("slow"))
    waits: list[float] = []
    source = AkshareSource(
        module=ak, attempts=5, backoff_initial_s=1.0, backoff_max_s=60.0, sleep=waits.append,
        throttle=HostThrottle({}, clock=FakeClock(), sleep=lambda s: None),
    )  # fmt: skip
    source.call("stock_margin_sse", start_date=DATE, end_date=DATE)
    assert len(waits) == 4
    for k, wait in enumerate(waits):  # 1 s, 2 s, 4 s, 8 s, each plus up to 1 s of jitter
        assert 2**k <= wait <= 2**k + 1, waits
    assert any(wait != 2**k for k, wait in enumerate(waits)), "no jitter"

    ak.fail("stock_margin_sse", times=4, error=lambda: requests.Timeout("slow"))
    waits.clear()
    capped = AkshareSource(
        module=ak, attempts=5, backoff_initial_s=1.0, backoff_max_s=1.5, sleep=waits.append,
        throttle=HostThrottle({}, clock=FakeClock(), sleep=lambda s: None),
    )  # fmt: skip
    capped.call("stock_margin_sse", start_date=DATE, end_date=DATE)
    assert len(waits) == 4 and max(waits) <= 1.5


def test_after_every_attempt_fails_the_error_names_the_call_attempts_and_last_error():
    raised: list[Exception] = []

    def timeout() -> Exception:
        raised.append(requests.Timeout(f"read timed out #{len(raised) + 1}"))
        return raised[-1]

    ak = FakeAkshare().fail("stock_margin_detail_szse", times=10, error=timeout)
    waits: list[float] = []
    with pytest.raises(SourceUnavailableError) as error:
        make_source(ak, waits, attempts=3).call("stock_margin_detail_szse", date=DATE)
    message = str(error.value)
    assert "akshare.stock_margin_detail_szse(date='20241008')" in message
    assert "Tried 3 times" in message
    assert "A retry may help" in message
    assert "Timeout: read timed out #3" in message  # the last error, not the first
    assert "szse" in message  # the host
    assert error.value.__cause__ is raised[-1]
    assert len(ak.calls_of("stock_margin_detail_szse")) == 3
    assert len(waits) == 2


@pytest.mark.parametrize(
    "error",
    [lambda: ValueError("Length mismatch: Expected axis has 0 elements"), lambda: KeyError("data")],
)
def test_a_non_transient_error_is_not_retried(error):
    ak = FakeAkshare().fail("stock_margin_detail_sse", times=1, error=error)
    waits: list[float] = []
    with pytest.raises(SourceResponseError, match="not published yet") as raised:
        make_source(ak, waits, attempts=5).call("stock_margin_detail_sse", date=DATE)
    assert "stock_margin_detail_sse(date=" in str(raised.value)
    assert isinstance(raised.value.__cause__, (ValueError, KeyError))
    assert len(ak.calls_of("stock_margin_detail_sse")) == 1
    assert waits == []


def test_an_unknown_function_names_the_akshare_version():
    with pytest.raises(AttributeError, match=r"akshare 1\.19\.5 has no function 'stock_margin_x'"):
        make_source(FakeAkshare()).call("stock_margin_x", date=DATE)


def test_wrong_keyword_arguments_reach_the_caller_unretried():
    ak = FakeAkshare()
    with pytest.raises(TypeError):
        make_source(ak).call("stock_margin_detail_sse", trade_date=DATE)


# --------------------------------------------------------------------------- politeness


def test_host_throttle_enforces_the_interval_per_host_and_not_across_hosts():
    clock = FakeClock()
    throttle = HostThrottle({"sina": 3.0, "sse": 1.0}, clock=clock, sleep=clock.sleep)
    assert throttle.wait("sina") == 0  # first call: no wait
    clock.now += 1.0
    assert throttle.wait("sina") == pytest.approx(2.0)  # 3 s between starts
    assert throttle.wait("sse") == 0  # another host is not held up by sina
    assert throttle.wait("sse") == pytest.approx(1.0)
    clock.now += 10.0
    assert throttle.wait("sina") == 0  # long enough ago
    assert clock.slept == [pytest.approx(2.0), pytest.approx(1.0)]


def test_host_throttle_does_not_hold_other_hosts_while_one_sleeps():
    """Thread A sleeps for sina; thread B's sse call must go ahead meanwhile."""
    a_sleeping, release = threading.Event(), threading.Event()

    def sleep(seconds: float) -> None:
        a_sleeping.set()
        release.wait(10)

    throttle = HostThrottle({"sina": 3.0, "sse": 1.0}, sleep=sleep)
    throttle.wait("sina")
    a = threading.Thread(target=throttle.wait, args=("sina",))
    a.start()
    try:
        assert a_sleeping.wait(10)
        b_done = threading.Event()
        b = threading.Thread(target=lambda: (throttle.wait("sse"), b_done.set()))
        b.start()
        assert b_done.wait(5), "sse waited for sina's interval"
    finally:
        release.set()
        a.join(10)
        b.join(10)


def test_calls_are_throttled_by_the_host_they_go_to():
    clock = FakeClock()
    throttle = HostThrottle({"sina": 3.0, "sse": 1.0}, clock=clock, sleep=clock.sleep)
    source = make_source(FakeAkshare(), throttle=throttle)
    quote = {"symbol": "sz000001", "start_date": DATE, "end_date": DATE, "adjust": ""}
    source.call("stock_zh_a_daily", **quote)
    source.call("stock_zh_a_daily", **quote)
    assert clock.slept == [pytest.approx(3.0)]
    source.call("stock_margin_detail_sse", date=DATE)  # SSE: not held up by Sina
    assert clock.slept == [pytest.approx(3.0)]
    clock.now += 1.0
    source.call("stock_zh_index_daily", symbol="sh000300")  # Sina again, 1 s later
    source.call("tool_trade_date_hist_sina")  # Sina again
    assert clock.slept == [pytest.approx(3.0), pytest.approx(2.0), pytest.approx(3.0)]


def test_every_attempt_is_throttled():
    clock = FakeClock()
    throttle = HostThrottle({"szse": 1.0}, clock=clock, sleep=clock.sleep)
    ak = FakeAkshare().fail("stock_margin_szse", times=2)
    make_source(ak, throttle=throttle, attempts=3).call("stock_margin_szse", date=DATE)
    assert clock.slept == [pytest.approx(1.0), pytest.approx(1.0)]


# --------------------------------------------------------------------------- timeouts


@pytest.fixture
def sent(monkeypatch) -> list[float | None]:
    """Replace the HTTP transport: record each request's timeout, answer 200, no network."""
    timeouts: list[float | None] = []

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        timeouts.append(timeout)
        response = requests.Response()
        response.status_code = 200
        response._content = b"{}"
        response.url = request.url
        response.request = request
        return response

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", send)
    return timeouts


def test_default_http_timeout_gives_requests_a_timeout_and_restores(sent):
    original = requests.sessions.Session.request
    requests.get("http://query.sse.invalid/marketdata")
    with default_http_timeout(7.5):
        requests.get("http://query.sse.invalid/marketdata")
        requests.post("http://www.bse.invalid/detail", data={"page": "0"})
        requests.get("http://www.szse.invalid/report", timeout=30)  # an explicit one stays
        with requests.Session() as session:
            session.get("http://finance.sina.invalid/hist")
    requests.get("http://query.sse.invalid/marketdata")
    assert sent == [None, 7.5, 7.5, 30, 7.5, None]
    assert requests.sessions.Session.request is original


def test_default_http_timeout_restores_after_an_error(sent):
    original = requests.sessions.Session.request
    with pytest.raises(RuntimeError), default_http_timeout(7.5):
        raise RuntimeError("akshare blew up")
    assert requests.sessions.Session.request is original


def test_akshare_calls_get_the_source_timeout(sent):
    """An akshare function calls requests.get without a timeout; the source adds one."""
    ak = FakeAkshare()

    def stock_margin_szse(date: str = "20240411"):
        requests.get("https://www.szse.invalid/api/report/ShowReport/data", params={"d": date})
        return ak.clean("stock_margin_szse", date=date)

    ak.stock_margin_szse = stock_margin_szse
    original = requests.sessions.Session.request
    make_source(ak, http_timeout_s=12.0).call("stock_margin_szse", date=DATE)
    assert sent == [12.0]
    assert requests.sessions.Session.request is original


# --------------------------------------------------------------------------- planning

CAL = sorted(FULL_CALENDAR)
DAYS = trading_days_between(CAL, dt.date(2024, 9, 26), dt.date(2024, 10, 10))
SYMBOLS = ["sh600000", "sz000001", "bj430047"]


def test_plan_requests_never_asks_for_a_closed_day():
    assert DAYS == WINDOW  # the stand-in's hand-made window
    for function, dataset in DATASETS.items():
        for request in plan_requests(dataset, DAYS, SYMBOLS):
            for name in ("date", "start_date", "end_date"):
                if name in request.kwargs:
                    day = dt.datetime.strptime(request.kwargs[name], "%Y%m%d").date()
                    assert day in TRADING_DAY_SET, (function, request)
                    assert day not in HOLIDAYS


def test_plan_per_day_is_one_call_per_trading_day():
    requests_ = plan_requests(DATASETS["stock_margin_detail_szse"], DAYS)
    assert [r.kwargs for r in requests_] == [
        {"date": d} for d in
        ["20240926", "20240927", "20240930", "20241008", "20241009", "20241010"]
    ]  # fmt: skip
    assert [r.trade_day for r in requests_] == WINDOW
    assert [r.window for r in requests_] == [(d, d) for d in WINDOW]


def test_plan_quote_backfill_is_one_call_per_symbol_over_the_whole_window():
    requests_ = plan_requests(DATASETS["stock_zh_a_daily"], DAYS, SYMBOLS)
    assert [r.kwargs for r in requests_] == [
        {"symbol": s, "start_date": "20240926", "end_date": "20241010", "adjust": ""}
        for s in SYMBOLS
    ]
    assert {r.window for r in requests_} == {(dt.date(2024, 9, 26), dt.date(2024, 10, 10))}


def test_plan_range_static_and_full_history_calls():
    futures = plan_requests(DATASETS["futures_hist_daily_cffex"], DAYS)
    assert [r.kwargs for r in futures] == [{"date": d.strftime("%Y%m%d")} for d in DAYS]
    summary = plan_requests(DATASETS["stock_margin_sse"], DAYS)
    assert [r.kwargs for r in summary] == [{"start_date": "20240926", "end_date": "20241010"}]
    spot = plan_requests(DATASETS["stock_zh_index_daily"], DAYS, ["sh000300", "sh000852"])
    assert [r.kwargs for r in spot] == [{"symbol": "sh000300"}, {"symbol": "sh000852"}]
    calendar = plan_requests(DATASETS["tool_trade_date_hist_sina"], [])
    assert [(r.kwargs, r.window) for r in calendar] == [({}, None)]
    with pytest.raises(ValueError, match="no trading days"):
        plan_requests(DATASETS["stock_margin_sse"], [])


def test_stand_in_functions_have_akshares_signatures():
    """The stand-in's functions take exactly the real ones' arguments (inspected, never
    called: the real akshare would go to the network)."""
    import akshare

    for function in FakeAkshare.FUNCTIONS:
        real = inspect.signature(getattr(akshare, function))
        fake = inspect.signature(getattr(FakeAkshare(), function))
        assert [(p.name, p.default) for p in fake.parameters.values()] == [
            (p.name, p.default) for p in real.parameters.values()
        ], function


def test_planned_calls_bind_to_akshares_arguments():
    ak = FakeAkshare()
    for function, dataset in DATASETS.items():
        symbols = SYMBOLS if dataset.request_columns else ()
        for request in plan_requests(dataset, DAYS, symbols):
            inspect.signature(getattr(ak, function)).bind(**request.kwargs)  # TypeError if not


# --------------------------------------------------------------------------- hangs


def test_a_call_that_never_returns_fails_within_its_limit():
    """Not every hang is HTTP (akshare decodes Sina's files with JavaScript): the whole
    call has a wall-clock limit, after which it fails like a timeout; not retried in the
    same run, since the abandoned call may still be running."""
    import time

    class Hanging:
        __version__ = "1.19.5"

        def stock_zh_a_daily(self, symbol, start_date="19900101", end_date="21000118", adjust=""):
            time.sleep(30)

    waits: list[float] = []
    source = make_source(Hanging(), waits, attempts=2, call_limit_s=0.2)
    started = time.monotonic()
    with pytest.raises(SourceUnavailableError) as raised:
        source.call("stock_zh_a_daily", symbol="sh600000")
    assert time.monotonic() - started < 2
    assert "did not return within 0.2 s" in str(raised.value)
    assert "One call" in str(raised.value) and "Tried" not in str(raised.value)  # one call hung
    assert "A retry may help" in str(raised.value)
    assert waits == []  # no retry beside the abandoned call
