"""Trading-day arithmetic on the exchange calendar (never weekdays).

The calendar is data: `tool_trade_date_hist_sina()` as kept in the landing zone (or the
demo market's). These helpers are pure and take it as a sorted list of dates.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
from collections.abc import Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
CALENDAR_FUNCTION = "tool_trade_date_hist_sina"


def trading_days_between(
    calendar: Sequence[dt.date], start: dt.date, end: dt.date
) -> list[dt.date]:
    """Trading days in [start, end], both inclusive."""
    lo = bisect.bisect_left(calendar, start)
    hi = bisect.bisect_right(calendar, end)
    return list(calendar[lo:hi])


def previous_trading_day(calendar: Sequence[dt.date], day: dt.date) -> dt.date | None:
    """The last trading day strictly before `day`."""
    i = bisect.bisect_left(calendar, day)
    return calendar[i - 1] if i > 0 else None


def is_trading_day(calendar: Sequence[dt.date], day: dt.date) -> bool:
    i = bisect.bisect_left(calendar, day)
    return i < len(calendar) and calendar[i] == day


def day_to_load_on(calendar: Sequence[dt.date], run_day: dt.date) -> dt.date | None:
    """The trading day a morning run on `run_day` loads: T-1, published ~09:00 on T.

    None when `run_day` is not a trading day (the exchanges publish nothing then).
    """
    if not is_trading_day(calendar, run_day):
        return None
    return previous_trading_day(calendar, run_day)


# A post-close snapshot (stock_zh_a_spot_em) shows day T's close from the end of STAR's
# after-hours fixed-price session (15:30) until the next session's call auction (09:15).
SNAPSHOT_FROM = dt.time(15, 30)
SNAPSHOT_UNTIL = dt.time(9, 15)


def closing_snapshot_day(calendar: Sequence[dt.date], now: dt.datetime) -> dt.date | None:
    """The trading day whose close a market snapshot taken at `now` shows, or None while
    a session is open (or about to open): then it shows no day's close."""
    local = now.astimezone(SHANGHAI)
    today, time_of_day = local.date(), local.time()
    if is_trading_day(calendar, today):
        if time_of_day >= SNAPSHOT_FROM:
            return today
        if time_of_day >= SNAPSHOT_UNTIL:
            return None
    elif not calendar or today > calendar[-1]:
        return None  # past the calendar's end: it cannot say whether today trades
    return previous_trading_day(calendar, today)


def shanghai_today(now: dt.datetime | None = None) -> dt.date:
    now = now or dt.datetime.now(dt.UTC)
    return now.astimezone(SHANGHAI).date()


def load_calendar(landing_dir: Path) -> list[dt.date]:
    """The trading calendar as last fetched into the landing zone (empty if never)."""
    from margin_wh.raw.landing import landed_files

    files = landed_files(landing_dir, CALENDAR_FUNCTION)
    if not files:
        return []
    stat = files[-1].stat()
    return list(_landed_calendar(str(files[-1]), stat.st_mtime_ns, stat.st_size))


# Every step of a run asks for the calendar (~13 reads of one Parquet file a day); a
# landed file is never rewritten in place, and its stat is in the key all the same.
@functools.lru_cache(maxsize=4)
def _landed_calendar(path: str, _mtime_ns: int, _size: int) -> tuple[dt.date, ...]:
    from margin_wh.raw.landing import read_landed
    from margin_wh.raw.parse import parse_dates

    days, _ = parse_dates(read_landed(Path(path)).frame["trade_date"])
    return tuple(sorted({d for d in days if d is not None}))
