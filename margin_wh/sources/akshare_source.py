"""The live source: akshare calls made politely and resiliently.

- Retries with exponential backoff and jitter on connection errors and timeouts
  (tenacity), then one clear error naming the call.
- A minimum interval between calls to the same host: Sina asks for seconds between
  calls, Eastmoney bans bursts, the exchanges throttle.
- A timeout on every HTTP request: akshare calls `requests.get` without one, so a
  stalled exchange server would otherwise hang a run forever.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import inspect
import socket
import threading
import time
import urllib.error
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pandas as pd
import requests
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from margin_wh.calendar import closing_snapshot_day

# Which host each function calls, and the politeness interval per host (seconds).
FUNCTION_HOSTS = {
    "tool_trade_date_hist_sina": "sina",
    "stock_zh_a_daily": "sina",
    "stock_zh_index_daily": "sina",
    "fund_etf_hist_sina": "sina",
    "stock_margin_detail_sse": "sse",
    "stock_margin_sse": "sse",
    "stock_margin_detail_szse": "szse",
    "stock_margin_szse": "szse",
    "stock_margin_detail_bse": "bse",
    "stock_margin_bse": "bse",
    "stock_margin_underlying_info_szse": "szse",
    "stock_margin_underlying_info_bse": "bse",
    "stock_margin_account_info": "eastmoney",
    "futures_hist_daily_cffex": "cffex",
    "stock_industry_clf_hist_sw": "swsresearch",
    "stock_zh_a_spot_em": "eastmoney",
    "stock_zh_a_spot": "sina",  # the snapshot's fallback (datasets.SINA_SNAPSHOT)
}
MIN_INTERVAL_S = {
    "sina": 3.0,
    "eastmoney": 5.0,
    "sse": 1.0,
    "szse": 1.0,
    "bse": 1.0,
    "cffex": 0.5,
    "swsresearch": 1.0,
}
# Statuses after which the same call, made again a little later, may well succeed.
TRANSIENT_HTTP_STATUSES = {408, 425, 429, 500, 502, 503, 504}


def http_status(error: BaseException) -> int | None:
    """The HTTP status an exception carries: requests' HTTPError or urllib's (pandas reads
    CFFEX's CSV through urllib)."""
    if isinstance(error, requests.HTTPError) and error.response is not None:
        return error.response.status_code
    if isinstance(error, urllib.error.HTTPError):
        return error.code
    return None


def cannot_resolve(error: BaseException) -> bool:
    """Whether the call failed because the host's name did not resolve (socket.gaierror,
    somewhere in the chain requests or urllib wrap it in): no network, or no DNS, on this
    machine. Waiting does not bring a name back, so it is said at once, not retried."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, socket.gaierror):
            return True
        reason = getattr(error, "reason", None)  # urllib's URLError carries it as .reason
        if isinstance(reason, socket.gaierror):
            return True
        error = error.__cause__ or error.__context__
    return False


def is_transient(error: BaseException) -> bool:
    """A network failure or an overloaded host: retried with backoff. Not a call that hit
    its wall-clock limit: it may still be running, and would run beside its retry; nor a
    name that does not resolve (no network here)."""
    if isinstance(error, CallTimeoutError) or cannot_resolve(error):
        return False
    status = http_status(error)
    if status is not None:
        return status in TRANSIENT_HTTP_STATUSES
    # a connection dropped mid-download (chunked, or short of its length) included
    return isinstance(
        error,
        (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
         http.client.IncompleteRead, ConnectionError, TimeoutError, urllib.error.URLError),
    )  # fmt: skip


class CallTimeoutError(TimeoutError):
    """A source call that did not return within its wall-clock limit."""


def call_within(seconds: float, fn: Callable[..., Any], **kwargs: Any) -> Any:
    """fn(**kwargs), or CallTimeoutError after `seconds`. Not every hang is HTTP (akshare
    decodes Sina's files with JavaScript, pages through Eastmoney with sleeps), so the
    whole call gets a limit; the abandoned call runs on in a daemon thread and its result,
    if any, is dropped."""
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            outcome["value"] = fn(**kwargs)
        except BaseException as error:  # noqa: BLE001 - handed to the caller below
            outcome["error"] = error
        finally:
            done.set()

    threading.Thread(target=run, name="akshare-call", daemon=True).start()
    if not done.wait(seconds):
        raise CallTimeoutError(f"did not return within {seconds:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


class SourceCallError(RuntimeError):
    """An akshare call gave no frame. Names the call and says whether a retry may help."""

    def __init__(self, message: str, *, call: str, host: str, retry_may_help: bool):
        advice = (
            "A retry may help: re-run later (loaded data is untouched)."
            if retry_may_help
            else "A retry will not help until the cause above is fixed."
        )
        super().__init__(f"{message} {advice}")
        self.call, self.host, self.retry_may_help = call, host, retry_may_help


class SourceUnavailableError(SourceCallError):
    """The host could not be reached, or kept failing, after every retry."""


class NoNetworkError(SourceUnavailableError):
    """The host's name does not resolve: this machine has no network (or no DNS)."""


class SourceResponseError(SourceCallError):
    """The host answered, but not with what akshare can turn into a frame."""


# What akshare raises when a page is not what its parser expects: pandas' positional
# renames (ValueError "Length mismatch"), missing JSON keys, `.str` on numeric cells
# (AttributeError), and the errors of the decoders it uses (demjson's JSONDecodeError is no
# ValueError; Sina's JavaScript runs in py_mini_racer; SZSE's xlsx in openpyxl).
_PARSING_ERRORS = (ValueError, KeyError, IndexError, AttributeError, TypeError, ZeroDivisionError)
_PARSERS = {"akshare", "py_mini_racer", "openpyxl", "xlrd", "zipfile", "json", "pandas"}


def describe_failure(
    call: str, host: str, error: BaseException, retried: str = "", symbol: str | None = None
) -> SourceCallError:
    """Our error for what an akshare call raised; `retried` says how long we kept trying
    a transient failure; `symbol`: the one security the call asked for, if it did."""
    kind = f"{type(error).__name__}: {error}"
    if cannot_resolve(error):
        return NoNetworkError(
            f"{call}: the name of the {host} host does not resolve: no network (or no DNS) on "
            f"this machine, not a slow host ({kind}).",
            call=call, host=host, retry_may_help=False,
        )  # fmt: skip
    status = http_status(error)
    if status == 404 and symbol is not None:
        return SourceResponseError(
            f"{call} got HTTP 404 from {host} ({kind}): {host} has no file for symbol "
            f"{symbol!r} (delisted, renamed, or not of this kind of security).",
            call=call, host=host, retry_may_help=False,
        )  # fmt: skip
    if status is not None and not is_transient(error):
        published = status in (403, 404)
        return SourceResponseError(
            f"{call} got HTTP {status} from {host} ({kind}). "
            + (
                "Not published yet (day T appears on T+1 around 09:00 Beijing time), not a "
                "trading day, or the host is refusing us."
                if published
                else "The host refused the request: the page may have moved (check the "
                "pinned akshare)."
            ),
            call=call, host=host, retry_may_help=published,
        )  # fmt: skip
    if is_transient(error) or isinstance(error, CallTimeoutError):
        return SourceUnavailableError(
            f"{call}: the {host} host is down, slow or blocking us ({kind}).{retried}",
            call=call, host=host, retry_may_help=True,
        )  # fmt: skip
    if isinstance(error, _PARSING_ERRORS) or type(error).__module__.split(".")[0] in _PARSERS:
        if symbol is not None:
            # a symbol's whole history is one file: no day of it is pending, and a file the
            # parser cannot read is a symbol the site does not know, or a changed page
            return SourceResponseError(
                f"{call} raised {kind} while parsing {host}'s answer: {host} does not know "
                f"symbol {symbol!r} (delisted, renamed, or not of this kind of security), or "
                "the page changed (run `margin-wh doctor`; check the pinned akshare).",
                call=call, host=host, retry_may_help=False,
            )  # fmt: skip
        # akshare parses the sites' pages positionally: an unpublished day or an error
        # page surfaces as e.g. SSE's "Length mismatch" or SZSE's AttributeError on `.str`
        return SourceResponseError(
            f"{call} raised {kind} while parsing {host}'s answer: not published yet (day T "
            "appears on T+1 around 09:00 Beijing time), or the page changed (run "
            "`margin-wh doctor`; check the pinned akshare).",
            call=call, host=host, retry_may_help=True,
        )  # fmt: skip
    return SourceCallError(
        f"{call} raised {kind} (unexpected: please report it with the call).",
        call=call, host=host, retry_may_help=False,
    )  # fmt: skip


def tried_line(attempts: int, seconds: float) -> str:
    """How the call was tried, as it was: a call that hung once is one call, not five."""
    if attempts <= 1:
        return f" One call, {seconds:.0f}s (not retried)."
    return f" Tried {attempts} times over {seconds:.0f}s."


class HostThrottle:
    """At least `interval` seconds between the starts of two calls to one host."""

    def __init__(
        self,
        intervals: dict[str, float],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._intervals = intervals
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()
        self._host_locks: dict[str, threading.Lock] = {}  # one sleeper per host, not one overall
        self._clock, self._sleep = clock, sleep

    def wait(self, host: str) -> float:
        """Block until `host` may be called; return the seconds waited."""
        with self._lock:
            host_lock = self._host_locks.setdefault(host, threading.Lock())
        with host_lock:
            interval = self._intervals.get(host, 1.0)
            now = self._clock()
            due = self._last.get(host, -float("inf")) + interval
            waited = max(0.0, due - now)
            if waited:
                self._sleep(waited)
            self._last[host] = self._clock()
            return waited


@contextlib.contextmanager
def default_http_timeout(seconds: float) -> Iterator[None]:
    """Give every HTTP request without a timeout this one, for the duration: `requests`
    calls (akshare passes none) and urllib's (pandas reading CFFEX's CSV from a URL)."""
    original = requests.sessions.Session.request
    socket_default = socket.getdefaulttimeout()

    def request(self, method, url, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = seconds
        return original(self, method, url, **kwargs)

    requests.sessions.Session.request = request  # type: ignore[method-assign]
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        requests.sessions.Session.request = original  # type: ignore[method-assign]
        socket.setdefaulttimeout(socket_default)


class AkshareSource:
    name = "akshare"

    def __init__(
        self,
        module: Any = None,
        attempts: int = 5,
        backoff_initial_s: float = 2.0,
        backoff_max_s: float = 60.0,
        http_timeout_s: float = 60.0,
        call_limit_s: float = 300.0,  # the whole call: Eastmoney's ~55 pages take ~100 s
        throttle: HostThrottle | None = None,
        sleep: Callable[[float], None] = time.sleep,  # backoff sleeps; tests pass a recorder
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ):
        if module is None:
            import akshare as module  # imported lazily: slow, and unused by the demo
        self._ak = module
        self._attempts = attempts
        self._wait = wait_exponential_jitter(initial=backoff_initial_s, max=backoff_max_s)
        self._http_timeout_s = http_timeout_s
        self._call_limit_s = call_limit_s
        self._throttle = throttle or HostThrottle(MIN_INTERVAL_S)
        self._sleep = sleep
        self._now = now

    def can_snapshot(self, day: dt.date, calendar: Sequence[dt.date]) -> bool:
        """Whether a snapshot taken now shows the close of `day` (see closing_snapshot_day)."""
        return closing_snapshot_day(calendar, self._now()) == day

    def snapshot(self, function: str, day: dt.date) -> pd.DataFrame:
        """The post-close snapshot of `day`: the caller checked can_snapshot(day) first."""
        return self.call(function)

    def call(self, function: str, **kwargs: Any) -> pd.DataFrame:
        fn = getattr(self._ak, function, None)
        if fn is None:
            raise AttributeError(
                f"akshare {getattr(self._ak, '__version__', '?')} has no function {function!r}"
            )
        inspect.signature(fn).bind(**kwargs)  # a wrong argument is our bug: TypeError, unretried
        host = FUNCTION_HOSTS.get(function, function)
        call = f"akshare.{function}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
        started = time.monotonic()
        attempts = 0
        try:
            for attempt in Retrying(
                retry=retry_if_exception(is_transient),
                wait=self._wait,
                stop=stop_after_attempt(self._attempts),
                sleep=self._sleep,
                reraise=True,
            ):
                with attempt:
                    attempts += 1
                    self._throttle.wait(host)
                    with default_http_timeout(self._http_timeout_s):
                        return call_within(self._call_limit_s, fn, **kwargs)
        except Exception as error:  # every failure becomes one error that names the call
            raise describe_failure(
                call, host, error, tried_line(attempts, time.monotonic() - started),
                symbol=kwargs.get("symbol"),
            ) from error
        raise AssertionError("unreachable")
