"""Trading-day partitions: one partition per exchange trading day, never a holiday.

Daily partitions on Beijing time from MARGIN_WH_HISTORY_START, less the weekends and the
weekdays the trading calendar (`tool_trade_date_hist_sina`, as landed) says the exchanges
were closed: Spring Festival, National Day and the other holidays. Being time windows,
a range's days are ordered: a backfill records its days oldest first, so an asset's
latest materialization is the range's last trading day.

The calendar is data, so these partitions are built from it when the definitions load:
before the first calendar fetch every weekday is a partition, and a calendar fetched
later (the first one, or the next year's, which the exchanges announce in December)
reaches the UI's partitions when the code location reloads. Runs do not depend on it:
every step takes its trading days from the landed calendar.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import dagster as dg

from margin_wh.calendar import SHANGHAI, previous_trading_day, trading_days_between
from margin_wh.config import Settings

# The exchanges never trade on a Saturday or a Sunday, not even on the weekend days
# the State Council makes working days around a holiday.
WEEKENDS = ("0 0 * * 6", "0 0 * * 0")


def partition_key(day: dt.date) -> str:
    return day.isoformat()


def closed_weekdays(calendar: Sequence[dt.date], start: dt.date) -> list[dt.date]:
    """The weekdays from `start` to the calendar's last day on which the exchanges did
    not trade: holidays, and the rare closures."""
    trading = set(calendar)
    weekend_trading = [d for d in calendar if d >= start and d.weekday() >= 5]
    if weekend_trading:
        raise ValueError(
            f"the trading calendar has {len(weekend_trading)} trading day(s) on a weekend from "
            f"{start} (e.g. {weekend_trading[0]}); trading-day partitions exclude every "
            "weekend: set MARGIN_WH_HISTORY_START after them"
        )
    if not calendar or calendar[-1] < start:
        return []
    days = (calendar[-1] - start).days + 1
    return [
        day
        for day in (start + dt.timedelta(days=i) for i in range(days))
        if day.weekday() < 5 and day not in trading
    ]


def trading_day_partitions(
    settings: Settings, calendar: Sequence[dt.date]
) -> dg.DailyPartitionsDefinition:
    """The `trading_day` partitions for a warehouse and its calendar as landed.

    A live warehouse's partitions run to today (Beijing time): the closing snapshot
    of day T is taken at 15:40 on T, its margin data the next morning. The demo's stop
    at the end of the demo market.
    """
    holidays = closed_weekdays(calendar, settings.history_start)
    demo = settings.source == "demo"
    return dg.DailyPartitionsDefinition(
        start_date=dt.datetime.combine(settings.history_start, dt.time()),
        end_date=dt.datetime.combine(settings.demo_end + dt.timedelta(days=1), dt.time())
        if demo
        else None,
        end_offset=0 if demo else 1,
        timezone=str(SHANGHAI),
        fmt="%Y-%m-%d",
        exclusions=[*WEEKENDS, *(dt.datetime.combine(d, dt.time()) for d in holidays)],
    )


def partition_window(key_range: dg.PartitionKeyRange) -> tuple[dt.date, dt.date]:
    """First and last trading day of a run's partition range."""
    return dt.date.fromisoformat(key_range.start), dt.date.fromisoformat(key_range.end)


def window_days(
    key_range: dg.PartitionKeyRange, calendar: Sequence[dt.date]
) -> list[dt.date]:
    start, end = partition_window(key_range)
    days = trading_days_between(calendar, start, end)
    if not days:
        raise ValueError(
            f"partition range {start}..{end} holds no trading day of the calendar "
            f"({len(calendar)} days, {calendar[0] if calendar else '-'}.."
            f"{calendar[-1] if calendar else '-'}); materialize raw/tool_trade_date_hist_sina first"
        )
    return days


def publishable_days(calendar: Sequence[dt.date], settings: Settings, today: dt.date) -> list[dt.date]:
    """Trading days from the history start to the last day whose data can exist on
    `today` (Shanghai): T-1, since day T is published on T+1; for the demo source, no later
    than the demo market's end."""
    last = previous_trading_day(calendar, today)
    if settings.source == "demo":
        last = min(last, settings.demo_end) if last else settings.demo_end
    return [d for d in calendar if settings.history_start <= d <= last] if last else []
