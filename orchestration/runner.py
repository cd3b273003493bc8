"""Run the real Definitions from Python: what `margin-wh refresh` and the tests call.

A refresh is one run of the refresh job over the whole partition range (single-run
backfill). The trading calendar defines the partitions: when the calendar last fetched
reaches the range's end, the range's days are registered from it (as the daily schedule
does) and the calendar is fetched again inside the run; otherwise (a new warehouse, a
range past the calendar's end) a first run fetches the calendar.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from margin_wh.calendar import (
    CALENDAR_FUNCTION,
    load_calendar,
    shanghai_today,
    trading_days_between,
)
from margin_wh.config import REPO_ROOT, Settings
from margin_wh.sources.datasets import DATASETS
from orchestration.assets.publish import GROUP as PUBLISH_GROUP
from orchestration.assets.raw import REFETCH_TAG, raw_key
from orchestration.definitions import build_definitions
from orchestration.partitions import (
    RANGE_END_TAG,
    RANGE_START_TAG,
    TRADING_DAYS,
    partition_key,
    publishable_days,
    run_partition_keys,
    sync_trading_days,
)
from orchestration.schedules import REFRESH_JOB_NAME, rest_after_failed_sources

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


def _failures(result: dg.ExecutionResult) -> list[str]:
    return [
        f"{e.step_key}: {_error_text(e.event_specific_data.error)}"
        for e in result.all_events
        if e.event_type_value == "STEP_FAILURE"
    ] or ["(see the run in the Dagster UI)"]


# Which process runs a CLI run: a run whose process is gone (killed, a power cut) is
# marked failed by the next refresh, freeing the pool slots it held.
PID_TAG, HOST_TAG = "margin_wh/pid", "margin_wh/host"


# The code location `dagster dev -m orchestration.definitions` (`margin-wh ui`) serves.
CODE_LOCATION = "orchestration.definitions"


def code_location_job_origin(job_name: str):
    """The origin the UI gives runs of `job_name` in this code location. The UI's Overview
    timeline, Jobs page and asset pages find a job's runs by this origin; Dagster's public
    ways to run a job in this process (`execute_in_process`, `execute_job`) leave it empty,
    so their runs would show on the Runs page only."""
    from dagster._core.definitions.repository_definition.valid_definitions import (
        SINGLETON_REPOSITORY_NAME,
    )
    from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteRepositoryOrigin
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    location = InProcessCodeLocationOrigin(
        loadable_target_origin=LoadableTargetOrigin(
            executable_path=sys.executable, module_name=CODE_LOCATION, working_directory=str(REPO_ROOT)
        ),
        location_name=CODE_LOCATION,
    )
    return RemoteRepositoryOrigin(location, SINGLETON_REPOSITORY_NAME).get_job_origin(job_name)


# Dagster's setting for planned events: by default a run over a range of days writes one
# "planned" event per asset and day before its first step (tens of thousands for a
# backfill of years, most of the demo's Dagster time); with it, one per asset holding the
# range (dagster-io/dagster#29288, the maintainers' advice in #32242). Its cost: Dagster
# OSS then does not mark the days of a failed range as failed (they show as missing; the
# run shows failed). One-day runs, e.g. the daily schedule's, keep one event per day.
RANGE_PLANNED_EVENTS_ENV = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"


@contextlib.contextmanager
def planned_events_per_range(tags: dict[str, str]) -> Iterator[None]:
    """Within it, a run created over several days plans them in one event per asset
    (unless the environment says otherwise)."""
    keys = run_partition_keys(tags)
    if keys is None or keys[0] == keys[1] or RANGE_PLANNED_EVENTS_ENV in os.environ:
        yield
        return
    os.environ[RANGE_PLANNED_EVENTS_ENV] = "true"
    try:
        yield
    finally:
        del os.environ[RANGE_PLANNED_EVENTS_ENV]


def _run(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    asset_selection: list[dg.AssetKey] | None = None,
    tags: dict[str, str] | None = None,
):
    """One run of `job` (its `asset_selection`) in this process, as `execute_in_process`
    runs it, but recorded with the code location's origin (code_location_job_origin) and
    the process that runs it (PID_TAG, HOST_TAG)."""
    from dagster._core.definitions.job_base import InMemoryJob
    from dagster._core.execution.api import create_execution_plan, execute_run

    tags = {**job.run_tags, **(tags or {}), PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}
    selected = job.get_subset(asset_selection=set(asset_selection)) if asset_selection else job
    plan = create_execution_plan(
        selected, run_config=RUN_CONFIG, instance_ref=instance.get_ref() if instance.is_persistent else None
    )
    with planned_events_per_range(tags):
        run = instance.create_run_for_job(
            job_def=selected,
            execution_plan=plan,
            run_config=RUN_CONFIG,
            tags=tags,
            asset_selection=frozenset(asset_selection) if asset_selection else None,
            remote_job_origin=code_location_job_origin(job.name),
        )
    return execute_run(InMemoryJob(job), run, instance)


def fail_runs_of_dead_processes(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the CLI runs still STARTED whose process on this host is gone, and free
    the `duckdb_writer` pool slots they held: otherwise the next run waits for those slots
    for ever. Runs the daemon launched are Dagster's run monitoring's (dagster.yaml)."""
    from margin_wh.leftovers import process_is_gone

    failed = []
    active = instance.get_runs(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING])
    )
    for run in active:
        pid, host = run.tags.get(PID_TAG), run.tags.get(HOST_TAG)
        if pid is None or host != socket.gethostname() or not process_is_gone(int(pid)):
            continue
        instance.report_run_failed(
            run, f"its process {pid} is gone (killed, or the machine went down); marked failed "
            "by the next margin-wh refresh, which frees the slots it held"
        )  # fmt: skip
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        failed.append(run.run_id)
    return failed


