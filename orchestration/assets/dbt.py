"""The dbt project as Dagster assets, through dagster-dbt's `DbtCliResource`: one
`@dbt_assets` definition, so a run builds every model it selects in one dbt process
(seeds, staging and intermediate views, the incremental marts, the whole-history marts),
in dbt's own order.

The models are unpartitioned assets: the marts are whole-history tables that dbt builds
incrementally, and the raw assets' trading-day partitions already record which days were
loaded. A ranged run of the refresh job materializes each mart once; its metadata says the
mart's last trading day, its rows and the run's window (the days the run changed).

dbt tests become asset checks on the models they test; dbt's unit tests are the
developers' (tests/), not every run's. The step is `dbt.cli([...], context=context)
.stream()`: dagster-dbt turns dbt's structured log into per-model events as dbt finishes
each node.

The run's trading-day window reaches dbt as the environment variables
MARGIN_WH_WINDOW_START / MARGIN_WH_WINDOW_END (macros/run_window.sql), not as `--vars`:
dbt re-parses the whole project whenever `--vars` change, which a daily run's window does
every day, while a changed environment variable re-parses only the files that read it.
`DbtCliResource` starts dbt with a copy of this process's environment and takes no
environment of its own, so the two variables are set for the instant dbt is started.
"""


import contextlib
import fcntl
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliInvocation,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from margin_wh.config import DBT_PROJECT_DIR, REPO_ROOT, Settings
from margin_wh.publish.snapshot import snapshot_path
from orchestration.assets.raw import DUCKDB_WRITER_POOL, OWNERS
from orchestration.partitions import run_partition_keys
from orchestration.resources import WarehouseResource, dbt_cli
from orchestration.warehouse_claim import held_message, lock_holder, open_warehouse

DBT_PROJECT = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)

DBT_STEP = "dbt_models"
# dbt's unit tests check the SQL of the rules against fixed inputs: the developers' and
# CI's (tests/test_dbt_unit_tests.py), not every refresh's.
BUILD = ["build", "--exclude", "resource_type:unit_test"]
WINDOW_START_ENV, WINDOW_END_ENV = "MARGIN_WH_WINDOW_START", "MARGIN_WH_WINDOW_END"


def _newest_source_mtime() -> float:
    roots = [REPO_ROOT / "models", REPO_ROOT / "seeds", DBT_PROJECT_DIR / "macros",
             DBT_PROJECT_DIR / "tests"]  # fmt: skip
    files = [DBT_PROJECT_DIR / "dbt_project.yml"]
    for root in roots:
        if root.exists():
            files += [p for p in root.rglob("*") if p.is_file()]
    return max(p.stat().st_mtime for p in files)


def ensure_manifest(settings: Settings) -> Path:
    """Parse the dbt project when its manifest is missing or older than its files (what
    `DbtProject.prepare_if_dev` does under `dagster dev`, for the CLI and the tests too).
    One process parses at a time: after a model change, the UI and a refresh (or two
    test workers) started together would otherwise write the same target directory."""
    manifest = DBT_PROJECT.manifest_path
    manifest.parent.mkdir(parents=True, exist_ok=True)
    with open(manifest.parent / ".parse.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not manifest.exists() or manifest.stat().st_mtime < _newest_source_mtime():
            start_dbt(dbt_cli(), ["parse", "--quiet"], dbt_environment(settings, None),
                      target_path=DBT_PROJECT.target_path).wait()  # fmt: skip
    return manifest


class WarehouseDbtTranslator(DagsterDbtTranslator):
    """Models keyed by schema (marts/fct_…), sources onto the raw assets (raw/<function>)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey(["raw", dbt_resource_props["name"]])
        return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return dbt_resource_props["schema"]

    def get_owners(self, dbt_resource_props: Mapping[str, Any]):
        return OWNERS


TRANSLATOR = WarehouseDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


def run_window(context: dg.AssetExecutionContext) -> tuple[str, str] | None:
    """The run's trading-day window (first, last partition), or None outside a
    partitioned run (an unpartitioned step inside a ranged run still sees it)."""
    return run_partition_keys(context.run.tags)


def dbt_environment(settings: Settings, window: tuple[str, str] | None) -> dict[str, str]:
    """What dbt reads from its environment: the warehouse file (profiles.yml), the run's
    trading-day window (macros/run_window.sql; empty both: a full build), and which tests
    a subset of the models brings with it.

    A run that leaves models out (a raw dataset failed, so the models it feeds keep their
    last good state) selects the rest by name, and dbt's default ("eager") selection then
    also runs every test with one selected parent: a relationship test of a left-out model
    against the trading calendar runs on a table this run did not build, or, on a new
    warehouse, fails on one that does not exist. "buildable" runs a test only when each
    of its parents is built by the run or upstream of what it builds. dagster-dbt reads
    DBT_INDIRECT_SELECTION from the environment and passes it on to dbt.

    dbt.log at dbt's `info` level: a line per model and test, what `--verbose` shows. At
    its default (`debug`) dbt also writes every SQL statement there, megabytes a run that
    target/run/ already holds, and the writing is a share of a daily run's dbt time."""
    return {
        "MARGIN_WH_DB": str(settings.db_path),
        WINDOW_START_ENV: window[0] if window else "",
        WINDOW_END_ENV: window[1] if window else "",
        "DBT_INDIRECT_SELECTION": "buildable",
        "DBT_LOG_LEVEL_FILE": "info",
    }


def start_dbt(dbt: DbtCliResource, args: list[str], environment: Mapping[str, str], **kwargs) -> DbtCliInvocation:
    """`dbt.cli(args, **kwargs)`, the dbt process started with `environment` added to this
    process's. dagster-dbt copies `os.environ` when it starts dbt and takes no environment
    of its own; `--vars` would carry the values but re-parse the whole project on every
    new window (BENCHMARKS.md). So the variables are set for the instant dbt is started,
    and this process's environment is as it was when the call returns."""
    before = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    try:
        return dbt.cli(args, **kwargs)
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def step_target_path(settings: Settings, step: str) -> Path:
    """dbt's target directory for a step, beside the warehouse it builds and reused from
    run to run: dbt's partial-parse state is per warehouse (the profile names the file),
    and a daily schedule does not leave a directory of artifacts per run. Steps that
    write share the `duckdb_writer` pool, so one dbt at a time writes here."""
    return settings.db_path.parent / "dbt_target" / step


# dbt's statuses of a node that failed: a model or seed that errored, a test that failed
# at error severity (a warn-severity test's status is "warn": information, not failure).
FAILED_STATUSES = ("error", "fail", "runtime error")


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in str(text or "").splitlines() if line.strip())


