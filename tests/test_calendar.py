"""Trading-day arithmetic on the exchange calendar, around weekends and holidays.

The calendar is the stand-in's (weekdays minus Mid-Autumn and National Day 2024, with
the make-up Saturdays closed); the expected days below are written out by hand.
"""

from __future__ import annotations

import datetime as dt

import pytest
from standins import FULL_CALENDAR, HOLIDAYS, MARKET_END, MARKET_START, TRADING_DAY_SET, FakeAkshare

from margin_wh.calendar import (
    CALENDAR_FUNCTION,
    SHANGHAI,
    closing_snapshot_day,
    day_to_load_on,
    is_trading_day,
    previous_trading_day,
    shanghai_today,
    trading_days_between,
)
from margin_wh.raw import landing
from margin_wh.raw.landed_calendar import load_calendar

D = dt.date
CAL = sorted(FULL_CALENDAR)


def test_trading_days_between_skips_weekends_and_national_day():
    assert trading_days_between(CAL, D(2024, 9, 26), D(2024, 10, 10)) == [
        D(2024, 9, 26),
        D(2024, 9, 27),
        D(2024, 9, 30),
        D(2024, 10, 8),
        D(2024, 10, 9),
        D(2024, 10, 10),
    ]


def test_trading_days_between_is_inclusive_and_tolerates_closed_ends():
    assert trading_days_between(CAL, D(2024, 9, 30), D(2024, 10, 8)) == [
        D(2024, 9, 30),
        D(2024, 10, 8),
    ]
    # Both ends on closed days (a make-up Saturday and a holiday).
    assert trading_days_between(CAL, D(2024, 9, 29), D(2024, 10, 7)) == [D(2024, 9, 30)]
    assert trading_days_between(CAL, D(2024, 10, 1), D(2024, 10, 7)) == []
    assert trading_days_between(CAL, D(2024, 10, 10), D(2024, 10, 8)) == []


def test_trading_days_between_crosses_mid_autumn():
    assert trading_days_between(CAL, D(2024, 9, 13), D(2024, 9, 18)) == [
        D(2024, 9, 13),
        D(2024, 9, 18),
    ]


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (D(2024, 10, 8), D(2024, 9, 30)),  # first day after National Day
        (D(2024, 10, 5), D(2024, 9, 30)),  # inside the holiday
        (D(2024, 9, 18), D(2024, 9, 13)),  # after Mid-Autumn and a weekend
        (D(2024, 10, 14), D(2024, 10, 11)),  # Monday -> Friday
        (D(2024, 10, 15), D(2024, 10, 14)),
        (D(1990, 12, 19), None),  # the first day in the calendar has no predecessor
    ],
)
def test_previous_trading_day(day, expected):
    assert previous_trading_day(CAL, day) == expected


@pytest.mark.parametrize(
    ("run_day", "loads"),
    [
        (D(2024, 10, 14), D(2024, 10, 11)),  # a Monday loads the Friday
        (D(2024, 10, 8), D(2024, 9, 30)),  # first day after National Day
        (D(2024, 9, 18), D(2024, 9, 13)),  # first day after Mid-Autumn
        (D(2024, 10, 9), D(2024, 10, 8)),
        (D(2024, 10, 3), None),  # holiday: nothing is published
        (D(2024, 10, 12), None),  # make-up Saturday: offices work, exchanges are shut
        (D(2024, 9, 29), None),  # make-up Sunday
        (D(2024, 10, 13), None),  # ordinary Sunday
        (D(1990, 12, 19), None),  # a trading day with nothing before it
    ],
)
def test_day_to_load_on(run_day, loads):
    assert day_to_load_on(CAL, run_day) == loads


def test_day_to_load_on_every_day_of_the_market():
    """Brute force against the hand-made calendar: T-1 on trading days, None otherwise."""
    day = MARKET_START + dt.timedelta(days=1)
    while day <= MARKET_END:
        if day in TRADING_DAY_SET:
            expected = max(d for d in TRADING_DAY_SET | set(FULL_CALENDAR) if d < day)
        else:
            expected = None
        assert day_to_load_on(CAL, day) == expected, day
        day += dt.timedelta(days=1)


def test_is_trading_day():
    assert is_trading_day(CAL, D(2024, 9, 30))
    assert not is_trading_day(CAL, D(2024, 10, 1))
    assert not is_trading_day(CAL, D(2024, 10, 12))
    assert not is_trading_day(CAL, D(2099, 1, 5))  # beyond the calendar
    assert all(not is_trading_day(CAL, d) for d in HOLIDAYS)


