"""Resources: the warehouse settings, the DuckDB connection and the dbt CLI."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import dagster as dg
import duckdb
import yaml
from dagster._utils.backoff import backoff
from dagster_dbt import DbtCliResource
from dagster_duckdb import DuckDBResource
from pydantic import PrivateAttr

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
def dbt_duckdb_settings() -> dict[str, str]:
    """The DuckDB settings dbt applies to its connections (profiles.yml), as SET values."""
    profiles = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text())
    profile = profiles["margin_warehouse"]
    settings = profile["outputs"][profile["target"]].get("settings") or {}
    return {key: str(value) for key, value in settings.items()}


class WarehouseDuckDB(DuckDBResource):
    """The warehouse file, opened once per run: each step's connection is a cursor on it.

    Opening the ten-year warehouse costs 20 - 30 ms, closing it after writes checkpoints,
    and a new database instance starts with an empty buffer pool: in each of a day's ~20
    steps. During a run (between Dagster's setup and teardown of this resource) the file
    is opened once, with dbt-duckdb's configuration (none: dagster-duckdb's adds a user
    agent, and DuckDB refuses a second configuration for an open file), so the dbt steps'
    connections in the same process join this database instance too; dbt's settings
    (profiles.yml) apply to it. It is closed when the run ends, or by
    `close_run_connection` before a step that opens the file another way (the snapshot
    attaches it read-only). Outside a run each `get_connection` opens and closes the
    file, as DuckDBResource does. `connection_config` must stay empty (build_resources):
    with any setting, dbt's connections in the run would be refused.
    """

    _in_run: bool = PrivateAttr(default=False)
    _run_connection: duckdb.DuckDBPyConnection | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._in_run = True

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.close_run_connection()
        self._in_run = False

    def _connect(self) -> duckdb.DuckDBPyConnection:
        # retried as DuckDBResource does: another process (a `margin-wh dbt`) may hold the file
        con = backoff(
            fn=duckdb.connect,
            retry_on=(RuntimeError, duckdb.IOException),
            kwargs={"database": self.database, "read_only": False, "config": dict(self.connection_config)},
            max_retries=10,
        )
        for key, value in dbt_duckdb_settings().items():
            con.execute(f"set {key} = '{value}'")
        return con

    def open_run_connection(self) -> None:
        """Open the run's database instance now (so that dbt joins it); no-op outside a run."""
        if self._in_run and self._run_connection is None:
            self._run_connection = self._connect()

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self.open_run_connection()
        con = self._run_connection.cursor() if self._run_connection is not None else self._connect()
        try:
            yield con
        finally:
            con.close()

    def close_run_connection(self) -> None:
        """Close the run's database instance; the next `get_connection` opens it again."""
        if self._run_connection is not None:
            self._run_connection.close()
            self._run_connection = None


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
        "duckdb": WarehouseDuckDB(database=str(settings.db_path)),
        "dbt": dbt_cli(),
    }
