"""The pooled SQLite storage of the Dagster instance (orchestration/dagster_storage.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import yaml

from orchestration import dagster_storage
from orchestration.dagster_storage import EnginePool, PooledSqliteEventLogStorage
from orchestration.instance import INSTANCE_TEMPLATE, instance_at


@dg.asset
def counted() -> int:
    return 1


@dg.asset_check(asset=counted)
def counted_is_one() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


def _materialize(instance: dg.DagsterInstance) -> str:
    result = dg.materialize([counted, counted_is_one], instance=instance)
    assert result.success
    return result.run_id


def _sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def test_engine_pool_keeps_the_most_recent_engines_and_the_pinned_one(tmp_path):
    pinned = _sqlite_url(tmp_path / "index.db")
    pool = EnginePool(capacity=2, pinned=frozenset({pinned}))
    index = pool.engine(pinned)
    first = pool.engine(_sqlite_url(tmp_path / "a.db"))
    assert pool.engine(_sqlite_url(tmp_path / "a.db")) is first  # reused, not made again
    for name in ("b.db", "c.db", "d.db"):
        pool.engine(_sqlite_url(tmp_path / name))
    assert pool.open_urls() == [pinned] + [_sqlite_url(tmp_path / n) for n in ("c.db", "d.db")]
    assert pool.engine(pinned) is index
    assert pool.engine(_sqlite_url(tmp_path / "a.db")) is not first  # evicted, made anew


def test_engine_pool_starts_afresh_in_a_forked_process(tmp_path, monkeypatch):
    pool = EnginePool(capacity=2)
    url = _sqlite_url(tmp_path / "a.db")
    parent = pool.engine(url)
    monkeypatch.setattr(os, "getpid", lambda: -1)  # as in a child after fork
    assert pool.engine(url) is not parent


def test_connections_are_reused_and_synchronous_normal(tmp_path):
    pool = EnginePool(capacity=2)
    engine = pool.engine(_sqlite_url(tmp_path / "a.db"))
    seen = []
    for _ in range(3):
        with engine.connect() as conn:
            seen.append(id(conn.connection.dbapi_connection))
            (sync,) = conn.exec_driver_sql("PRAGMA synchronous").one()
    assert len(set(seen)) == 1
    assert sync == 1  # NORMAL


def test_a_home_keeps_runs_readable_by_a_new_instance_and_bounds_open_files(tmp_path, monkeypatch):
    monkeypatch.setattr(dagster_storage, "MAX_OPEN_RUN_DATABASES", 2)
    home = tmp_path / "home"
    instance = instance_at(home)
    assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
    run_ids = [_materialize(instance) for _ in range(4)]

    pool = instance.event_log_storage._engine_pool
    assert len(pool.open_urls()) <= 1 + 2  # the index and the two most recent runs
    # what another process (the webserver, the daemon) sees in the same home
    reader = instance_at(home)
    assert {r.run_id for r in reader.get_runs()} == set(run_ids)
    assert all(reader.get_run_by_id(r).is_success for r in run_ids)
    latest = reader.get_latest_materialization_event(dg.AssetKey("counted"))
    assert latest is not None and latest.run_id == run_ids[-1]
    check = reader.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("counted"), "counted_is_one")]
    )
    assert next(iter(check.values())).run_id == run_ids[-1]
    first_run_events = reader.all_logs(run_ids[0])  # a run whose file was closed since
    assert any(e.dagster_event_type == dg.DagsterEventType.RUN_SUCCESS for e in first_run_events)


def test_wipe_closes_connections_before_the_files_go(tmp_path):
    instance = instance_at(tmp_path / "home")
    run_id = _materialize(instance)
    instance.event_log_storage.wipe()
    assert instance.all_logs(run_id) == []
    assert _materialize(instance)  # writes again to new files


def test_an_older_home_gets_the_storage_setting_and_keeps_its_runs(tmp_path):
    """A home made before the pooled storage (Dagster's default SQLite storage) is read as
    it is once dagster.yaml names our storage; its other settings stay."""
    home = tmp_path / "home"
    home.mkdir()
    older = {"telemetry": {"enabled": False}, "run_retries": {"enabled": True}}
    (home / "dagster.yaml").write_text(yaml.safe_dump(older))
    from dagster._core.instance.ref import InstanceRef

    default = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    assert type(default.event_log_storage).__name__ == "SqliteEventLogStorage"
    old_run = _materialize(default)
    default.dispose()

    instance = instance_at(home)
    config = yaml.safe_load((home / "dagster.yaml").read_text())
    assert config["storage"] == yaml.safe_load(INSTANCE_TEMPLATE.read_text())["storage"]
    assert config["telemetry"] == older["telemetry"] and config["run_retries"] == older["run_retries"]
    assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
    assert instance.get_run_by_id(old_run).is_success
    assert instance.get_latest_materialization_event(dg.AssetKey("counted")).run_id == old_run


def test_a_home_with_its_own_storage_setting_is_left_alone(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    own = "storage:\n  sqlite:\n    base_dir: " + str(home / "elsewhere") + "\n"
    (home / "dagster.yaml").write_text(own)
    instance = instance_at(home)
    assert (home / "dagster.yaml").read_text() == own
    assert type(instance.event_log_storage).__name__ == "SqliteEventLogStorage"


def test_dagster_home_from_the_environment_builds_the_pooled_storage(tmp_path):
    """How `margin-wh`, `dagster dev` and the daemon's run workers build it: from
    DAGSTER_HOME, whose dagster.yaml says `base_dir: {env: DAGSTER_HOME}`."""
    home = tmp_path / "home"
    code = (
        "from orchestration.instance import get_instance; i = get_instance(); "
        "print(type(i.event_log_storage).__name__, i.event_log_storage._base_dir)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "DAGSTER_HOME": str(home)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.split() == ["PooledSqliteEventLogStorage", str(home / "history" / "runs")]
    assert (home / "history" / "runs" / "index.db").exists()