def test_shanghai_today_turns_at_midnight_beijing_time():
    utc = dt.UTC
    assert shanghai_today(dt.datetime(2024, 10, 7, 15, 59, tzinfo=utc)) == D(2024, 10, 7)
    assert shanghai_today(dt.datetime(2024, 10, 7, 16, 0, tzinfo=utc)) == D(2024, 10, 8)


def test_load_calendar_reads_the_landed_calendar(tmp_path):
    assert load_calendar(tmp_path) == []
    frame = FakeAkshare().tool_trade_date_hist_sina()
    pending = landing.write_pending(
        tmp_path, CALENDAR_FUNCTION, {}, frame, "akshare", dt.datetime(2024, 10, 8, 1, 0), None
    )
    assert load_calendar(tmp_path) == []  # a pending (unvalidated) frame is not the calendar
    landing.accept(pending)
    assert load_calendar(tmp_path) == CAL


# The closing snapshot: which trading day's close a market snapshot taken at a moment shows.
SH = SHANGHAI


@pytest.mark.parametrize(
    ("moment", "shows"),
    [
        (dt.datetime(2024, 9, 27, 15, 29, tzinfo=SH), None),  # STAR's after-hours session
        (dt.datetime(2024, 9, 27, 15, 30, tzinfo=SH), D(2024, 9, 27)),
        (dt.datetime(2024, 9, 27, 23, 59, tzinfo=SH), D(2024, 9, 27)),
        (dt.datetime(2024, 9, 28, 12, 0, tzinfo=SH), D(2024, 9, 27)),  # Saturday
        (dt.datetime(2024, 9, 30, 9, 14, tzinfo=SH), D(2024, 9, 27)),  # Monday before the auction
        (dt.datetime(2024, 9, 30, 9, 15, tzinfo=SH), None),  # the call auction has begun
        (dt.datetime(2024, 10, 3, 10, 0, tzinfo=SH), D(2024, 9, 30)),  # National Day
        (dt.datetime(2024, 10, 8, 1, 0, tzinfo=dt.UTC), D(2024, 9, 30)),  # 09:00 Beijing, after the holiday
        (dt.datetime(2024, 10, 8, 7, 45, tzinfo=dt.UTC), D(2024, 10, 8)),  # 15:45 Beijing
        (dt.datetime(2025, 3, 3, 16, 0, tzinfo=SH), None),  # beyond the calendar: unknown
    ],
)
def test_closing_snapshot_day(moment, shows):
    assert closing_snapshot_day(CAL, moment) == shows


# ------------------------------------------------------------------ past the calendar's end
# Sina's file for a new year can be late: a calendar ending on 2026-12-31 while the clock
# is already in January 2027 (2027-01-01 is New Year's Day, a Friday).
YEAR_END = [D(2026, 12, 28), D(2026, 12, 29), D(2026, 12, 30), D(2026, 12, 31)]


def test_days_to_learn_asks_past_the_end_only_when_a_weekday_there_may_be_published():
    from margin_wh.calendar import days_to_learn

    assert days_to_learn(YEAR_END, D(2027, 1, 1)) is None  # 12-31 is the last publishable
    # Monday: the Friday before, New Year's Day, is a weekday the calendar cannot rule out
    assert days_to_learn(YEAR_END, D(2027, 1, 4)) == (D(2027, 1, 1), D(2027, 1, 4))
    assert days_to_learn(YEAR_END, D(2027, 1, 2)) == (D(2027, 1, 1), D(2027, 1, 2))
    assert days_to_learn(YEAR_END, D(2027, 1, 5)) == (D(2027, 1, 1), D(2027, 1, 5))
    assert days_to_learn([], D(2027, 1, 5)) is None


def test_the_first_morning_past_the_calendar_loads_its_last_day_and_learns_the_rest():
    from margin_wh.calendar import morning_plan

    plan = morning_plan(YEAR_END, D(2027, 1, 4), unloaded={D(2026, 12, 31)})
    assert plan.days == (D(2026, 12, 31),) and plan.learn_days
    assert "past the trading calendar's end (2026-12-31)" in plan.reason
    assert "loading 2026-12-31" in plan.reason


def test_a_morning_past_the_calendar_with_nothing_unloaded_only_learns():
    from margin_wh.calendar import morning_plan

    plan = morning_plan(YEAR_END, D(2027, 1, 5), unloaded=set())
    assert plan.days == () and plan.learn_days and plan.runs
    weekend = morning_plan(YEAR_END, D(2027, 1, 9))
    assert not weekend.runs and "Saturday" in weekend.reason


