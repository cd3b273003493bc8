"""Trading-day arithmetic on the exchange calendar (never weekdays).

The calendar is data: `tool_trade_date_hist_sina()` as kept in the landing zone (or the
demo market's), read by margin_wh/raw/landed_calendar.py. These helpers are pure and take
it as a sorted list of dates.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
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


def is_past_calendar(calendar: Sequence[dt.date], day: dt.date) -> bool:
    """Whether `day` lies after the calendar's last day, where it cannot say whether a
    weekday trades (Sina's file has ended on the old year's last day into January)."""
    return not calendar or day > calendar[-1]


def days_to_learn(calendar: Sequence[dt.date], today: dt.date) -> tuple[dt.date, dt.date] | None:
    """The span past the calendar's end whose trading days must be learned from the
    exchanges' own publications, or None while the calendar reaches the last day that can
    be published today (the weekday before `today`: a weekday past the end may trade)."""
    if not calendar:
        return None
    last_publishable = today - dt.timedelta(days=1)
    while last_publishable.weekday() >= 5:
        last_publishable -= dt.timedelta(days=1)
    if calendar[-1] >= last_publishable:
        return None
    return calendar[-1] + dt.timedelta(days=1), today


# Sina's file for the next year has been late before: warn this long before it ends.
HORIZON_WARNING_DAYS = 30


def horizon_note(last_day: dt.date, today: dt.date) -> tuple[str, bool]:
    """What `margin-wh doctor` says of the calendar's end, and whether it is a warning."""
    left = (last_day - today).days
    if left > HORIZON_WARNING_DAYS:
        return f"trading calendar ends {last_day} ({left} days from today)", False
    when = f"ended {-left} day(s) ago" if left < 0 else f"ends in {left} day(s)"
    return (
        f"trading calendar (tool_trade_date_hist_sina) {when}, on {last_day}: until Sina "
        "publishes the next year, the days past it are learned from SSE's margin totals "
        "(one stock_margin_sse call a morning) and the closing snapshot is not taken",
        True,
    )


# How far back a morning run looks for trading days a source missed (a host down, a day
# published late): those days are loaded again with the day before, never skipped.
CATCH_UP_TRADING_DAYS = 20


@dataclass(frozen=True)
class MorningPlan:
    """What the morning refresh of `run_day` does, and why, in words for the tick."""

    days: tuple[dt.date, ...]  # trading days to load, oldest first (empty: none)
    learn_days: bool  # refresh the calendar first, learning days past its end
    reason: str

    @property
    def runs(self) -> bool:
        return bool(self.days) or self.learn_days


def morning_plan(
    calendar: Sequence[dt.date], run_day: dt.date, unloaded: Collection[dt.date] = ()
) -> MorningPlan:
    """The morning run for `run_day`: T-1 (published ~09:00 on T) and every earlier trading
    day of the last CATCH_UP_TRADING_DAYS that some dataset has not loaded (`unloaded`).

    Past the calendar's end the calendar cannot say whether `run_day` trades: a weekday
    then refreshes the calendar, which learns the days since from the exchanges' own
    publications, and loads the known days still unloaded (the calendar's last day, on the
    first morning past it). Weekends and the calendar's holidays skip, saying so.
    """
    if not calendar:
        return MorningPlan((), False, "no trading calendar in the landing zone yet: "
                           "materialize raw/tool_trade_date_hist_sina")  # fmt: skip
    if is_past_calendar(calendar, run_day):
        if run_day.weekday() >= 5:
            return MorningPlan((), False, f"{run_day} is a {run_day:%A}, past the trading "
                               f"calendar's end ({calendar[-1]}): nothing is published")  # fmt: skip
        if is_new_years_day(run_day):
            return MorningPlan((), False, f"{run_day} is New Year's Day (元旦), a statutory "
                               "holiday on which the exchanges are closed and publish nothing; "
                               f"the trading calendar ends {calendar[-1]}")  # fmt: skip
        days = catch_up_days(calendar, calendar[-1], unloaded, include_last=False)
        reason = (
            f"{run_day} is past the trading calendar's end ({calendar[-1]}), which cannot say "
            "whether it trades: refreshing the calendar, which learns the trading days since "
            "from SSE's published margin totals; the days it learns are loaded as soon as it "
            "has (sensor load_learned_trading_days)"
        )
        if days:
            reason += f"; loading {describe_days(days)}, published and not loaded yet"
        return MorningPlan(tuple(days), True, reason)
    day = day_to_load_on(calendar, run_day)
    if day is None:
        return MorningPlan((), False, f"{run_day} is not a trading day (a "
                           f"{'weekend' if run_day.weekday() >= 5 else 'holiday'} in the "
                           "trading calendar): nothing is published")  # fmt: skip
    days = catch_up_days(calendar, day, unloaded)
    reason = f"loading {day}, the trading day before {run_day} (published ~09:00)"
    if len(days) > 1:
        reason += f", and catching up {describe_days(days[:-1])}, which some dataset lacks"
    return MorningPlan(tuple(days), False, reason)


