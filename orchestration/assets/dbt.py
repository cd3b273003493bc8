"""dbt models as Dagster assets, in three steps so one run goes raw -> marts in order
(each step runs dbt in the step's process on a manifest parsed once: dbt_inprocess.py):

- `dbt_upstream`: seeds, staging and intermediate views (cheap, unpartitioned);
- `dbt_daily_marts`: incremental models, partitioned by trading day: a run builds only
  its partition range, passed to dbt as the vars start_date / end_date (one dbt
  invocation per run, however many days: BackfillPolicy.single_run);
- `dbt_history_marts`: small marts over the whole history (policy-event windows).
dbt tests become asset checks on the models they test. A daily or ranged run leaves the
reference nodes (seeds and what is built from them alone) out of its selection while
their definitions are unchanged since they were built: orchestration/dbt_reference.py.
"""


import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtProject,
    dbt_assets,
)

from margin_wh.config import DBT_PROJECT_DIR, REPO_ROOT, Settings
from orchestration import dbt_reference
from orchestration.assets.raw import DUCKDB_WRITER_POOL, OWNERS
from orchestration.dbt_inprocess import parsed_manifest, stream_dbt, unique_target_path
from orchestration.partitions import TRADING_DAYS, partition_window
from orchestration.resources import WarehouseDuckDB, WarehouseResource, dbt_cli

DBT_PROJECT = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)

DAILY = "config.materialized:incremental"
DBT_STEPS = ("dbt_upstream", "dbt_daily_marts", "dbt_history_marts")
SOURCES_MTIME_TAG = "margin_wh/dbt_sources_mtime"
UPSTREAM = "resource_type:seed tag:layer_staging tag:layer_intermediate"
HISTORY = "tag:layer_marts"


def _newest_source_mtime() -> float:
    roots = [REPO_ROOT / "models", REPO_ROOT / "seeds", DBT_PROJECT_DIR / "macros",
             DBT_PROJECT_DIR / "tests"]
    files = [DBT_PROJECT_DIR / "dbt_project.yml"]
    for root in roots:
        if root.exists():
            files += [p for p in root.rglob("*") if p.is_file()]
    return max(p.stat().st_mtime for p in files)


def ensure_manifest(settings: Settings) -> Path:
    """Parse the dbt project when its manifest is missing or older than its files."""
    manifest = DBT_PROJECT.manifest_path
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


def window_vars(start: str, end: str) -> str:
    return json.dumps({"start_date": start, "end_date": end})


def run_window(context: dg.AssetExecutionContext) -> tuple[str, str] | None:
    """The run's trading-day window (first, last partition), or None outside a
    partitioned run (an unpartitioned step inside a ranged run still sees it)."""
    tags = context.run.tags
    start = tags.get("dagster/asset_partition_range_start") or tags.get("dagster/partition")
    end = tags.get("dagster/asset_partition_range_end") or tags.get("dagster/partition")
    return (start, end) if start and end else None


def run_dbt(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    duckdb: WarehouseDuckDB,
    args: list[str],
):
    """`dbt <args>` on the warehouse, in this process (see orchestration/dbt_inprocess.py),
    on the run's DuckDB instance (WarehouseDuckDB). After building the whole step, record
    its reference nodes' fingerprint (dbt_reference)."""
    settings = warehouse.settings
    duckdb.open_run_connection()
    # every asset and every check of the step (as dagster-dbt tells a subset)
    step = context.assets_def
    whole_step = (
        step.keys_by_output_name == step.node_keys_by_output_name
        and step.check_specs_by_output_name == step.node_check_specs_by_output_name
    )
    with settings.dbt_environ():
        manifest = parsed_manifest(DBT_PROJECT, _newest_source_mtime())
        target = unique_target_path(DBT_PROJECT, context)
        yield from stream_dbt(context, args, DBT_PROJECT, manifest, target)
    if whole_step:
        reference = dbt_reference.step_reference(step)
        if reference.asset_keys:
            dbt_reference.record_state(settings.db_path, reference.step, reference.fingerprint)


def dbt_steps(assets: Iterable[dg.AssetsDefinition]) -> list[dg.AssetsDefinition]:
    """The dbt steps' asset definitions among `assets`."""
    return [a for a in assets if a.node_def.name in DBT_STEPS]


def reference_keys_to_leave_out(steps: Sequence[dg.AssetsDefinition], db_path: Path) -> set[dg.AssetKey]:
    """The reference assets a run of these steps need not build (dbt_reference.py). None
    when a project file changed after the steps were defined (their manifest is older
    than the project: a long-running `dagster dev` before a reload), and none when the
    question cannot be answered: then a run builds everything, which is always correct."""
    try:
        loaded = min(float(step.node_def.tags.get(SOURCES_MTIME_TAG, 0)) for step in steps)
        if _newest_source_mtime() > loaded:
            return set()
        return dbt_reference.current_reference_keys(steps, db_path)
    except Exception as error:  # noqa: BLE001 - building everything is the safe answer
        logging.getLogger(__name__).warning(
            f"building the reference nodes too: could not tell whether they are current ({error})"
        )
        return set()


def build_dbt_assets(manifest: Path) -> list[dg.AssetsDefinition]:
    # when the project's files were as this manifest has them (reference_keys_to_leave_out)
    loaded = {SOURCES_MTIME_TAG: repr(_newest_source_mtime())}

    @dbt_assets(
        manifest=manifest,
        select=UPSTREAM,
        exclude=DAILY,
        name="dbt_upstream",
        dagster_dbt_translator=TRANSLATOR,
        pool=DUCKDB_WRITER_POOL,
        project=DBT_PROJECT,
        op_tags=loaded,
    )
    def dbt_upstream(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, duckdb: WarehouseDuckDB
    ):
        # Unpartitioned, but inside a ranged run its tests need only check the run's
        # days (the views' other days are what earlier runs already tested).
        window = run_window(context)
        # "--exclude DAILY" again: a subset (reference nodes left out) is a list of nodes,
        # and dbt's eager test selection would add the daily models' tests that also read
        # a view here (e.g. relationships to the calendar) before those models are built
        args = ["build", "--exclude", DAILY] + (["--vars", window_vars(*window)] if window else [])
        yield from run_dbt(context, warehouse, duckdb, args)

    @dbt_assets(
        manifest=manifest,
        select=DAILY,
        name="dbt_daily_marts",
        dagster_dbt_translator=TRANSLATOR,
        partitions_def=TRADING_DAYS,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=DUCKDB_WRITER_POOL,
        project=DBT_PROJECT,
        op_tags=loaded,
    )
    def dbt_daily_marts(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, duckdb: WarehouseDuckDB
    ):
        start, end = partition_window(context.partition_key_range)
        args = ["build", "--vars", window_vars(start.isoformat(), end.isoformat())]
        yield from run_dbt(context, warehouse, duckdb, args)

    @dbt_assets(
        manifest=manifest,
        select=HISTORY,
        exclude=DAILY,
        name="dbt_history_marts",
        dagster_dbt_translator=TRANSLATOR,
        pool=DUCKDB_WRITER_POOL,
        project=DBT_PROJECT,
        op_tags=loaded,
    )
    def dbt_history_marts(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, duckdb: WarehouseDuckDB
    ):
        yield from run_dbt(context, warehouse, duckdb, ["build", "--exclude", DAILY])  # as upstream

    return [dbt_upstream, dbt_daily_marts, dbt_history_marts]



