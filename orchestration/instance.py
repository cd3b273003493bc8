"""The Dagster instance the CLI and `dagster dev` share (DAGSTER_HOME).

Dagster's own storage: SQLite files under DAGSTER_HOME unless its dagster.yaml says
otherwise (PostgreSQL through dagster-postgres for a team: README). A home without a
dagster.yaml gets ours (orchestration/dagster.yaml: the DuckDB writer pool, one live
akshare run at a time, run monitoring); an existing dagster.yaml is never changed.
"""

from __future__ import annotations

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
    warehouse keeps its own run history. Returned, not set: `margin-wh ui` hands it to
    `dagster dev` in that process's environment."""
    return ensure_home(Settings.from_env().dagster_home)


def get_instance() -> dg.DagsterInstance:
    return instance_at(dagster_home())


def instance_at(home: Path) -> dg.DagsterInstance:
    """The persistent instance in `home`, as `DagsterInstance.get()` makes it for
    DAGSTER_HOME=home (it calls `from_config` with that directory), without setting
    DAGSTER_HOME in this process: the benchmark and the tests hold several homes at once.
    `from_config` is not in Dagster's documented API; `get()` is, but reads only the
    environment, so the home would have to be set in os.environ and put back."""
    return dg.DagsterInstance.from_config(str(ensure_home(home)))