def failed_nodes(run_results: Mapping[str, Any], manifest: Mapping[str, Any]) -> list[str]:
    """One line per node dbt failed, from its run_results.json, the model named first:
    `fct_x: <dbt's message>` for a model, `fct_x: test <name> failed: <message>` for a
    test (dbt skips what is built on the model either way); then how many nodes dbt
    skipped after them."""
    nodes = manifest.get("nodes", {})

    def name(unique_id: str | None) -> str:
        return nodes.get(unique_id, {}).get("name") or str(unique_id).rsplit(".", 1)[-1]

    lines, skipped = [], {}
    for result in run_results.get("results", []):
        status, unique_id = result.get("status"), result.get("unique_id")
        node = nodes.get(unique_id, {})
        if status == "skipped":
            kind = node.get("resource_type", "node")
            skipped[kind] = skipped.get(kind, 0) + 1
        if status not in FAILED_STATUSES:
            continue
        if node.get("resource_type") == "test":
            tested = node.get("attached_node") or next(iter(node.get("depends_on", {}).get("nodes", [])), None)
            lines.append(f"{name(tested)}: test {node.get('name')} failed: {_one_line(result.get('message'))}")
        else:
            lines.append(f"{name(unique_id)}: {_one_line(result.get('message'))}")
    if lines and skipped:
        counts = ", ".join(f"{n} {kind}(s)" for kind, n in sorted(skipped.items()))
        lines.append(f"(dbt skipped what depends on them: {counts}; skipped models keep their last good state)")
    return lines


def dbt_failure(invocation: DbtCliInvocation, error: Exception, started: float, settings: Settings) -> dg.Failure:
    """The step's failure, saying first what failed and why: the failed models and tests
    from this invocation's run_results.json, or the process holding the warehouse when
    dbt could not open it; dagster-dbt's own error (the command, dbt's log) after."""
    lines: list[str] = []
    results_path = invocation.target_path / "run_results.json"
    if results_path.exists() and results_path.stat().st_mtime >= started:  # not a previous run's
        lines = failed_nodes(invocation.get_artifact("run_results.json"), invocation.manifest)
    holder = lock_holder(str(error))
    if holder is not None:
        lines.insert(0, held_message(settings.db_path, holder, snapshot_path(settings.publish_dir),
                                     "then run the step again"))  # fmt: skip
    return dg.Failure(
        description="\n".join([*lines, str(error)]) if lines else str(error),
        metadata={"failed": dg.MetadataValue.md("\n".join(f"- {line}" for line in lines) or "-")},
    )


