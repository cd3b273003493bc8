"""The two daily runs, on Beijing time:

- 15:40 on trading day T: the closing snapshot of the whole market (one call): T's close
  and float market cap, so the next morning needs no per-security quote calls;
- 09:30 on the next trading day: the exchanges' margin data for T (published ~09:00), and
  every model and publication for T.
"""


import datetime as dt
from collections.abc import Callable, Collection

import dagster as dg

from margin_wh.calendar import SHANGHAI, day_to_load_on, is_trading_day, load_calendar
from margin_wh.config import Settings
from orchestration.assets.publish import GROUP as PUBLISH_GROUP
from orchestration.partitions import (
    PARTITION_TAG,
    RANGE_END_TAG,
    RANGE_START_TAG,
    TRADING_DAYS,
    partition_key,
    run_partition_keys,
)

REFRESH_JOB_NAME = "refresh_warehouse"
DAILY_CRON = "30 9 * * *"  # 09:30 Asia/Shanghai, half an hour after publication
RUN_RETRIES = 2
SNAPSHOT_JOB_NAME = "take_closing_snapshot"
SNAPSHOT_CRON = "40 15 * * *"  # 15:40, after STAR's after-hours session ends at 15:30
RETRY_TAGS = {"dagster/max_retries": str(RUN_RETRIES), "dagster/retry_strategy": "FROM_FAILURE"}


def daily_run_request(calendar: list[dt.date], run_day: dt.date) -> dg.RunRequest | dg.SkipReason:
    """The run for a morning: load T-1 on trading days, skip anything else."""
    if not calendar:
        return dg.SkipReason(
            "no trading calendar in the landing zone yet: materialize raw/tool_trade_date_hist_sina"
        )
    day = day_to_load_on(calendar, run_day)
    if day is None:
        return dg.SkipReason(f"{run_day} is not a trading day: nothing is published")
    key = partition_key(day)
    return dg.RunRequest(run_key=key, partition_key=key, tags=RETRY_TAGS)


def snapshot_run_request(calendar: list[dt.date], run_day: dt.date) -> dg.RunRequest | dg.SkipReason:
    """The run for an afternoon: snapshot today's close on trading days, skip anything else."""
    if not calendar:
        return dg.SkipReason(
            "no trading calendar in the landing zone yet: materialize raw/tool_trade_date_hist_sina"
        )
    if not is_trading_day(calendar, run_day):
        return dg.SkipReason(f"{run_day} is not a trading day: there is no close to snapshot")
    key = partition_key(run_day)
    return dg.RunRequest(run_key=f"snapshot-{key}", partition_key=key, tags=RETRY_TAGS)


def _register(context, key: str) -> None:
    # A schedule cannot return partition requests: register the day (idempotent) so the
    # run can start. It is the next trading day, so the partitions stay in order.
    if key not in context.instance.get_dynamic_partitions(TRADING_DAYS.name):
        context.instance.add_dynamic_partitions(TRADING_DAYS.name, [key])


