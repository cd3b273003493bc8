"""The Dagster code location: every asset, check, job, schedule and resource, in one place.

`dagster dev -m orchestration.definitions` (or `margin-wh ui`) loads `defs`.
"""

from __future__ import annotations

import warnings

import dagster as dg

from margin_wh.config import Settings
from margin_wh.raw.universe import SNAPSHOTS
from orchestration.assets.dbt import build_dbt_assets, ensure_manifest
from orchestration.assets.publish import build_publish_assets
from orchestration.assets.raw import build_raw_assets, raw_key
from orchestration.checks import build_raw_checks
from orchestration.progress import progress_logger
from orchestration.resources import build_resources
from orchestration.schedules import (
    REFRESH_JOB_NAME,
    SNAPSHOT_JOB_NAME,
    build_daily_schedule,
    build_failure_sensor,
    build_learned_days_sensor,
    build_snapshot_schedule,
)


def build_definitions(settings: Settings) -> dg.Definitions:
    # BackfillPolicy (one run for a range of trading days) is marked beta in Dagster 1.13,
    # which constraints.txt pins: said once here, not once per asset in every run's log.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=dg.BetaWarning)
        return _build_definitions(settings)


# Both jobs write the warehouse: dagster.yaml queues a second run of one warehouse
# behind the first (run tag concurrency), so a schedule's run and a UI launch wait their
# turn instead of failing on the run's claim on the warehouse (orchestration/resources.py).
WAREHOUSE_TAG = "margin_wh/warehouse"


def _build_definitions(settings: Settings) -> dg.Definitions:
    dbt_assets = build_dbt_assets(ensure_manifest(settings))
    job_tags = {"margin_wh/source": settings.source, WAREHOUSE_TAG: str(settings.db_path)}
    refresh_job = dg.define_asset_job(
        REFRESH_JOB_NAME,
        selection=dg.AssetSelection.all(),
        description="Load the raw datasets for a range of trading days and build every model.",
        tags=job_tags,
    )
    snapshot_job = dg.define_asset_job(
        SNAPSHOT_JOB_NAME,
        selection=dg.AssetSelection.assets(*(raw_key(f) for f in SNAPSHOTS)),
        description="Take the market's closing snapshot (close, float market cap) of a trading "
        "day: Eastmoney's, or Sina's (close only) when Eastmoney refuses.",
        tags=job_tags,
    )
    assets = [*build_raw_assets(), *dbt_assets, *build_publish_assets(dbt_assets)]
    # the sensor resolves the asset graph of these Definitions when a run fails
    failure_sensor = build_failure_sensor(refresh_job, lambda: definitions.resolve_asset_graph())
    graph = lambda: definitions.resolve_asset_graph()  # noqa: E731 - resolved once loaded
    definitions = dg.Definitions(
        assets=assets,
        asset_checks=build_raw_checks(),
        jobs=[refresh_job, snapshot_job],
        schedules=[
            build_daily_schedule(settings, refresh_job, graph),
            build_snapshot_schedule(settings, snapshot_job),
        ],
        sensors=[failure_sensor, build_learned_days_sensor(settings, refresh_job, graph)],
        resources=build_resources(settings),
        # Every step of a run in the run's own process, one after another. DuckDB has one
        # writer per file, so the `duckdb_writer` pool runs them one at a time anyway;
        # Dagster's default executor would also start a Python process per step, each
        # loading this code location again (BENCHMARKS.md has what that cost a day's run).
        executor=dg.in_process_executor,
        loggers={"progress": progress_logger},
    )
    return definitions


@dg.definitions
def defs() -> dg.Definitions:
    """Loaded by `dagster dev`; built on load, not on import, from the environment."""
    return build_definitions(Settings.from_env())
