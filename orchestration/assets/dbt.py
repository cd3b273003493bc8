"""dbt models as Dagster assets, through dagster-dbt's `DbtCliResource`, in three steps so
one run goes raw -> marts in order:

- `dbt_upstream`: seeds, staging and intermediate views (cheap, unpartitioned; rebuilt
  every run, so a changed seed or view definition is always in place);
- `dbt_daily_marts`: incremental models, partitioned by trading day: a run builds only
  its partition range (one dbt invocation per run, however many days:
  BackfillPolicy.single_run);
- `dbt_history_marts`: small marts over the whole history (policy-event windows).

dbt tests become asset checks on the models they test. Each step is
`dbt.cli([...], context=context).stream()`: dagster-dbt turns dbt's structured log into
per-model events as dbt finishes each node.

The run's trading-day window reaches dbt as the environment variables
MARGIN_WH_WINDOW_START / MARGIN_WH_WINDOW_END (macros/run_window.sql), not as `--vars`:
dbt re-parses the whole project whenever `--vars` change, which a daily run's window does
every day, while a changed environment variable re-parses only the files that read it.
"""

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator, Mapping
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
from orchestration.partitions import TRADING_DAYS, partition_window, run_partition_keys
from orchestration.resources import WarehouseResource, dbt_cli
from orchestration.warehouse_claim import held_message, lock_holder, open_warehouse

DBT_PROJECT = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)

DAILY = "config.materialized:incremental"
DBT_STEPS = ("dbt_upstream", "dbt_daily_marts", "dbt_history_marts")
UPSTREAM = "resource_type:seed tag:layer_staging tag:layer_intermediate"
HISTORY = "tag:layer_marts"
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
            with settings.dbt_environ():
                dbt_cli().cli(["parse", "--quiet"], target_path=DBT_PROJECT.target_path).wait()
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


@contextlib.contextmanager
def dbt_environment(settings: Settings, window: tuple[str, str] | None) -> Iterator[None]:
    """MARGIN_WH_DB and the run window in the environment dbt is started with."""
    variables = {WINDOW_START_ENV: window[0] if window else "",
                 WINDOW_END_ENV: window[1] if window else ""}  # fmt: skip
    before = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        with settings.dbt_environ():
            yield
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


def run_dbt(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
    args: list[str],
    window: tuple[str, str] | None,
):
    """The dbt step: `dbt <args>`, its events streamed to Dagster as dbt finishes each node.

    dbt builds everything a failed node does not feed, then the step fails naming the
    node and dbt's reason; the refresh (or the failure sensor) then builds and publishes
    what the failure spares (orchestration/schedules.py)."""
    settings = warehouse.settings
    target = step_target_path(settings, context.op_execution_context.op.name)
    # a reader that opened the warehouse since the last step is named now, not by dbt
    open_warehouse(settings.db_path, snapshot_path(settings.publish_dir)).close()
    started = time.time() - 1  # run_results.json's mtime, on a clock of whole seconds at worst
    with dbt_environment(settings, window):
        invocation = dbt.cli(args, context=context, target_path=target, raise_on_error=False)
        yield from invocation.stream()
    error = invocation.get_error()
    if error is not None:
        raise dbt_failure(invocation, error, started, settings)


def build_dbt_assets(manifest: Path) -> list[dg.AssetsDefinition]:
    common = dict(
        manifest=manifest,
        dagster_dbt_translator=TRANSLATOR,
        pool=DUCKDB_WRITER_POOL,
        project=DBT_PROJECT,
    )

    @dbt_assets(select=UPSTREAM, exclude=DAILY, name="dbt_upstream", **common)
    def dbt_upstream(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
        # Unpartitioned, but inside a ranged run its tests need only check the run's
        # days (the views' other days are what earlier runs already tested).
        # "--exclude DAILY" again: dbt's eager test selection would add the daily models'
        # tests that also read a view here (e.g. relationships to the calendar) before
        # those models are built.
        yield from run_dbt(context, dbt, warehouse, ["build", "--exclude", DAILY], run_window(context))

    @dbt_assets(
        select=DAILY,
        name="dbt_daily_marts",
        partitions_def=TRADING_DAYS,
        backfill_policy=dg.BackfillPolicy.single_run(),
        **common,
    )
    def dbt_daily_marts(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
        start, end = partition_window(context.partition_key_range)
        yield from run_dbt(context, dbt, warehouse, ["build"], (start.isoformat(), end.isoformat()))

    @dbt_assets(select=HISTORY, exclude=DAILY, name="dbt_history_marts", **common)
    def dbt_history_marts(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
        yield from run_dbt(context, dbt, warehouse, ["build", "--exclude", DAILY], None)  # as upstream

    return [dbt_upstream, dbt_daily_marts, dbt_history_marts]


def dbt_steps(assets) -> list[dg.AssetsDefinition]:
    """The dbt steps' asset definitions among `assets`."""
    return [a for a in assets if a.node_def.name in DBT_STEPS]
