"""A slice of the season (tests/season.py): the turn of the year on the scheduled path.

The whole season (2026-12-21 .. 2027-01-15, every fault, and the fault-free season the
call count is measured against) runs for many minutes: it is the benchmark phase
`python -m benchmarks.season`. This test drives the same driver over the slice that the
calendar's horizon makes hard: set up on 2026-12-31 at noon, then every tick from that
afternoon to the morning of 2027-01-05, while Sina's calendar still ends on 2026-12-31
(it holds 2027 from 2027-01-06). The season's other faults hold too: the fund Sina does
not know is asked for by every run. `pytest -s` prints the slice's ticks.
"""

from __future__ import annotations

import datetime as dt

import pytest

from tests.season import (
    DAILY_AT,
    SEASON_FAULTS,
    SNAPSHOT_AT,
    SeasonRecord,
    beijing,
    due_day,
    invisible_lags,
    missing_days,
    missing_quotes,
    run_season,
    season_days,
    summary,
    unpublished_days,
    wrong_skips,
)

SETUP_AT = beijing(dt.date(2026, 12, 31), dt.time(12, 0))
FIRST_TICK = beijing(dt.date(2026, 12, 31), SNAPSHOT_AT)
LAST_TICK = beijing(dt.date(2027, 1, 5), DAILY_AT)

# one warehouse for the module's tests, built on one xdist worker
pytestmark = pytest.mark.xdist_group("season")


@pytest.fixture(scope="module")
def new_year(tmp_path_factory) -> SeasonRecord:
    record = run_season(
        tmp_path_factory.mktemp("season"), SEASON_FAULTS, SETUP_AT, FIRST_TICK, LAST_TICK
    )
    print("\n" + summary(record))
    return record


def slice_days(record: SeasonRecord) -> list[dt.date]:
    """The slice's trading days whose morning run is past by its last tick."""
    return season_days(
        record.market, FIRST_TICK.date(), due_day(record.market.trading_days, LAST_TICK)
    )


def test_the_slice_covers_the_days_past_sinas_calendar(new_year):
    market = new_year.market
    assert SEASON_FAULTS.unknown_fund[-6:] in set(market.codes[market.is_fund])
    assert [str(d) for d in slice_days(new_year)] == ["2026-12-31", "2027-01-04"]
    assert (
        SEASON_FAULTS.calendar_ends == dt.date(2026, 12, 31)
        and SEASON_FAULTS.calendar_whole_from > LAST_TICK
    )


def test_every_trading_day_is_loaded_with_no_manual_step(new_year):
    problems = missing_days(new_year, slice_days(new_year))
    assert not problems, "\n".join(problems)


def test_every_trading_day_is_published(new_year):
    problems = unpublished_days(new_year, slice_days(new_year))
    assert not problems, "\n".join(problems)


def test_every_security_has_its_quotes_and_the_fund_sina_does_not_know_is_named(new_year):
    problems = missing_quotes(new_year, slice_days(new_year))
    assert not problems, "\n".join(problems)


def test_every_lag_is_in_the_published_freshness_while_it_lasts(new_year):
    problems = invisible_lags(new_year)
    assert not problems, "\n".join(problems)


def test_weekends_and_holidays_skip_saying_why(new_year):
    skipped = [t for t in new_year.ticks if not t.trading_day]
    assert {t.at.date() for t in skipped} == {dt.date(2027, 1, d) for d in (1, 2, 3)}
    problems = wrong_skips(new_year)
    assert not problems, "\n".join(problems)


def test_no_snapshot_is_taken_while_a_session_is_open(new_year):
    assert not new_year.snapshots_in_session