# A run tag: where dbt's own log (a line per node) goes. Unset, it goes to the step's
# stdout, which the UI shows as the step's logs; `margin-wh refresh` without --verbose
# sets "file", and the terminal shows one line per step instead (dbt writes the whole
# log to dbt.log in the step's target directory either way).
DBT_LOG_TAG = "margin_wh/dbt_log"


def mart_state(con, table: str) -> dict[str, dg.MetadataValue]:
    """A mart's rows and the last trading day it holds a row of (for the marts of events,
    list changes and signals, the day of the last event), as the materialization's
    metadata."""
    import duckdb

    rows = con.execute(f"select count(*) from {table}").fetchone()[0]
    state = {"rows": dg.MetadataValue.int(rows)}
    try:
        last = con.execute(f"select max(trade_date) from {table}").fetchone()[0]
    except duckdb.BinderException:  # a mart without a trading day (the policy events)
        return state
    if last is not None:
        state["last_trade_date"] = dg.MetadataValue.text(str(last))
    return state


def with_mart_state(
    context: dg.AssetExecutionContext, events: list, db_path: Path, window: tuple[str, str] | None
):
    """The marts' events of a dbt step, their materializations saying the mart's last
    trade date, its rows and the days the run changed. Read after dbt has exited: while
    it runs, dbt holds the warehouse file."""
    import duckdb

    changed = f"{window[0]}..{window[1]}" if window else "all (a full build)"
    run = {"days_changed": dg.MetadataValue.text(changed)}
    with duckdb.connect(str(db_path), read_only=True) as con:
        for event in events:
            if isinstance(event, dg.Output):
                key = context.asset_key_for_output(event.output_name)
                context.add_output_metadata({**run, **mart_state(con, ".".join(key.path))},
                                            output_name=event.output_name)  # fmt: skip
            yield event


@contextlib.contextmanager
def _dbt_stopped_on_error(invocation: DbtCliInvocation):
    """Within it, an error in this process (or the step stopped) stops the dbt process
    too: a dbt left running with no one reading its output blocks on a full pipe and
    holds the warehouse file until it is killed."""
    try:
        yield
    except BaseException:
        if invocation.process.poll() is None:
            invocation.process.terminate()
            invocation.process.wait(timeout=60)
        raise


def run_dbt(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
    args: list[str],
    window: tuple[str, str] | None,
):
    """The dbt step: `dbt <args>`, its events streamed to Dagster as dbt finishes each node
    (a mart's once dbt has exited, with its rows and last day: `with_mart_state`).

    dbt builds everything a failed node does not feed, then the step fails naming the
    node and dbt's reason; the refresh (or the failure sensor) then publishes what the
    failure spares (orchestration/schedules.py)."""
    settings = warehouse.settings
    target = step_target_path(settings, DBT_STEP)
    # a reader that opened the warehouse since the last step is named now, not by dbt
    open_warehouse(settings.db_path, snapshot_path(settings.publish_dir)).close()
    started = time.time() - 1  # run_results.json's mtime, on a clock of whole seconds at worst
    environment = {**dbt_environment(settings, window), "DBT_USE_COLORS": str(sys.stdout.isatty()).lower()}
    invocation = start_dbt(dbt, args, environment, context=context, target_path=target, raise_on_error=False)
    marts: list = []
    to_file = context.run.tags.get(DBT_LOG_TAG) == "file"
    with (
        open(os.devnull, "w") if to_file else contextlib.nullcontext(sys.stdout) as log,
        contextlib.redirect_stdout(log),
        _dbt_stopped_on_error(invocation),
    ):
        for event in invocation.stream():
            key = getattr(event, "asset_key", None) or (
                context.asset_key_for_output(event.output_name) if isinstance(event, dg.Output) else None
            )
            if key is not None and key.path[0] == "marts":
                marts.append(event)  # with its checks, in order, once dbt lets go of the file
            else:
                yield event
    yield from with_mart_state(context, marts, settings.db_path, window)
    error = invocation.get_error()
    if error is not None:
        raise dbt_failure(invocation, error, started, settings)


def build_dbt_assets(manifest: Path) -> list[dg.AssetsDefinition]:
    @dbt_assets(
        manifest=manifest,
        name=DBT_STEP,
        dagster_dbt_translator=TRANSLATOR,
        pool=DUCKDB_WRITER_POOL,
        project=DBT_PROJECT,
    )
    def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
        # Inside a ranged run of the refresh job, dbt builds and tests the run's trading
        # days (the incremental marts' window); launched on its own, a full build.
        yield from run_dbt(context, dbt, warehouse, BUILD, run_window(context))

    return [dbt_models]


def dbt_steps(assets) -> list[dg.AssetsDefinition]:
    """The dbt step's asset definitions among `assets`."""
    return [a for a in assets if a.node_def.name == DBT_STEP]
