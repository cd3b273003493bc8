"""The two daily runs, on Beijing time:

- 15:40 on trading day T: the closing snapshot of the whole market (one call): T's close
  and float market cap, so the next morning needs no per-security quote calls;
- 09:30 on the next trading day: the exchanges' margin data for T (published ~09:00), and
  every model and publication for T.
"""


import datetime as dt
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

import dagster as dg

from margin_wh.calendar import (
    CALENDAR_FUNCTION,
    CATCH_UP_TRADING_DAYS,
    SHANGHAI,
    describe_days,
    is_past_calendar,
    is_presumed_trading_day,
    is_trading_day,
    morning_plan,
    previous_trading_day,
    trading_days_between,
)
from margin_wh.config import Settings
from margin_wh.raw.landed_calendar import load_calendar
from orchestration.assets.publish import GROUP as PUBLISH_GROUP
from orchestration.assets.raw import TRADING_DAYS_LEARNED, raw_key
from orchestration.partitions import (
    PARTITION_TAG,
    RANGE_END_TAG,
    RANGE_START_TAG,
    TRADING_DAYS,
    partition_key,
    run_partition_keys,
    sync_trading_days,
    unloaded_trading_days,
)

REFRESH_JOB_NAME = "refresh_warehouse"
DAILY_CRON = "30 9 * * *"  # 09:30 Asia/Shanghai, half an hour after publication
RUN_RETRIES = 2
SNAPSHOT_JOB_NAME = "take_closing_snapshot"
SNAPSHOT_CRON = "40 15 * * *"  # 15:40, after STAR's after-hours session ends at 15:30
RETRY_TAGS = {"dagster/max_retries": str(RUN_RETRIES), "dagster/retry_strategy": "FROM_FAILURE"}
DECISION_TAG = "margin_wh/why"  # what a schedule or sensor decided to load, and why


def daily_run_request(
    calendar: list[dt.date], run_day: dt.date, unloaded: Collection[dt.date] = ()
) -> dg.RunRequest | dg.SkipReason:
    """The run for a morning (margin_wh.calendar.morning_plan): T-1 and every recent day a
    dataset missed, the calendar refreshed first past its end; the reason is in the tags."""
    plan = morning_plan(calendar, run_day, unloaded)
    if not plan.runs:
        return dg.SkipReason(plan.reason)
    tags = {**RETRY_TAGS, DECISION_TAG: plan.reason}
    if not plan.days:  # past the calendar's end with every known day loaded: learn only
        return dg.RunRequest(run_key=f"learn-{run_day}", tags=tags,
                             asset_selection=[raw_key(CALENDAR_FUNCTION)])  # fmt: skip
    first, last = partition_key(plan.days[0]), partition_key(plan.days[-1])
    if first == last:
        return dg.RunRequest(run_key=first, partition_key=first, tags=tags)
    return dg.RunRequest(run_key=f"{first}..{last}",
                         tags={**tags, RANGE_START_TAG: first, RANGE_END_TAG: last})  # fmt: skip


def raw_day_keys(graph) -> list[dg.AssetKey]:
    """The day-partitioned raw datasets: the ones a day counts as loaded by."""
    return sorted(
        key for key in dg.AssetSelection.groups("raw").resolve(graph)
        if graph.get(key).partitions_def is not None
    )  # fmt: skip


def snapshot_run_request(calendar: list[dt.date], run_day: dt.date) -> dg.RunRequest | dg.SkipReason:
    """The run for an afternoon: snapshot today's close on trading days, skip anything else."""
    if not calendar:
        return dg.SkipReason(
            "no trading calendar in the landing zone yet: materialize raw/tool_trade_date_hist_sina"
        )
    key = partition_key(run_day)
    if is_past_calendar(calendar, run_day):
        if not is_presumed_trading_day(calendar, run_day):
            return dg.SkipReason(
                f"{run_day} is past the trading calendar's end ({calendar[-1]}) and a weekend "
                "or New Year's Day: there is no close to snapshot"
            )
        why = (
            f"{run_day} is past the trading calendar's end ({calendar[-1]}): presumed a trading "
            "day for its close, which can only be taken this evening; the day is confirmed, "
            "and its margin data loaded, once SSE's margin totals list it"
        )
        return dg.RunRequest(run_key=f"snapshot-{key}", partition_key=key,
                             tags={**RETRY_TAGS, DECISION_TAG: why})  # fmt: skip
    if not is_trading_day(calendar, run_day):
        return dg.SkipReason(f"{run_day} is not a trading day: there is no close to snapshot")
    return dg.RunRequest(run_key=f"snapshot-{key}", partition_key=key, tags=RETRY_TAGS)


