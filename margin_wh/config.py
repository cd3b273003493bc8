"""Every setting of the warehouse, read from the environment in this one place.

Dagster, dbt (through `dbt_env()`), the CLI and the tests all take their paths from
`Settings.from_env()`, so one variable moves the whole warehouse: MARGIN_WH_HOME holds
the DuckDB file, the landing zone, the published files and the Dagster home, and each
has a variable of its own to put it elsewhere. Demo and live data never share a home:
by default the demo lives in data/demo, live data in data/live.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"

SOURCES = ("demo", "akshare")
# The port of `margin-wh mcp --http` (on 127.0.0.1) unless --port says otherwise.
MCP_HTTP_PORT = 8765
# Where a source's warehouse lives unless MARGIN_WH_HOME says otherwise.
DEFAULT_HOMES = {"demo": REPO_ROOT / "data" / "demo", "akshare": REPO_ROOT / "data" / "live"}


@dataclass(frozen=True)
class Settings:
    home: Path  # MARGIN_WH_HOME: everything below, unless its own variable says otherwise
    db_path: Path  # MARGIN_WH_DB: the DuckDB warehouse file (single writer)
    source: str  # MARGIN_WH_SOURCE: "demo" (synthetic, offline) or "akshare" (live)
    landing_dir: Path  # MARGIN_WH_LANDING: raw frames as they arrived, one Parquet per call
    publish_dir: Path  # MARGIN_WH_PUBLISH: read-only snapshot, Parquet exports, report
    history_start: dt.date  # MARGIN_WH_HISTORY_START: first trading day the warehouse holds
    demo_securities: int  # MARGIN_WH_DEMO_SECURITIES: size of the synthetic market
    demo_seed: int  # MARGIN_WH_DEMO_SEED: same seed, same market
    demo_end: dt.date  # MARGIN_WH_DEMO_END: last day of the synthetic market
    dagster_home: Path  # DAGSTER_HOME: Dagster's runs, event logs and schedules

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        source = env.get("MARGIN_WH_SOURCE", "demo").strip().lower()
        if source not in SOURCES:
            raise ValueError(
                f"MARGIN_WH_SOURCE must be one of {SOURCES}, got {source!r}"
            )
        home = Path(env.get("MARGIN_WH_HOME") or DEFAULT_HOMES[source]).absolute()

        def path(variable: str, default: Path) -> Path:
            return Path(env.get(variable) or default).absolute()

        return cls(
            home=home,
            db_path=path("MARGIN_WH_DB", home / "warehouse.duckdb"),
            source=source,
            landing_dir=path("MARGIN_WH_LANDING", home / "landing"),
            publish_dir=path("MARGIN_WH_PUBLISH", home / "published"),
            history_start=dt.date.fromisoformat(
                env.get("MARGIN_WH_HISTORY_START", "2023-01-01")
            ),
            demo_securities=int(env.get("MARGIN_WH_DEMO_SECURITIES", "300")),
            demo_seed=int(env.get("MARGIN_WH_DEMO_SEED", "20231016")),
            demo_end=dt.date.fromisoformat(env.get("MARGIN_WH_DEMO_END", "2025-06-30")),
            dagster_home=path("DAGSTER_HOME", home / "dagster"),
        )

    def as_env(self) -> dict[str, str]:
        """The environment `from_env` makes these settings from (every variable set)."""
        return {
            "MARGIN_WH_HOME": str(self.home),
            "MARGIN_WH_DB": str(self.db_path),
            "MARGIN_WH_SOURCE": self.source,
            "MARGIN_WH_LANDING": str(self.landing_dir),
            "MARGIN_WH_PUBLISH": str(self.publish_dir),
            "MARGIN_WH_HISTORY_START": self.history_start.isoformat(),
            "MARGIN_WH_DEMO_SECURITIES": str(self.demo_securities),
            "MARGIN_WH_DEMO_SEED": str(self.demo_seed),
            "MARGIN_WH_DEMO_END": self.demo_end.isoformat(),
            "DAGSTER_HOME": str(self.dagster_home),
        }

    def dbt_env(self) -> dict[str, str]:
        """The environment dbt runs in: profiles.yml reads the warehouse path from it."""
        return {**os.environ, "MARGIN_WH_DB": str(self.db_path)}

    def ensure_dirs(self) -> None:
        for path in (self.db_path.parent, self.landing_dir, self.publish_dir):
            path.mkdir(parents=True, exist_ok=True)