def is_new_years_day(day: dt.date) -> bool:
    """1 January: a statutory holiday every year (State Council, 全国年节及纪念日放假办法,
    article 2: 元旦，放假1天（1月1日）), so the exchanges neither trade nor publish. It is
    the one weekday past a year-end calendar that is known closed without the next
    year's holiday notice (a weekend New Year moves a day off whose date only the notice
    gives: such a morning asks, and is told nothing is published)."""
    return day.month == 1 and day.day == 1


def is_presumed_trading_day(calendar: Sequence[dt.date], day: dt.date) -> bool:
    """A weekday past the calendar's end other than New Year's Day, presumed to trade for
    the closing snapshot only: its close can only be taken that evening, while the day
    itself is confirmed (and its margin data loaded) once SSE's totals list it. A wrong
    presumption costs one snapshot call; none costs a Sina call per security."""
    return is_past_calendar(calendar, day) and day.weekday() < 5 and not is_new_years_day(day)


def with_presumed_day(calendar: Sequence[dt.date], day: dt.date) -> list[dt.date]:
    """The calendar, and `day` when it is a presumed trading day (see above)."""
    return [*calendar, day] if calendar and is_presumed_trading_day(calendar, day) else list(calendar)


def catch_up_days(
    calendar: Sequence[dt.date], last: dt.date, unloaded: Collection[dt.date],
    include_last: bool = True,
) -> list[dt.date]:  # fmt: skip
    """The trading days from the oldest unloaded one within CATCH_UP_TRADING_DAYS before
    `last` to `last` (one contiguous range: a run loads a window of days). With
    `include_last=False`, `last` only when unloaded."""
    i = bisect.bisect_right(calendar, last)
    recent = list(calendar[max(0, i - CATCH_UP_TRADING_DAYS) : i])
    missing = [d for d in recent if d in set(unloaded)]
    if not missing:
        return [last] if include_last and recent else []
    return recent[recent.index(missing[0]) :]


def describe_days(days: Sequence[dt.date]) -> str:
    """'2027-01-04' or '3 trading days 2027-01-04 .. 2027-01-06'."""
    if len(days) == 1:
        return str(days[0])
    return f"{len(days)} trading days {days[0]} .. {days[-1]}"


def union_calendar(calendar: Sequence[dt.date], learned: Collection[dt.date]) -> list[dt.date]:
    """The calendar extended by the trading days learned past its end from the exchanges'
    publications (a day the calendar already covers is the calendar's to say)."""
    end = calendar[-1] if calendar else dt.date.min
    return sorted(set(calendar) | {d for d in learned if d > end})


# The exchanges publish day T's margin data on the next trading day, around 09:00.
PUBLISHED_AT = dt.time(9, 0)


def last_published_day(calendar: Sequence[dt.date], now: dt.datetime) -> dt.date | None:
    """The latest trading day whose margin data is out at `now`: T-1 on a trading day after
    the morning publication, T-2 before it; on a weekend or holiday, the day before the
    last trading day (the last one's data comes out on the next trading day)."""
    local = now.astimezone(SHANGHAI)
    day = local.date()
    if is_trading_day(calendar, day) and local.time() >= PUBLISHED_AT:
        publication_day = day
    else:
        publication_day = previous_trading_day(calendar, day)
    return previous_trading_day(calendar, publication_day) if publication_day else None


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


def trading_days_text(count: int) -> str:
    """'1 trading day', '3 trading days': how a message counts days."""
    return f"{count} trading day" + ("" if count == 1 else "s")


def next_trading_day(calendar: Sequence[dt.date], day: dt.date) -> dt.date | None:
    """The first trading day of the sorted `calendar` after `day`."""
    i = bisect.bisect_right(calendar, day)
    return calendar[i] if i < len(calendar) else None


def first_trading_day_from(calendar: Sequence[dt.date], day: dt.date) -> dt.date | None:
    """The first trading day of the sorted `calendar` on or after `day`."""
    i = bisect.bisect_left(calendar, day)
    return calendar[i] if i < len(calendar) else None
