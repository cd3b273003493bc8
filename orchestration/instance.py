"""The Dagster instance the CLI and `dagster dev` share (DAGSTER_HOME).

Dagster's own storage: SQLite files under DAGSTER_HOME unless its dagster.yaml says
otherwise (PostgreSQL through dagster-postgres for a team: README). A home without a
dagster.yaml gets ours (orchestration/dagster.yaml: the DuckDB writer pool, one live
akshare run at a time, run monitoring); an existing dagster.yaml is never changed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg

from margin_wh.config import Settings

INSTANCE_TEMPLATE = Path(__file__).with_name("dagster.yaml")


def ensure_home(home: Path) -> Path:
    """`home`, created with our dagster.yaml when it has none."""
    home = Path(home).absolute()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(INSTANCE_TEMPLATE, home / "dagster.yaml")
    return home


def dagster_home() -> Path:
    """DAGSTER_HOME, defaulting to the warehouse home's `dagster/` (MARGIN_WH_HOME): each
    warehouse keeps its own run history."""
    home = ensure_home(Settings.from_env().dagster_home)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def get_instance() -> dg.DagsterInstance:
    dagster_home()
    return dg.DagsterInstance.get()


def instance_at(home: Path) -> dg.DagsterInstance:
    """The persistent instance in `home`, as `get_instance` makes it for DAGSTER_HOME,
    leaving DAGSTER_HOME as it was (the benchmark and the tests hold several homes)."""
    home = ensure_home(home)
    before = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        return dg.DagsterInstance.get()
    finally:
        if before is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = before
