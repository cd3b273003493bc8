"""The code location `dagster-daemon` loads in tests/test_deploy.py: the warehouse's own
Definitions (orchestration.definitions.build_definitions), with two test controls that
reach the daemon's processes (its code server, each run's worker) through files in the
directory MARGIN_WH_TEST_CONTROL names, as in-process mocks cannot:

- `clock`: a Beijing date. A tick of a test schedule (cron `* * * * *`) that finds it
  runs the daily schedule's own evaluation function as if it were 09:30 on that date,
  through Dagster's documented direct invocation of a schedule, and consumes the file:
  a schedule's run key only dedupes within one tick, so every later tick on the same date
  would launch the day again (as the next morning does a day some dataset missed).
  A tick waits up to CLOCK_WAIT_S for the file, then skips: the scheduler ticks on the
  minute, and a test that sets the clock then finds the tick under way, not a minute off.
- `outage`: the name of a dataset whose every call fails, as an unreachable host's do,
  for as long as the file exists.

The failure sensor is the real one, evaluated every 2 s instead of every 30 s.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import time
from pathlib import Path

import dagster as dg

import margin_wh.sources as sources
from margin_wh.calendar import SHANGHAI
from margin_wh.config import Settings
from margin_wh.sources import DemoSource
from margin_wh.sources.akshare_source import SourceUnavailableError
from orchestration.definitions import build_definitions
from orchestration.schedules import REFRESH_JOB_NAME, build_failure_sensor

TEST_SCHEDULE = "daily_refresh_on_test_clock"
FAILURE_SENSOR_INTERVAL_S = 2
# within Dagster's 60 s for a schedule's evaluation (DAGSTER_SCHEDULE_GRPC_TIMEOUT_SECONDS)
CLOCK_WAIT_S = 50


def control() -> Path:
    return Path(os.environ["MARGIN_WH_TEST_CONTROL"])


class OutageSource(DemoSource):
    """The demo market, its calls of the dataset named in the control's `outage` failing."""

    def call(self, function, **kwargs):
        outage = control() / "outage"
        if outage.exists() and outage.read_text().strip() == function:
            raise SourceUnavailableError(
                f"akshare.{function}(...): injected outage", call=function, host="test",
                retry_may_help=True,
            )  # fmt: skip
        return super().call(function, **kwargs)


def _test_definitions() -> dg.Definitions:
    sources._demo_source = functools.lru_cache(maxsize=4)(OutageSource)  # what get_source builds
    defs = build_definitions(Settings.from_env())
    daily = next(s for s in defs.schedules if s.name == "daily_refresh")
    refresh_job = next(j for j in defs.jobs if j.name == REFRESH_JOB_NAME)

    @dg.schedule(job=refresh_job, cron_schedule="* * * * *", name=TEST_SCHEDULE,
                 default_status=dg.DefaultScheduleStatus.RUNNING)  # fmt: skip
    def daily_refresh_on_test_clock(context: dg.ScheduleEvaluationContext):
        clock, deadline = control() / "clock", time.monotonic() + CLOCK_WAIT_S
        while not clock.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        try:
            day = dt.date.fromisoformat(clock.read_text().strip())
            clock.unlink()
        except FileNotFoundError:
            return dg.SkipReason("no test clock set")
        at = dt.datetime.combine(day, dt.time(9, 30), tzinfo=SHANGHAI)
        return daily(dg.build_schedule_context(instance=context.instance, scheduled_execution_time=at))

    sensors = [s for s in defs.sensors if s.name != "report_failed_refresh"]
    graph = lambda: test_defs.resolve_asset_graph()  # noqa: E731 - resolved once loaded
    test_defs = dg.Definitions(
        assets=defs.assets,
        asset_checks=defs.asset_checks,
        jobs=defs.jobs,
        schedules=[daily_refresh_on_test_clock],
        sensors=[*sensors, build_failure_sensor(refresh_job, graph, FAILURE_SENSOR_INTERVAL_S)],
        resources=defs.resources,
        executor=defs.executor,
        loggers=defs.loggers,
    )
    return test_defs


@dg.definitions
def defs() -> dg.Definitions:
    return _test_definitions()
