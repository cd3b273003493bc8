"""The daily refresh: after the exchanges publish T-1 (about 09:00 Beijing time)."""


import datetime as dt

import dagster as dg

from margin_wh.calendar import SHANGHAI, day_to_load_on, load_calendar
from margin_wh.config import Settings
from orchestration.partitions import TRADING_DAYS, partition_key

REFRESH_JOB_NAME = "refresh_warehouse"
DAILY_CRON = "30 9 * * *"  # 09:30 Asia/Shanghai, half an hour after publication
RUN_RETRIES = 2


def daily_run_request(
    calendar: list[dt.date], run_day: dt.date, existing_keys: list[str]
) -> dg.RunRequest | dg.SkipReason:
    """The run for a morning: load T-1 on trading days, skip anything else."""
    if not calendar:
        return dg.SkipReason(
            "no trading calendar in the landing zone yet: materialize raw/tool_trade_date_hist_sina"
        )
    day = day_to_load_on(calendar, run_day)
    if day is None:
        return dg.SkipReason(f"{run_day} is not a trading day: nothing is published")
    key = partition_key(day)
    return dg.RunRequest(
        run_key=key,
        partition_key=key,
        tags={"dagster/max_retries": str(RUN_RETRIES), "dagster/retry_strategy": "FROM_FAILURE"},
    )


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
        calendar = load_calendar(settings.landing_dir)
        existing = context.instance.get_dynamic_partitions(TRADING_DAYS.name)
        request = daily_run_request(calendar, run_day, existing)
        if isinstance(request, dg.SkipReason):
            return request
        if request.partition_key not in existing:
            # A schedule cannot return partition requests: register the day (idempotent)
            # so the run can start. It is the next trading day, so order is kept.
            context.instance.add_dynamic_partitions(TRADING_DAYS.name, [request.partition_key])
        return request

    return daily_refresh


@dg.run_failure_sensor(
    description="Reports a failed warehouse refresh once its retries are exhausted.",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def report_failed_refresh(context: dg.RunFailureSensorContext) -> None:
    run = context.dagster_run
    retries_left = int(run.tags.get("dagster/max_retries", 0)) - int(run.tags.get("dagster/retry_number", 0))
    if retries_left > 0:
        return
    partition = run.tags.get("dagster/partition") or (
        f"{run.tags.get('dagster/asset_partition_range_start')}.."
        f"{run.tags.get('dagster/asset_partition_range_end')}"
    )
    context.log.error(
        f"Warehouse refresh FAILED for trading day(s) {partition} (run {run.run_id}): "
        f"{context.failure_event.message}. The published snapshot still serves the last good "
        "refresh; fix the cause and re-execute the run from the failure."
    )
