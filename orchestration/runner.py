"""Run the real Definitions from Python: what `margin-wh refresh` and the tests call.

A refresh is one run of the refresh job over the whole partition range (single-run
backfill). The trading calendar defines the partitions: when the calendar last fetched
reaches the range's end, the range's days are registered from it (as the daily schedule
does) and the calendar is fetched again inside the run; otherwise (a new warehouse, a
range past the calendar's end) a first run fetches the calendar.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import dagster as dg

from margin_wh.calendar import (
    CALENDAR_FUNCTION,
    load_calendar,
    shanghai_today,
    trading_days_between,
)
from margin_wh.config import Settings
from orchestration.assets.dbt import dbt_steps, reference_keys_to_leave_out
from orchestration.assets.publish import GROUP as PUBLISH_GROUP
from orchestration.assets.raw import raw_key
from orchestration.definitions import build_definitions
from orchestration.partitions import (
    TRADING_DAYS,
    partition_key,
    publishable_days,
    sync_trading_days,
)
from orchestration.schedules import REFRESH_JOB_NAME

RUN_CONFIG = {"loggers": {"progress": {}}}


class RefreshError(RuntimeError):
    pass


@dataclass(frozen=True)
class RefreshResult:
    first_day: dt.date
    last_day: dt.date
    trading_days: int
    run_ids: tuple[str, ...]


def _error_text(error) -> str:
    """The step's error and its causes: Dagster wraps what the step raised ("Error
    occurred while executing op ...") and keeps the reason in the cause chain."""
    parts = []
    while error is not None:
        parts.append(error.message.strip())
        error = error.cause
    return "\n  caused by: ".join(parts)


def _execute(job: dg.JobDefinition, instance: dg.DagsterInstance, **kwargs) -> dg.ExecuteInProcessResult:
    result = job.execute_in_process(instance=instance, run_config=RUN_CONFIG, raise_on_error=False, **kwargs)
    if not result.success:
        failures = [
            f"{e.step_key}: {_error_text(e.event_specific_data.error)}"
            for e in result.all_events
            if e.event_type_value == "STEP_FAILURE"
        ]
        raise RefreshError("run failed:\n" + "\n".join(failures or ["(see the run in the Dagster UI)"]))
    return result


def refresh(
    settings: Settings,
    start: dt.date,
    end: dt.date,
    instance: dg.DagsterInstance,
    raw_only: bool = False,
    defs: dg.Definitions | None = None,
    publish: bool = True,
) -> RefreshResult:
    """Load every raw dataset for the trading days in [start, end], then build the models
    (and, unless publish=False, the BI publication: see `publish_run`)."""
    defs = defs or build_definitions(settings)
    job = defs.resolve_job_def(REFRESH_JOB_NAME)
    run_ids: list[str] = []
    calendar = load_calendar(settings.landing_dir)
    calendar_in_run = bool(calendar) and calendar[-1] >= end
    if calendar_in_run:
        try:
            sync_trading_days(instance, publishable_days(calendar, settings, shanghai_today()))
        except ValueError as error:  # partitions only grow forward: say so, not a traceback
            raise RefreshError(str(error)) from error
    else:
        run_ids.append(_execute(job, instance, asset_selection=[raw_key(CALENDAR_FUNCTION)]).run_id)
        calendar = load_calendar(settings.landing_dir)

    days = trading_days_between(calendar, start, end)
    partitions = set(instance.get_dynamic_partitions(TRADING_DAYS.name))
    loadable = [d for d in days if partition_key(d) in partitions]
    if not loadable:
        raise RefreshError(
            f"no loadable trading day between {start} and {end}: the calendar has "
            f"{len(days)} trading day(s) there, and days are loadable from "
            f"{settings.history_start} (MARGIN_WH_HISTORY_START) to the last published day"
            + (f" ({settings.demo_end}, the end of the demo market)" if settings.source == "demo" else "")
        )
    if len(loadable) < len(days):
        skipped = sorted(set(days) - set(loadable))
        print(f"note: skipping {len(skipped)} trading day(s) not loadable yet, e.g. {skipped[:3]}")

    selection = dg.AssetSelection.groups("raw") if raw_only else dg.AssetSelection.all()
    if not calendar_in_run:
        selection = selection - dg.AssetSelection.assets(raw_key(CALENDAR_FUNCTION))
    if not publish:
        selection = selection - dg.AssetSelection.groups(PUBLISH_GROUP)
    # seeds and what is built from them alone, unchanged since they were built: left out
    selection = selection - dg.AssetSelection.assets(
        *reference_keys_to_leave_out(
            dbt_steps(defs.resolve_asset_graph().assets_defs), settings.db_path
        )
    )
    keys = list(selection.resolve(defs.resolve_asset_graph()))
    run = _execute(
        job,
        instance,
        asset_selection=keys,
        tags={
            "dagster/asset_partition_range_start": partition_key(loadable[0]),
            "dagster/asset_partition_range_end": partition_key(loadable[-1]),
        },
    )
    run_ids.append(run.run_id)
    return RefreshResult(loadable[0], loadable[-1], len(loadable), tuple(run_ids))


def publish_run(settings: Settings, instance: dg.DagsterInstance, defs: dg.Definitions | None = None) -> str:
    """Materialize the BI publication (snapshot, Parquet, report) from the warehouse as it is."""
    defs = defs or build_definitions(settings)
    job = defs.resolve_job_def(REFRESH_JOB_NAME)
    keys = list(dg.AssetSelection.groups(PUBLISH_GROUP).resolve(defs.resolve_asset_graph()))
    return _execute(job, instance, asset_selection=keys).run_id
