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
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pandas as pd
import requests
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from margin_wh.calendar import closing_snapshot_day

# Which host each function calls, and the politeness interval per host (seconds).
FUNCTION_HOSTS = {
    "tool_trade_date_hist_sina": "sina",
    "stock_zh_a_daily": "sina",
    "stock_zh_index_daily": "sina",
    "stock_margin_detail_sse": "sse",
    "stock_margin_sse": "sse",
    "stock_margin_detail_szse": "szse",
    "stock_margin_szse": "szse",
    "stock_margin_detail_bse": "bse",
    "stock_margin_bse": "bse",
    "get_futures_daily": "cffex",
    "stock_industry_clf_hist_sw": "swsresearch",
    "stock_zh_a_spot_em": "eastmoney",
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
TRANSIENT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    ConnectionError,
    TimeoutError,
)


class SourceUnavailableError(RuntimeError):
    """The source could not be reached after every retry."""


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
    """Give every `requests` call without a timeout this one, for the duration."""
    original = requests.sessions.Session.request

    def request(self, method, url, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = seconds
        return original(self, method, url, **kwargs)

    requests.sessions.Session.request = request  # type: ignore[method-assign]
    try:
        yield
    finally:
        requests.sessions.Session.request = original  # type: ignore[method-assign]


class AkshareSource:
    name = "akshare"

    def __init__(
        self,
        module: Any = None,
        attempts: int = 5,
        backoff_initial_s: float = 2.0,
        backoff_max_s: float = 60.0,
        http_timeout_s: float = 60.0,
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
        host = FUNCTION_HOSTS.get(function, function)
        call = f"akshare.{function}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
        started = time.monotonic()
        try:
            for attempt in Retrying(
                retry=retry_if_exception_type(TRANSIENT_ERRORS),
                wait=self._wait,
                stop=stop_after_attempt(self._attempts),
                sleep=self._sleep,
            ):
                with attempt:
                    self._throttle.wait(host)
                    with default_http_timeout(self._http_timeout_s):
                        return fn(**kwargs)
        except (ValueError, KeyError, IndexError) as error:
            # akshare parses exchange pages positionally: an unpublished day or an error
            # page surfaces as e.g. SSE's "Length mismatch", not as an empty frame.
            raise SourceUnavailableError(
                f"{call} raised {type(error).__name__}: {error}. The {host} endpoint returned "
                "something akshare could not parse — not published yet (day T appears on T+1 "
                "around 09:00 Beijing time), or the page changed (check the pinned akshare)."
            ) from error
        except RetryError as error:
            last = error.last_attempt.exception()
            raise SourceUnavailableError(
                f"{call} failed after {self._attempts} attempts over "
                f"{time.monotonic() - started:.0f}s; last error: {type(last).__name__}: {last}. "
                f"The {host} host may be down or blocking us; re-run later — loaded data is untouched."
            ) from last
        raise AssertionError("unreachable")
