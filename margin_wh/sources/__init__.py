"""Where raw frames come from: live akshare, or the built-in synthetic demo market."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from typing import Any

import pandas as pd

from margin_wh.config import Settings


class DemoSource:
    """The demo market behind akshare's function names; offline and deterministic."""

    name = "demo"

    def __init__(self, securities: int, start: Any, end: Any, seed: int):
        from margin_wh.sources.demo import DemoMarket

        self.market = DemoMarket(securities=securities, start=start, end=end, seed=seed)

    def call(self, function: str, **kwargs: Any) -> pd.DataFrame:
        return self.market.call(function, **kwargs)

    def can_snapshot(self, day: dt.date, calendar: Sequence[dt.date]) -> bool:
        """The demo can take a post-close snapshot of any of its days, as if it had been
        taken that evening (live akshare can only take today's)."""
        return day in self.market.trading_days

    def snapshot(self, function: str, day: dt.date) -> pd.DataFrame:
        return self.market.snapshot(function, day)


@functools.lru_cache(maxsize=4)
def _demo_source(securities: int, start: Any, end: Any, seed: int) -> DemoSource:
    return DemoSource(securities, start, end, seed)


@functools.lru_cache(maxsize=1)
def _akshare_source():
    from margin_wh.sources.akshare_source import AkshareSource

    return AkshareSource()


def get_source(settings: Settings):
    """The configured source (MARGIN_WH_SOURCE), one per process: the demo market is built
    once, and the live source keeps one throttle so host intervals hold across assets."""
    if settings.source == "akshare":
        return _akshare_source()
    return _demo_source(
        settings.demo_securities, settings.history_start, settings.demo_end, settings.demo_seed
    )
