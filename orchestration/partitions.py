"""Trading-day partitions: one partition per exchange trading day, never a holiday.

The partitions are dynamic because the calendar is data: the calendar asset adds
every trading day from the history start to the last publishable day, in order.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Mapping, Sequence

import dagster as dg

from margin_wh.calendar import previous_trading_day, trading_days_between
from margin_wh.config import Settings

TRADING_DAYS = dg.DynamicPartitionsDefinition(name="trading_day")

# Dagster's run tags for a run's partitions: one day, or a range of days (a backfill).
PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def run_partition_keys(tags: Mapping[str, str]) -> tuple[str, str] | None:
    """The first and last partition key a run targets, from its tags, or None."""
    start = tags.get(RANGE_START_TAG) or tags.get(PARTITION_TAG)
    end = tags.get(RANGE_END_TAG) or tags.get(PARTITION_TAG)
    return (start, end) if start and end else None


def partition_key(day: dt.date) -> str:
    return day.isoformat()


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


def partition_keys_to_add(existing: Sequence[str], wanted: Sequence[dt.date]) -> list[str]:
    """Keys missing from the partitions; dynamic partitions keep insertion order, so
    days are only ever appended after the last existing one (a gap earlier is refused)."""
    have = set(existing)
    missing = [partition_key(d) for d in sorted(wanted) if partition_key(d) not in have]
    if existing and missing and missing[0] < max(existing):
        raise ValueError(
            f"trading day {missing[0]} would be added before existing partition "
            f"{max(existing)}: history can only grow forward (MARGIN_WH_HISTORY_START moved?)"
        )
    return missing


def sync_trading_days(instance: dg.DagsterInstance, wanted: Sequence[dt.date]) -> int:
    existing = instance.get_dynamic_partitions(TRADING_DAYS.name)
    missing = partition_keys_to_add(existing, wanted)
    if missing:
        instance.add_dynamic_partitions(TRADING_DAYS.name, missing)
    return len(missing)


def publishable_days(calendar: Sequence[dt.date], settings: Settings, today: dt.date) -> list[dt.date]:
    """Trading days from the history start to the last day whose data can exist on
    `today` (Shanghai): T-1, since day T is published on T+1; for the demo source, no later
    than the demo market's end."""
    last = previous_trading_day(calendar, today)
    if settings.source == "demo":
        last = min(last, settings.demo_end) if last else settings.demo_end
    return [d for d in calendar if settings.history_start <= d <= last] if last else []


def unloaded_trading_days(
    instance: dg.DagsterInstance,
    keys: Sequence[dg.AssetKey],
    calendar: Sequence[dt.date],
    last: dt.date,
    look_back: int,
) -> set[dt.date]:
    """The registered trading days among the `look_back` up to `last` that one of the
    day-partitioned assets `keys` has not materialized (its source was down, the day was
    published late, a refused frame): what a morning run loads again."""
    i = bisect.bisect_right(calendar, last)
    recent = [partition_key(d) for d in calendar[max(0, i - look_back) : i]]
    registered = set(instance.get_dynamic_partitions(TRADING_DAYS.name))
    recent = [key for key in recent if key in registered]
    unloaded: set[dt.date] = set()
    for key in keys:
        status = instance.get_status_by_partition(key, recent, TRADING_DAYS) or {}
        unloaded |= {
            dt.date.fromisoformat(partition)
            for partition in recent
            if status.get(partition) != dg.AssetPartitionStatus.MATERIALIZED
        }
    return unloaded
