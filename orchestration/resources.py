"""Resources: the warehouse settings (and the run's claim on the warehouse), the DuckDB
connection and the dbt CLI."""

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
from pydantic import PrivateAttr

from margin_wh.config import DBT_PROJECT_DIR, Settings
from margin_wh.publish.snapshot import snapshot_path
from margin_wh.raw.landed_calendar import load_calendar
from margin_wh.sources import get_source
from orchestration.warehouse_claim import (
    HOLDER_GRACE_S,
    WarehouseBusyError,
    claim_warehouse,
    holds_claim,
    open_warehouse,
    wait_for_warehouse,
)


class WarehouseResource(dg.ConfigurableResource):
    """Where the warehouse lives and where its data comes from (see margin_wh.config).

    Every step of a run uses it, so Dagster sets it up once when a run starts, whoever
    launched the run (`margin-wh refresh`, a schedule, the UI), and tears it down when
    the run ends: it holds the run's claim on the warehouse (orchestration/
    warehouse_claim.py) for that whole time. A run started while another holds the
    claim fails at once, naming it; one started while the dbt build of a killed refresh
    still holds the file waits for that build first, as `margin-wh refresh` does.
    """

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

    _claim: contextlib.ExitStack | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        db_path = Path(self.db_path)
        claim = contextlib.ExitStack()
        first = not holds_claim(db_path)
        claim.enter_context(claim_warehouse(db_path, run_id=context.run_id))
        try:
            if first:  # the process's own claim (a refresh's) has already waited
                wait_for_warehouse(db_path, snapshot_path(Path(self.publish_dir)), say=context.log.info)
        except BaseException:
            claim.close()
            raise
        self._claim = claim

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._claim is not None:
            self._claim.close()
            self._claim = None


class WarehouseDuckDBResource(DuckDBResource):
    """dagster-duckdb's resource, whose connection names the process holding the
    warehouse at once: DuckDBResource retries a locked file in silence for about a
    hundred seconds, then fails with DuckDB's bare lock error. Within a run nothing of
    ours holds the file between steps (the run's claim keeps other runs out), so a
    holder is a reader or another tool, and waiting does not make it let go."""

    publish_dir: str
    # once a step of the run has named a holder, the run's next steps fail without the grace
    _holder_named: bool = PrivateAttr(default=False)

    @contextlib.contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        config = {"custom_user_agent": "dagster", **self.connection_config}
        grace_s = 0.0 if self._holder_named else HOLDER_GRACE_S
        try:
            con = open_warehouse(Path(self.database), snapshot_path(Path(self.publish_dir)), config, grace_s)
        except WarehouseBusyError:
            self._holder_named = True
            raise
        try:
            yield con
        finally:
            con.close()


@cache
def dbt_duckdb_settings() -> dict[str, object]:
    """The DuckDB settings dbt's connections get (profiles.yml): the raw loads' connections
    get the same, so one memory limit holds for every writer of the warehouse."""
    profiles = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text())
    profile = profiles["margin_warehouse"]
    return dict(profile["outputs"][profile["target"]].get("settings") or {})


@contextlib.contextmanager
def warehouse_connection(resource: DuckDBResource) -> Iterator[duckdb.DuckDBPyConnection]:
    """`resource.get_connection()`, closed when the block fails too: dagster-duckdb's own
    resource closes it only after a block that succeeds, and a connection left open would
    keep this process holding the warehouse (the refresh's report of stale datasets, a dbt
    step, could not open it)."""
    with resource.get_connection() as con, contextlib.closing(con):
        yield con


@cache
def dbt_cli() -> DbtCliResource:
    """dbt as dagster-dbt runs it: the dbt installed beside this Python, whether or not
    its bin/ is on PATH. One per process: dagster-dbt asks the executable its version
    (`dbt --version`, a Python start of its own) once per resource object."""
    return DbtCliResource(
        project_dir=str(DBT_PROJECT_DIR),
        profiles_dir=str(DBT_PROJECT_DIR),
        dbt_executable=str(Path(sys.executable).with_name("dbt")),
    )


def build_resources(settings: Settings) -> dict[str, object]:
    settings.ensure_dirs()
    return {
        "warehouse": WarehouseResource.from_settings(settings),
        "duckdb": WarehouseDuckDBResource(
            database=str(settings.db_path),
            connection_config=dbt_duckdb_settings(),
            publish_dir=str(settings.publish_dir),
        ),
        # given as the object itself, not as configuration: Dagster would build a new
        # DbtCliResource for every run, and each would ask dbt its version again
        "dbt": dg.ResourceDefinition.hardcoded_resource(dbt_cli(), "dbt, as dagster-dbt runs it"),
    }
