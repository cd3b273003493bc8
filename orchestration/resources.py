"""Resources: the warehouse settings, the DuckDB connection and the dbt CLI."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import dagster as dg
import duckdb
import yaml
from dagster_dbt import DbtCliResource
from dagster_duckdb import DuckDBResource

from margin_wh.calendar import load_calendar
from margin_wh.config import DBT_PROJECT_DIR, Settings
from margin_wh.sources import get_source


class WarehouseResource(dg.ConfigurableResource):
    """Where the warehouse lives and where its data comes from (see margin_wh.config)."""

    db_path: str
    landing_dir: str
    publish_dir: str
    source: str
    history_start: str
    demo_securities: int
    demo_seed: int
    demo_end: str

    @classmethod
    def from_settings(cls, settings: Settings) -> WarehouseResource:
        return cls(
            db_path=str(settings.db_path),
            landing_dir=str(settings.landing_dir),
            publish_dir=str(settings.publish_dir),
            source=settings.source,
            history_start=settings.history_start.isoformat(),
            demo_securities=settings.demo_securities,
            demo_seed=settings.demo_seed,
            demo_end=settings.demo_end.isoformat(),
        )

    @property
    def settings(self) -> Settings:
        return Settings.from_env(
            {
                "MARGIN_WH_DB": self.db_path,
                "MARGIN_WH_LANDING": self.landing_dir,
                "MARGIN_WH_PUBLISH": self.publish_dir,
                "MARGIN_WH_SOURCE": self.source,
                "MARGIN_WH_HISTORY_START": self.history_start,
                "MARGIN_WH_DEMO_SECURITIES": str(self.demo_securities),
                "MARGIN_WH_DEMO_SEED": str(self.demo_seed),
                "MARGIN_WH_DEMO_END": self.demo_end,
            }
        )

    def get_source(self):
        return get_source(self.settings)

    def calendar(self):
        return load_calendar(Path(self.landing_dir))


@cache
def dbt_duckdb_settings() -> dict[str, object]:
    """The DuckDB settings dbt's connections get (profiles.yml): the raw loads' connections
    get the same, so one memory limit holds for every writer of the warehouse."""
    profiles = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text())
    profile = profiles["margin_warehouse"]
    return dict(profile["outputs"][profile["target"]].get("settings") or {})


@contextlib.contextmanager
def warehouse_connection(resource: DuckDBResource) -> Iterator[duckdb.DuckDBPyConnection]:
    """`resource.get_connection()`, closed when the block fails too: dagster-duckdb closes
    it only after a block that succeeds, and a connection left open would keep this
    process holding the warehouse (the refresh's report of stale datasets, a dbt step,
    could not open it)."""
    with resource.get_connection() as con, contextlib.closing(con):
        yield con


def dbt_cli() -> DbtCliResource:
    # The dbt installed beside this Python, whether or not its bin/ is on PATH.
    return DbtCliResource(
        project_dir=str(DBT_PROJECT_DIR),
        profiles_dir=str(DBT_PROJECT_DIR),
        dbt_executable=str(Path(sys.executable).with_name("dbt")),
    )


def build_resources(settings: Settings) -> dict[str, object]:
    settings.ensure_dirs()
    return {
        "warehouse": WarehouseResource.from_settings(settings),
        "duckdb": DuckDBResource(database=str(settings.db_path), connection_config=dbt_duckdb_settings()),
        "dbt": dbt_cli(),
    }