def _execute(job: dg.JobDefinition, instance: dg.DagsterInstance, **kwargs) -> dg.ExecutionResult:
    result = _run(job, instance, **kwargs)
    if not result.success:
        raise RefreshError("run failed:\n" + "\n".join(_failures(result)))
    return result


def _unmaterialized_raw(result: dg.ExecutionResult, keys: list[dg.AssetKey]) -> list[dg.AssetKey]:
    """The raw assets of a run that produced nothing: their step failed."""
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    return [k for k in keys if k.path[0] == "raw" and k not in materialized]


def stale_since(settings: Settings, calendar: list[dt.date], keys: list[dg.AssetKey]) -> list[str]:
    """For each raw dataset, the day its data stops: the trading day after its last."""
    import duckdb

    lines = []
    with duckdb.connect(str(settings.db_path), read_only=True) as con:
        for key in keys:
            function = key.path[-1]
            if not DATASETS[function].partitioned:
                lines.append(f"{function}: not refreshed (the copy loaded before is kept)")
                continue
            try:
                last = con.execute(f"select max(trade_date) from raw.{function}").fetchone()[0]
            except duckdb.CatalogException:
                last = None
            since = next((d for d in calendar if last is None or d > last), None)
            lines.append(
                f"{function}: stale since {since} (last day loaded: {last})"
                if last
                else f"{function}: nothing loaded yet"
            )
    return lines


_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")


def lock_holder(message: str) -> tuple[int, str] | None:
    """(PID, command line) of the process DuckDB names as holding the warehouse's lock."""
    match = _LOCK_HOLDER.search(message)
    if not match:
        return None
    pid = int(match["pid"])
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        command = match["program"]
    return pid, command or match["program"]


def holder_advice(command: str, settings: Settings) -> str:
    """What the process holding the warehouse is, from its command line, and what to do."""
    words = command.split()
    programs = {Path(word).name for word in words[:2]}  # `dbt …` or `python …/bin/dbt …`
    if "dbt" in programs:
        return (
            "a dbt build, of a refresh's dbt step (it finishes even when the refresh's own "
            "process was killed) or of `margin-wh dbt`: wait for it to finish"
        )
    if any(name in command for name in ("margin-wh", "margin_wh", "dagster")):
        return "another refresh (or the Dagster UI running one): wait for it to finish"
    return (
        "a reader, e.g. a BI tool or a notebook: readers should open the published "
        f"snapshot {settings.publish_dir / 'margin_warehouse.duckdb'}, which never "
        "blocks a refresh; close it on the warehouse"
    )


# A killed refresh's dbt step finishes on its own, usually within minutes: a refresh
# started meanwhile waits for it (saying so) this long before giving up.
WAIT_FOR_DBT_S = 900


def ensure_warehouse_free(settings: Settings, wait_for_dbt_s: float = WAIT_FOR_DBT_S) -> None:
    """Fail at once, naming the holder, when another process holds the warehouse: DuckDB
    allows one writer (or readers only) per file, and a run would otherwise retry in
    silence before failing with DuckDB's lock error. A dbt build holding it is waited
    for, with a message, up to `wait_for_dbt_s`."""
    import time

    import duckdb

    if not settings.db_path.exists():
        return
    deadline = time.monotonic() + wait_for_dbt_s
    said = None
    while True:
        try:
            duckdb.connect(str(settings.db_path)).close()
            return
        except duckdb.IOException as error:
            holder = lock_holder(str(error))
            if holder is None:
                raise
            pid, command = holder
            what = holder_advice(command, settings)
            if not what.startswith("a dbt build") or time.monotonic() > deadline:
                raise RefreshError(
                    f"the warehouse {settings.db_path} is held by process {pid} ({command}): "
                    f"{what}, then run the refresh again"
                ) from None
            if said != pid:
                print(f"waiting for process {pid} ({command}), {what} (at most "
                      f"{wait_for_dbt_s / 60:.0f} min)", flush=True)  # fmt: skip
                said = pid
            time.sleep(1)


