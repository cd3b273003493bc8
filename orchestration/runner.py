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
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import dagster as dg

from margin_wh.calendar import (
    CALENDAR_FUNCTION,
    shanghai_today,
    trading_days_between,
    trading_days_text,
)
from margin_wh.config import Settings
from margin_wh.publish.snapshot import snapshot_path
from margin_wh.raw.landed_calendar import load_calendar
from margin_wh.raw.staleness import stale_since_lines
from orchestration import warehouse_claim
from orchestration.assets.dbt import DBT_LOG_TAG
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
from orchestration.schedules import (
    REFRESH_JOB_NAME,
    failed_assets,
    failed_on_held_warehouse,
    rest_of_failed_run,
    step_failure_lines,
)
from orchestration.warehouse_claim import (
    WAIT_FOR_DBT_S,
    WarehouseBusyError,
    claim_warehouse,
    wait_for_warehouse,
)

RUN_CONFIG = {"loggers": {"progress": {}}}


class RefreshError(RuntimeError):
    pass


@dataclass(frozen=True)
class RefreshResult:
    first_day: dt.date
    last_day: dt.date
    trading_days: int
    run_ids: tuple[str, ...]


def _failures(result: dg.ExecutionResult) -> list[str]:
    return step_failure_lines(result.all_events) or ["(see the run in the Dagster UI)"]


# Which process runs a CLI run: a run whose process is gone (killed, a power cut) is
# marked failed by the next refresh, freeing the pool slots it held.
PID_TAG, HOST_TAG = "margin_wh/pid", "margin_wh/host"


# The Definitions of each warehouse this process runs, built once.
_DEFINITIONS: dict[Settings, dg.Definitions] = {}


def definitions_for(settings: Settings, defs: dg.Definitions | None = None) -> dg.Definitions:
    """The Definitions of `settings`' warehouse: `defs` when given (built by
    `build_definitions(settings)`), else those built before in this process, else new."""
    if defs is not None:
        _DEFINITIONS[settings] = defs
    if settings not in _DEFINITIONS:
        _DEFINITIONS[settings] = build_definitions(settings)
    return _DEFINITIONS[settings]


def refresh_job(settings: dict[str, str]) -> dg.JobDefinition:
    """The refresh job of the warehouse `settings` (`Settings.as_env`) describe: what
    `dg.build_reconstructable_job` names, so a run records where its job comes from."""
    return definitions_for(Settings.from_env(settings)).resolve_job_def(REFRESH_JOB_NAME)


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
    settings: Settings,
    instance: dg.DagsterInstance,
    asset_selection: list[dg.AssetKey] | None = None,
    tags: dict[str, str] | None = None,
) -> dg.ExecutionResult:
    """One run of the refresh job (its `asset_selection`) in this process, as Dagster's own
    `dagster asset materialize` runs one (`dg.execute_job` of a reconstructable job),
    tagged with the process that runs it (PID_TAG, HOST_TAG)."""
    job = dg.build_reconstructable_job(__name__, refresh_job.__name__,
                                       reconstructable_kwargs={"settings": settings.as_env()})  # fmt: skip
    tags = {**(tags or {}), PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}
    with planned_events_per_range(tags):
        return dg.execute_job(job, instance, run_config=RUN_CONFIG, tags=tags, asset_selection=asset_selection)


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


def _execute(settings: Settings, instance: dg.DagsterInstance, **kwargs) -> dg.ExecutionResult:
    result = _run(settings, instance, **kwargs)
    if not result.success:
        raise RefreshError("run failed:\n" + "\n".join(_failures(result)))
    return result


def _unmaterialized_raw(result: dg.ExecutionResult, keys: list[dg.AssetKey]) -> list[dg.AssetKey]:
    """The raw assets of a run that produced nothing: their step failed."""
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    return [k for k in keys if k.path[0] == "raw" and k not in materialized]


def models_kept(settings: Settings, keys: list[dg.AssetKey]) -> list[str]:
    """For each model a run did not rebuild, its table and the last day it holds."""
    import duckdb

    lines = []
    with duckdb.connect(str(settings.db_path), read_only=True) as con:
        for key in keys:
            table = ".".join(key.path)
            try:
                last = con.execute(f"select max(trade_date) from {table}").fetchone()[0]
            except (duckdb.CatalogException, duckdb.BinderException):  # not built yet; no trade_date
                lines.append(table)
                continue
            lines.append(f"{table}: last day {last}")
    return lines


def ensure_warehouse_free(settings: Settings, wait_for_dbt_s: float = WAIT_FOR_DBT_S) -> None:
    """Fail at once, naming the holder, when another process holds the warehouse file: a
    run would otherwise fail in its first step. A dbt build holding it (the dbt step of a
    killed refresh) is waited for, with a message, up to `wait_for_dbt_s`."""
    try:
        wait_for_warehouse(settings.db_path, snapshot_path(settings.publish_dir), wait_for_dbt_s,
                           say=lambda line: print(line, flush=True))  # fmt: skip
    except WarehouseBusyError as error:
        raise RefreshError(str(error)) from None


def holder_advice(command: str, settings: Settings) -> str:
    """What the process holding the warehouse is, from its command line, and what to do."""
    return warehouse_claim.holder_advice(command, snapshot_path(settings.publish_dir))


