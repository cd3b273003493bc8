"""The trading calendar as the landing zone holds it.

Sina's calendar (`tool_trade_date_hist_sina`) as last fetched, extended by the trading
days learned past its end from SSE's landed margin totals (margin_wh/raw/learned_days.py).
The arithmetic on the calendar is margin_wh/calendar.py's; this module only reads it.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

from margin_wh.calendar import CALENDAR_FUNCTION, union_calendar
from margin_wh.raw.landing import landed_files, read_landed
from margin_wh.sources.parse import parse_dates


def load_calendar(landing_dir: Path) -> list[dt.date]:
    """The trading calendar as last fetched into the landing zone (empty if never)."""
    files = landed_files(landing_dir, CALENDAR_FUNCTION)
    if not files:
        return []
    stat = files[-1].stat()
    calendar = _landed_calendar(str(files[-1]), stat.st_mtime_ns, stat.st_size)
    if not calendar:
        return []
    return union_calendar(calendar, learned_trading_days(landing_dir, calendar[-1]))


# The trading days past the calendar's end are learned from SSE's margin totals
# (stock_margin_sse): one row per day SSE published, and SSE publishes every trading day.
LEARNED_FROM = "stock_margin_sse"
LEARNED_DATE_COLUMN = "信用交易日期"


def learned_trading_days(landing_dir: Path, after: dt.date) -> list[dt.date]:
    """The days after `after` that landed SSE totals list: the calls whose end date (in
    their file name) lies past `after`, so a year of daily totals is not read each time."""
    days: set[dt.date] = set()
    for path in landed_files(landing_dir, LEARNED_FROM):
        kwargs = dict(part.split("=", 1) for part in path.stem.split("__") if "=" in part)
        end = kwargs.get("end_date", "")
        if len(end) == 8 and end.isdigit() and dt.datetime.strptime(end, "%Y%m%d").date() > after:
            stat = path.stat()
            days.update(_landed_days(str(path), LEARNED_DATE_COLUMN, stat.st_mtime_ns, stat.st_size))
    return sorted(d for d in days if d > after)


# Every step of a run asks for the calendar (~13 reads of one Parquet file a day); a
# landed file is never rewritten in place, and its stat is in the key all the same.
def _landed_calendar(path: str, mtime_ns: int, size: int) -> tuple[dt.date, ...]:
    return _landed_days(path, "trade_date", mtime_ns, size)


@functools.lru_cache(maxsize=64)
def _landed_days(path: str, column: str, _mtime_ns: int, _size: int) -> tuple[dt.date, ...]:
    days, _ = parse_dates(read_landed(Path(path)).frame[column])
    return tuple(sorted({d for d in days if d is not None}))
