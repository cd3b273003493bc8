"""The Dagster instance the CLI and `dagster dev` share (DAGSTER_HOME).

Dagster's own storage (runs, event logs, schedules): SQLite files under DAGSTER_HOME by
default, one analyst on one machine. A team shares one PostgreSQL database instead
(dagster-postgres, the `team` extra; docs/deploy.md): a home created while
MARGIN_WH_DAGSTER_PG_URL is set gets the team template (deploy/dagster.yaml), whose
storage reads that URL from the environment of every Dagster process. A home without a
dagster.yaml gets ours (orchestration/dagster.yaml: the DuckDB writer pool, one live
akshare run at a time, run monitoring); an existing dagster.yaml is never changed.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from margin_wh.config import Settings

INSTANCE_TEMPLATE = Path(__file__).with_name("dagster.yaml")
# The PostgreSQL URL of a team's Dagster storage, e.g.
# postgresql+psycopg2://dagster:secret@db.example:5432/dagster; read by Dagster itself (`env:`),
# so the password stays out of dagster.yaml.
PG_URL_VARIABLE = "MARGIN_WH_DAGSTER_PG_URL"
POSTGRES_STORAGE = f"""\
# A team's Dagster instance (docs/deploy.md): the same file in DAGSTER_HOME on every
# machine, and MARGIN_WH_DAGSTER_PG_URL in the environment of every Dagster process.
# Runs, event logs and schedules in one PostgreSQL database (dagster-postgres), shared by
# the webserver, the daemon, their run workers and `margin-wh` on every machine.
storage:
  postgres:
    postgres_url:
      env: {PG_URL_VARIABLE}
"""


def instance_yaml(postgres: bool) -> str:
    """Our dagster.yaml: SQLite storage (Dagster's default), or PostgreSQL from
    MARGIN_WH_DAGSTER_PG_URL with every other setting the same (deploy/dagster.yaml)."""
    base = INSTANCE_TEMPLATE.read_text()
    return POSTGRES_STORAGE + base if postgres else base


def ensure_home(home: Path, env: dict[str, str] | None = None) -> Path:
    """`home`, created with our dagster.yaml when it has none: the team template when
    MARGIN_WH_DAGSTER_PG_URL is set in `env` (default: os.environ)."""
    env = os.environ if env is None else env
    home = Path(home).absolute()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_text(instance_yaml(postgres=bool(env.get(PG_URL_VARIABLE))))
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