@contextlib.contextmanager
def warehouse_claimed(settings: Settings) -> Iterator[None]:
    """The warehouse's claim, held by this process within the block (its runs re-enter
    it), or RefreshError at once naming the run and process holding it."""
    with contextlib.ExitStack() as claim:
        try:
            claim.enter_context(claim_warehouse(settings.db_path))
        except WarehouseBusyError as error:
            raise RefreshError(str(error)) from None
        yield


def refresh(
    settings: Settings,
    start: dt.date,
    end: dt.date,
    instance: dg.DagsterInstance,
    raw_only: bool = False,
    defs: dg.Definitions | None = None,
    publish: bool = True,
    refetch: bool = False,
    dbt_log_to_stdout: bool = True,
) -> RefreshResult:
    """Load every raw dataset for the trading days in [start, end], then build the models
    (and, unless publish=False, the BI publication: see `publish_run`).

    Calls an earlier run already landed are not made again unless `refetch`. When a raw
    dataset fails (its host down, a frame refused) or a dbt model does (an error, a failing
    error-severity test), the models that do not read it are still built, in a second
    run, and published; it and the models built on it keep their last good state; and the
    refresh still fails, naming what failed and why first, then what is stale.

    The refresh holds the warehouse's claim from start to end: another refresh or run
    started meanwhile fails at once, naming this one.
    """
    with warehouse_claimed(settings):
        ensure_warehouse_free(settings)
        return _refresh(settings, start, end, instance, raw_only, defs, publish, refetch, dbt_log_to_stdout)


def _refresh(
    settings: Settings,
    start: dt.date,
    end: dt.date,
    instance: dg.DagsterInstance,
    raw_only: bool,
    defs: dg.Definitions | None,
    publish: bool,
    refetch: bool,
    dbt_log_to_stdout: bool,
) -> RefreshResult:
    for run_id in fail_runs_of_dead_processes(instance):
        print(f"note: run {run_id} was left STARTED by a process that is gone: marked failed")
    defs = definitions_for(settings, defs)
    run_ids: list[str] = []
    calendar = load_calendar(settings.landing_dir)
    calendar_in_run = bool(calendar) and calendar[-1] >= end
    if calendar_in_run:
        try:
            sync_trading_days(instance, publishable_days(calendar, settings, shanghai_today()))
        except ValueError as error:  # partitions only grow forward: say so, not a traceback
            raise RefreshError(str(error)) from error
    else:
        run_ids.append(_execute(settings, instance, asset_selection=[raw_key(CALENDAR_FUNCTION)]).run_id)
        calendar = load_calendar(settings.landing_dir)

    days = trading_days_between(calendar, start, end)
    partitions = set(instance.get_dynamic_partitions(TRADING_DAYS.name))
    loadable = [d for d in days if partition_key(d) in partitions]
    if not loadable:
        raise RefreshError(
            f"no loadable trading day between {start} and {end}: the calendar has "
            f"{trading_days_text(len(days))} there, and days are loadable from "
            f"{settings.history_start} (MARGIN_WH_HISTORY_START) to the last published day"
            + (f" ({settings.demo_end}, the end of the demo market)" if settings.source == "demo" else "")
        )
    if len(loadable) < len(days):
        skipped = sorted(set(days) - set(loadable))
        print(f"note: skipping {trading_days_text(len(skipped))} not loadable yet, e.g. {skipped[:3]}")

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
        **({} if dbt_log_to_stdout else {DBT_LOG_TAG: "file"}),
    }
    run = _run(settings, instance, asset_selection=keys, tags=tags)
    run_ids.append(run.run_id)
    if not run.success:
        failures = _failures(run)
        held = failed_on_held_warehouse(run.all_events)
        if held:  # every step after the first failed on the same holder: name it once
            busy = [line for line in failures if "WarehouseBusyError" in line]
            failures = busy[:1] + [line for line in failures if line not in busy] + (
                [f"({len(busy) - 1} more step(s) failed on the same holder)"] if len(busy) > 1 else []
            )
        outcome = failed_assets(instance, run.run_id)
        failed_raw = _unmaterialized_raw(run, keys)
        failed_models = sorted(k for k in outcome.failed if k.path[0] != "raw")
        if outcome.failed and not raw_only and not held:
            # the blast radius: build what does not read what failed, and publish
            rest_keys = rest_of_failed_run(keys, outcome, graph)
            if rest_keys:
                second = _run(settings, instance, asset_selection=rest_keys, tags=tags)
                run_ids.append(second.run_id)
                if not second.success:
                    failures += _failures(second)
        failed_functions = [k.path[-1] for k in failed_raw]
        stale = stale_since_lines(settings.db_path, calendar, failed_functions, loadable[0]) if failed_raw else []
        kept = models_kept(settings, failed_models)
        spared = "the rest were built and published" if publish else "the rest were built"
        raise RefreshError(
            "run failed:\n" + "\n".join(failures)
            + (f"\nstale datasets (the models that read them keep their last good state; {spared}):\n  "
               + "\n  ".join(stale) if stale else "")
            + (f"\nmodels not rebuilt (they keep their last good state; {spared}):\n  "
               + "\n  ".join(kept) if kept and not raw_only else "")
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
            f"{trading_days_text(len(in_range) - len(days))} of the range not loadable: before "
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
    defs = definitions_for(settings, defs)
    keys = list(dg.AssetSelection.groups(PUBLISH_GROUP).resolve(defs.resolve_asset_graph()))
    with warehouse_claimed(settings):
        return _execute(settings, instance, asset_selection=keys).run_id