def _register(context, days: list[dt.date]) -> None:
    # A schedule cannot return partition requests: register the days (idempotent) so the
    # run can start. They follow the registered ones, so the partitions stay in order.
    sync_trading_days(context.instance, days)


def build_daily_schedule(settings: Settings, job, asset_graph: Callable[[], object]) -> dg.ScheduleDefinition:
    @dg.schedule(
        job=job,
        cron_schedule=DAILY_CRON,
        execution_timezone=str(SHANGHAI),
        description="Every morning at 09:30 Beijing time: load the previous trading day "
        "(published ~09:00) and every recent day a dataset missed, and rebuild the marts for "
        "them. Past the trading calendar's end, learns the days since from SSE's margin "
        "totals first. Skips weekends and holidays, saying so; a failed run is retried "
        f"{RUN_RETRIES} times from the failed step.",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    def daily_refresh(context: dg.ScheduleEvaluationContext):
        run_day = context.scheduled_execution_time.astimezone(SHANGHAI).date()
        calendar = load_calendar(settings.landing_dir)
        last = previous_trading_day(calendar, run_day) if calendar else None
        unloaded = (
            unloaded_trading_days(context.instance, raw_day_keys(asset_graph()), calendar, last,
                                  CATCH_UP_TRADING_DAYS)  # fmt: skip
            if last else set()
        )
        request = daily_run_request(calendar, run_day, unloaded)
        context.log.info(request.skip_message if isinstance(request, dg.SkipReason)
                         else request.tags[DECISION_TAG])  # fmt: skip
        if isinstance(request, dg.RunRequest) and request.asset_selection is None:
            keys = run_partition_keys(request.tags) or (request.partition_key,) * 2
            _register(context, trading_days_between(calendar, *map(dt.date.fromisoformat, keys)))
        return request

    return daily_refresh


def build_learned_days_sensor(settings: Settings, job, asset_graph: Callable[[], object]):
    """When the calendar asset learns trading days past Sina's calendar (from SSE's margin
    totals), a run loads them at once: a morning past the calendar's end only learns them,
    as no partition existed for them when its run was requested."""

    @dg.asset_sensor(
        asset_key=raw_key(CALENDAR_FUNCTION),
        job=job,
        name="load_learned_trading_days",
        description="Loads the trading days the calendar learned past its end (from SSE's "
        "margin totals) as soon as it learned them.",
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def load_learned_trading_days(context: dg.SensorEvaluationContext, asset_event):
        metadata = asset_event.asset_materialization.metadata
        learned = metadata.get(TRADING_DAYS_LEARNED)
        run = context.instance.get_run_by_id(asset_event.run_id)
        # a morning that only refreshed the calendar (it was past the calendar's end): the
        # days it knows now (Sina's new year, or a day registered by the evening's
        # presumed snapshot) and no run has loaded are loaded now, not the next morning
        learn_run = bool(run) and run.tags.get("dagster/run_key", "").startswith("learn-")
        if not (learned and learned.value) and not learn_run:
            return dg.SkipReason("the calendar learned no trading day past its end")
        calendar = load_calendar(settings.landing_dir)
        # the last day that can be loaded: the calendar registers days up to the last
        # published one (a calendar of the new year runs to its end)
        registered = context.instance.get_dynamic_partitions(TRADING_DAYS.name)
        if not registered:
            return dg.SkipReason("no trading day is registered yet")
        last = dt.date.fromisoformat(max(registered))
        unloaded = unloaded_trading_days(context.instance, raw_day_keys(asset_graph()), calendar,
                                         last, CATCH_UP_TRADING_DAYS)  # fmt: skip
        if not unloaded:
            return dg.SkipReason("every trading day the calendar learned is loaded")
        days = trading_days_between(calendar, min(unloaded), last)
        first, last = partition_key(days[0]), partition_key(days[-1])
        reason = f"loading {describe_days(days)}, learned past the trading calendar's end"
        context.log.info(reason)
        return dg.RunRequest(
            run_key=f"learned-{first}..{last}",
            tags={**RETRY_TAGS, DECISION_TAG: reason, RANGE_START_TAG: first, RANGE_END_TAG: last},
        )

    return load_learned_trading_days


def build_snapshot_schedule(settings: Settings, job) -> dg.ScheduleDefinition:
    @dg.schedule(
        job=job,
        cron_schedule=SNAPSHOT_CRON,
        execution_timezone=str(SHANGHAI),
        description="Every trading afternoon at 15:40 Beijing time: one stock_zh_a_spot_em "
        "call for the whole market's close and float market cap (Sina's paged snapshot, "
        "stock_zh_a_spot, for the close when Eastmoney refuses). Without either the next "
        "morning's refresh falls back to one Sina call per security (hours, live).",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    def closing_snapshot(context: dg.ScheduleEvaluationContext):
        run_day = context.scheduled_execution_time.astimezone(SHANGHAI).date()
        request = snapshot_run_request(load_calendar(settings.landing_dir), run_day)
        if isinstance(request, dg.RunRequest):
            _register(context, [run_day])
        return request

    return closing_snapshot


AFTER_FAILED_RUN_TAG = "margin_wh/rest_of_run"  # a run that builds what a failed run spares


def step_failure_lines(events: Iterable[dg.DagsterEvent]) -> list[str]:
    """One line per failed step: the step, then the reason it gave (a dbt model and dbt's
    message, a dataset and its host's error), then Dagster's wrapping of it. Dagster keeps
    what the step raised at the end of the error's cause chain."""
    lines = []
    for event in events:
        if event.event_type_value != "STEP_FAILURE":
            continue
        chain, error = [], event.event_specific_data.error
        while error is not None:
            message = error.message.strip()
            if error.cls_name == "Failure":  # dg.Failure: the step's own words, no class name
                message = message.split(": ", 1)[-1]
            chain.append(message)
            error = error.cause
        lines.append(f"{event.step_key}: " + "\n  raised in: ".join(reversed(chain)))
    return lines


def failed_on_held_warehouse(events: Iterable[dg.DagsterEvent]) -> bool:
    """Whether a step failed because another process held the warehouse (a reader left
    open on it): a run of the rest would fail on it too, so none is made."""
    return any(
        "WarehouseBusyError" in str(event.event_specific_data.error)
        for event in events
        if event.event_type_value == "STEP_FAILURE"
    )


@dataclass(frozen=True)
class FailedAssets:
    """What a failed run did to its assets."""

    failed: frozenset[dg.AssetKey]  # not built by a failed step, or an error-severity check failed
    built: frozenset[dg.AssetKey]  # materialized


def failed_assets_of(events: Iterable[dg.DagsterEvent]) -> FailedAssets:
    """From a run's events: the assets of its failed steps that were not materialized (a
    raw dataset whose source failed; a dbt model that failed, and those dbt skipped
    after it), those whose error-severity check failed (a dbt test: the model was
    written, the models built on it were not), and every asset it materialized."""
    planned: dict[str, set[dg.AssetKey]] = {}
    failed_steps, built, failed_checks = set(), set(), set()
    for event in events:
        kind = event.event_type_value
        if kind == "ASSET_MATERIALIZATION_PLANNED":
            planned.setdefault(event.step_key, set()).add(event.asset_key)
        elif kind == "ASSET_MATERIALIZATION":
            built.add(event.asset_key)
        elif kind == "STEP_FAILURE":
            failed_steps.add(event.step_key)
        elif kind == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR:
                failed_checks.add(evaluation.asset_key)
    not_built = {key for step in failed_steps for key in planned.get(step, ()) if key not in built}
    return FailedAssets(frozenset(not_built | failed_checks), frozenset(built))


def failed_assets(instance: dg.DagsterInstance, run_id: str) -> FailedAssets:
    """`failed_assets_of` the run's events in the instance's event log."""
    kinds = {
        dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
        dg.DagsterEventType.ASSET_MATERIALIZATION,
        dg.DagsterEventType.STEP_FAILURE,
        dg.DagsterEventType.ASSET_CHECK_EVALUATION,
    }
    records = instance.all_logs(run_id, of_type=kinds)
    return failed_assets_of(r.dagster_event for r in records if r.dagster_event)


def rest_of_failed_run(
    keys: Collection[dg.AssetKey], outcome: FailedAssets, graph
) -> list[dg.AssetKey]:
    """What a run of `keys` can still build after failing as `outcome` says: every model
    it did not build that does not read a failed asset (a failed raw dataset, a failed dbt
    model), and the publication, which then names what is stale. The failed assets and
    what is built on them keep their last good state."""
    selected = dg.AssetSelection.assets(*keys)
    rest = (
        selected
        - dg.AssetSelection.groups("raw")
        - dg.AssetSelection.assets(*outcome.built)
        - dg.AssetSelection.assets(*outcome.failed).downstream()
    ) | (selected & dg.AssetSelection.groups(PUBLISH_GROUP))
    return sorted(rest.resolve(graph), key=lambda k: k.to_user_string())


def build_failure_sensor(
    job, asset_graph: Callable[[], object], minimum_interval_seconds: int | None = None
) -> dg.SensorDefinition:
    """Reports a failed refresh once its retries are exhausted, with each failed step's
    reason; when raw datasets or dbt models failed, requests a run of what they spare
    (models that do not read them, the publication), as `margin-wh refresh` does, so a
    futures outage or one bad futures row does not hold the margin marts back.
    `minimum_interval_seconds`: between the daemon's evaluations (None: Dagster's 30 s;
    the daemon tests shorten it)."""

    @dg.run_failure_sensor(
        name="report_failed_refresh",
        description="Reports a failed warehouse refresh once its retries are exhausted, and "
        "builds and publishes what the failed sources and models spare.",
        default_status=dg.DefaultSensorStatus.RUNNING,
        request_job=job,
        minimum_interval_seconds=minimum_interval_seconds,
    )
    def report_failed_refresh(context: dg.RunFailureSensorContext):
        run = context.dagster_run
        retries_left = int(run.tags.get("dagster/max_retries", 0)) - int(
            run.tags.get("dagster/retry_number", 0)
        )
        if retries_left > 0:
            return None
        start, end = run_partition_keys(run.tags) or ("?", "?")
        partition = f"trading day {start}" if start == end else f"trading days {start}..{end}"
        failures = context.instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
        failures = [r.dagster_event for r in failures if r.dagster_event]
        reasons = step_failure_lines(failures)
        context.log.error(
            f"Warehouse refresh FAILED for {partition} (run {run.run_id}):\n"
            + "\n".join(reasons or [context.failure_event.message or "(see the run)"])
            + "\nThe published snapshot still serves the last good refresh; fix the cause and "
            "re-execute the run from the failure."
        )
        if run.job_name != job.name:  # the closing snapshot's runs: reported, nothing to spare
            return None
        if run.tags.get(AFTER_FAILED_RUN_TAG) or failed_on_held_warehouse(failures):
            return None  # never a rest of a rest, nor a run that would fail as this one did
        outcome = failed_assets(context.instance, run.run_id)
        if not outcome.failed:
            return None
        graph = asset_graph()
        # a run of the whole job (the schedule's) records no selection of its own
        selected = run.asset_selection or job.selection.resolve(graph)
        keys = rest_of_failed_run(selected, outcome, graph)
        if not keys:
            return None
        tags = {k: v for k, v in run.tags.items() if k in (RANGE_START_TAG, RANGE_END_TAG)}
        partition_key = run.tags.get(PARTITION_TAG)
        if partition_key and not any(graph.get(k).partitions_def for k in keys):
            # only models and the publication (unpartitioned) are left: Dagster takes a
            # partition key only for a selection with partitioned assets, so the day
            # reaches dbt as the run's range instead
            partition_key, tags = None, {RANGE_START_TAG: partition_key, RANGE_END_TAG: partition_key}
        return dg.RunRequest(
            run_key=f"rest-of-{run.run_id}",
            asset_selection=keys,
            partition_key=partition_key,
            tags={**tags, AFTER_FAILED_RUN_TAG: run.run_id},
        )

    return report_failed_refresh