def build_daily_schedule(settings: Settings, job) -> dg.ScheduleDefinition:
    @dg.schedule(
        job=job,
        cron_schedule=DAILY_CRON,
        execution_timezone=str(SHANGHAI),
        description="Every morning at 09:30 Beijing time: load the previous trading day "
        "(published ~09:00) and rebuild the marts for it. Skips non-trading days; a failed "
        f"run is retried {RUN_RETRIES} times from the failed step.",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    def daily_refresh(context: dg.ScheduleEvaluationContext):
        run_day = context.scheduled_execution_time.astimezone(SHANGHAI).date()
        request = daily_run_request(load_calendar(settings.landing_dir), run_day)
        if isinstance(request, dg.RunRequest):
            _register(context, request.partition_key)
        return request

    return daily_refresh


def build_snapshot_schedule(settings: Settings, job) -> dg.ScheduleDefinition:
    @dg.schedule(
        job=job,
        cron_schedule=SNAPSHOT_CRON,
        execution_timezone=str(SHANGHAI),
        description="Every trading afternoon at 15:40 Beijing time: one stock_zh_a_spot_em "
        "call for the whole market's close and float market cap. Without it the next "
        "morning's refresh falls back to one Sina call per security (hours, live).",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    def closing_snapshot(context: dg.ScheduleEvaluationContext):
        run_day = context.scheduled_execution_time.astimezone(SHANGHAI).date()
        request = snapshot_run_request(load_calendar(settings.landing_dir), run_day)
        if isinstance(request, dg.RunRequest):
            _register(context, request.partition_key)
        return request

    return closing_snapshot


AFTER_FAILED_RUN_TAG = "margin_wh/rest_of_run"  # a run that builds what a failed source spares


def rest_after_failed_sources(
    keys: Collection[dg.AssetKey], failed_raw: Collection[dg.AssetKey], graph
) -> list[dg.AssetKey]:
    """What a run can still build when the raw datasets `failed_raw` failed: every model
    that does not read them, and the publication (whose freshness table and report then
    say which datasets are stale)."""
    selected = dg.AssetSelection.assets(*keys)
    rest = (
        selected
        - dg.AssetSelection.groups("raw")
        - dg.AssetSelection.assets(*failed_raw).downstream()
    ) | (selected & dg.AssetSelection.groups(PUBLISH_GROUP))
    return sorted(rest.resolve(graph), key=lambda k: k.to_user_string())


def failed_raw_assets(instance: dg.DagsterInstance, run_id: str) -> list[dg.AssetKey]:
    """The raw datasets whose step failed in a run (their source was down or refused)."""
    failures = instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    steps = {e.dagster_event.step_key for e in failures if e.dagster_event}
    return sorted(
        dg.AssetKey(["raw", step.removeprefix("raw__")])
        for step in steps
        if step and step.startswith("raw__")
    )


def build_failure_sensor(job, asset_graph: Callable[[], object]) -> dg.SensorDefinition:
    """Reports a failed refresh once its retries are exhausted; when raw datasets failed,
    requests a run of what they spare (models that do not read them, the publication),
    as `margin-wh refresh` does, so a futures outage does not hold the margin marts back."""

    @dg.run_failure_sensor(
        name="report_failed_refresh",
        description="Reports a failed warehouse refresh once its retries are exhausted, and "
        "builds and publishes what the failed sources spare.",
        default_status=dg.DefaultSensorStatus.RUNNING,
        request_job=job,
    )
    def report_failed_refresh(context: dg.RunFailureSensorContext):
        run = context.dagster_run
        retries_left = int(run.tags.get("dagster/max_retries", 0)) - int(
            run.tags.get("dagster/retry_number", 0)
        )
        if retries_left > 0:
            return None
        start, end = run_partition_keys(run.tags) or ("?", "?")
        partition = start if start == end else f"{start}..{end}"
        context.log.error(
            f"Warehouse refresh FAILED for trading day(s) {partition} (run {run.run_id}): "
            f"{context.failure_event.message}. The published snapshot still serves the last good "
            "refresh; fix the cause and re-execute the run from the failure."
        )
        if run.job_name != job.name:  # the closing snapshot's runs: reported, nothing to spare
            return None
        failed = failed_raw_assets(context.instance, run.run_id)
        if not failed or run.tags.get(AFTER_FAILED_RUN_TAG) or not run.asset_selection:
            return None
        keys = rest_after_failed_sources(run.asset_selection, failed, asset_graph())
        if not keys:
            return None
        tags = {k: v for k, v in run.tags.items() if k in (RANGE_START_TAG, RANGE_END_TAG)}
        return dg.RunRequest(
            run_key=f"rest-of-{run.run_id}",
            asset_selection=keys,
            partition_key=run.tags.get(PARTITION_TAG),
            tags={**tags, AFTER_FAILED_RUN_TAG: run.run_id},
        )

    return report_failed_refresh