def refresh(
    settings: Settings,
    start: dt.date,
    end: dt.date,
    instance: dg.DagsterInstance,
    raw_only: bool = False,
    defs: dg.Definitions | None = None,
    publish: bool = True,
    refetch: bool = False,
) -> RefreshResult:
    """Load every raw dataset for the trading days in [start, end], then build the models
    (and, unless publish=False, the BI publication: see `publish_run`).

    Calls an earlier run already landed are not made again unless `refetch`. When a raw
    dataset fails (its host down, a frame refused), the models that do not read it are
    still built, in a second run, and published; the ones that do keep their last good
    state; and the refresh still fails, naming the stale datasets and since which day.
    """
    ensure_warehouse_free(settings)
    for run_id in fail_runs_of_dead_processes(instance):
        print(f"note: run {run_id} was left STARTED by a process that is gone: marked failed")
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
    graph = defs.resolve_asset_graph()
    keys = list(selection.resolve(graph))
    tags = {
        RANGE_START_TAG: partition_key(loadable[0]),
        RANGE_END_TAG: partition_key(loadable[-1]),
        **({REFETCH_TAG: "true"} if refetch else {}),
    }
    run = _run(job, instance, asset_selection=keys, tags=tags)
    run_ids.append(run.run_id)
    if not run.success:
        failures = _failures(run)
        failed_raw = _unmaterialized_raw(run, keys)
        if failed_raw and not raw_only:
            # the blast radius: build what does not read the failed datasets, and publish
            rest_keys = rest_after_failed_sources(keys, failed_raw, graph)
            if rest_keys:
                second = _run(job, instance, asset_selection=rest_keys, tags=tags)
                run_ids.append(second.run_id)
                if not second.success:
                    failures += _failures(second)
        stale = stale_since(settings, calendar, failed_raw) if failed_raw else []
        raise RefreshError(
            "run failed:\n" + "\n".join(failures)
            + ("\nstale datasets (the models that read them keep their last good state; "
               "the rest were built and published):\n  " + "\n  ".join(stale) if stale else "")
        )  # fmt: skip
    return RefreshResult(loadable[0], loadable[-1], len(loadable), tuple(run_ids))


def estimate_refresh(
    settings: Settings, start: dt.date, end: dt.date, refetch: bool = False
) -> tuple[list, list[str]]:
    """The cost of `refresh(settings, start, end)` per dataset, from the landing zone and
    the warehouse as they are (read-only), and notes on what is estimated. No data call."""
    import duckdb

    from margin_wh.raw.cost import refresh_cost
    from margin_wh.sources import get_source
    from margin_wh.sources.akshare_source import FUNCTION_HOSTS, MIN_INTERVAL_S

    notes = []
    calendar = load_calendar(settings.landing_dir)
    if not calendar or calendar[-1] < end:
        notes.append("no trading calendar landed up to the end yet: weekdays stand for trading days")
        calendar = sorted(
            set(calendar)
            | {start + dt.timedelta(days=i) for i in range((end - start).days + 1)
               if (start + dt.timedelta(days=i)).weekday() < 5}
        )  # fmt: skip
    in_range = trading_days_between(calendar, start, end)
    loadable = set(publishable_days(calendar, settings, shanghai_today()))
    days = [d for d in in_range if d in loadable]
    if len(days) < len(in_range):
        notes.append(
            f"{len(in_range) - len(days)} trading day(s) of the range are not loadable: before "
            f"MARGIN_WH_HISTORY_START ({settings.history_start}) or not published yet"
        )
    intervals = MIN_INTERVAL_S if settings.source == "akshare" else {}
    source = get_source(settings)
    if settings.db_path.exists():
        try:
            con = duckdb.connect(str(settings.db_path), read_only=True)
        except duckdb.IOException as error:  # a refresh holds the warehouse
            notes.append(f"the warehouse is in use ({error}): counted as empty")
            con = duckdb.connect()
    else:
        con = duckdb.connect()
    with con:
        costs = refresh_cost(days, calendar, con, source, settings.landing_dir, FUNCTION_HOSTS,
                             intervals, refetch)  # fmt: skip
    notes += [f"{c.function}: {c.estimated}" for c in costs if c.estimated]
    return costs, notes


def publish_run(settings: Settings, instance: dg.DagsterInstance, defs: dg.Definitions | None = None) -> str:
    """Materialize the BI publication (snapshot, Parquet, report) from the warehouse as it is."""
    defs = defs or build_definitions(settings)
    job = defs.resolve_job_def(REFRESH_JOB_NAME)
    keys = list(dg.AssetSelection.groups(PUBLISH_GROUP).resolve(defs.resolve_asset_graph()))
    return _execute(job, instance, asset_selection=keys).run_id
