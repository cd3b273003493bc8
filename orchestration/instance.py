"""The Dagster instance the CLI and `dagster dev` share (DAGSTER_HOME)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg
import sqlalchemy
import sqlalchemy.event

from margin_wh.config import REPO_ROOT

INSTANCE_TEMPLATE = Path(__file__).with_name("dagster.yaml")


def dagster_home() -> Path:
    """DAGSTER_HOME, defaulting to .dagster_home in the repo, with our dagster.yaml."""
    home = Path(os.environ.get("DAGSTER_HOME") or REPO_ROOT / ".dagster_home").absolute()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(INSTANCE_TEMPLATE, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _sqlite_normal_sync(dbapi_connection, _record) -> None:
    # Dagster's SQLite run history is in WAL mode; with SQLite's default synchronous=FULL
    # every event is an fsync (~10 ms here), and a backfill writes one event per
    # partition and asset: 10k+ for the demo. NORMAL stays safe against a crashed
    # process (only a power cut can lose the last events); measured ~10% off a 59-day
    # refresh here (most of Dagster's per-event cost is not the fsync).
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def _listen_sqlite() -> None:
    if not sqlalchemy.event.contains(sqlalchemy.engine.Engine, "connect", _sqlite_normal_sync):
        sqlalchemy.event.listen(sqlalchemy.engine.Engine, "connect", _sqlite_normal_sync)


def get_instance() -> dg.DagsterInstance:
    dagster_home()
    _listen_sqlite()
    return dg.DagsterInstance.get()


def instance_at(home: Path) -> dg.DagsterInstance:
    """The persistent (SQLite) instance in `home` with our dagster.yaml, as `get_instance`
    makes it, without touching DAGSTER_HOME (the benchmark holds several)."""
    from dagster._core.instance.ref import InstanceRef

    home = Path(home).absolute()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(INSTANCE_TEMPLATE, home / "dagster.yaml")
    _listen_sqlite()
    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