def test_a_morning_catches_up_every_day_a_source_missed():
    from margin_wh.calendar import CATCH_UP_TRADING_DAYS, morning_plan

    plan = morning_plan(CAL, D(2024, 10, 10), unloaded={D(2024, 9, 27)})
    assert plan.days == (D(2024, 9, 27), D(2024, 9, 30), D(2024, 10, 8), D(2024, 10, 9))
    assert "catching up 3 trading days 2024-09-27 .. 2024-10-08" in plan.reason
    assert morning_plan(CAL, D(2024, 10, 10)).days == (D(2024, 10, 9),)
    # a gap older than the look-back is not run again every morning
    old = trading_days_between(CAL, D(2024, 1, 1), D(2024, 12, 31))[0]
    assert morning_plan(CAL, D(2024, 10, 10), unloaded={old}).days == (D(2024, 10, 9),)
    assert CATCH_UP_TRADING_DAYS < len(trading_days_between(CAL, old, D(2024, 10, 9)))


def test_a_holiday_morning_skips_saying_why():
    from margin_wh.calendar import morning_plan

    plan = morning_plan(CAL, D(2024, 10, 3))
    assert not plan.runs and "holiday" in plan.reason


def test_the_learned_days_extend_the_calendar_and_never_rewrite_it():
    from margin_wh.calendar import union_calendar

    assert union_calendar(YEAR_END, [D(2027, 1, 4), D(2026, 12, 25)]) == [*YEAR_END, D(2027, 1, 4)]


def test_doctor_warns_within_thirty_days_of_the_calendars_end():
    from margin_wh.calendar import horizon_note

    assert horizon_note(D(2026, 12, 31), D(2026, 11, 1)) == (
        "trading calendar ends 2026-12-31 (60 days from today)", False)  # fmt: skip
    text, warn = horizon_note(D(2026, 12, 31), D(2026, 12, 5))
    assert warn and "ends in 26 day(s), on 2026-12-31" in text
    text, warn = horizon_note(D(2026, 12, 31), D(2027, 1, 4))
    assert warn and "ended 4 day(s) ago" in text and "SSE's margin totals" in text


def test_new_years_day_past_the_calendar_skips_saying_why():
    from margin_wh.calendar import morning_plan

    plan = morning_plan(YEAR_END, D(2027, 1, 1), unloaded={D(2026, 12, 31)})
    assert not plan.runs and "New Year's Day" in plan.reason
    # the first working day after it loads the year's last day and learns the rest
    assert morning_plan(YEAR_END, D(2027, 1, 4), unloaded={D(2026, 12, 31)}).days == (D(2026, 12, 31),)


def test_the_published_day_follows_the_beijing_clock():
    from margin_wh.calendar import last_published_day

    at = lambda day, hour: dt.datetime.combine(day, dt.time(hour, 0), tzinfo=SHANGHAI)  # noqa: E731
    # Tuesday 2024-10-08, the first day after National Day: 09-30's data comes out that morning
    assert last_published_day(CAL, at(D(2024, 10, 8), 8)) == D(2024, 9, 27)  # T-2 before 09:00
    assert last_published_day(CAL, at(D(2024, 10, 8), 10)) == D(2024, 9, 30)  # T-1 after
    # a holiday: the last trading day's data waits for the next trading day
    assert last_published_day(CAL, at(D(2024, 10, 3), 12)) == D(2024, 9, 27)
    assert last_published_day(CAL, at(D(2024, 10, 9), 9)) == D(2024, 10, 8)


def test_past_the_calendar_a_weekday_is_presumed_to_trade_for_its_closing_snapshot_only():
    from margin_wh.calendar import is_presumed_trading_day, with_presumed_day

    assert is_presumed_trading_day(YEAR_END, D(2027, 1, 4))
    assert not is_presumed_trading_day(YEAR_END, D(2027, 1, 1))  # New Year's Day
    assert not is_presumed_trading_day(YEAR_END, D(2027, 1, 2))  # a Saturday
    assert not is_presumed_trading_day(YEAR_END, D(2026, 12, 30))  # the calendar says
    assert with_presumed_day(YEAR_END, D(2027, 1, 4)) == [*YEAR_END, D(2027, 1, 4)]
    assert with_presumed_day(YEAR_END, D(2027, 1, 1)) == YEAR_END
