"""Dagster's SQLite storage (the default layout under DAGSTER_HOME), with pooled connections.

Dagster's SQLite storages make a new SQLAlchemy engine, and so open a new SQLite
connection, for every read and write (`SqliteEventLogStorage._connect`,
`SqliteRunStorage.connect`, both with `NullPool`). The event log writes each event to its
run's database and mirrors asset and check events into the index database: a one-day
refresh (~430 events) opened ~1,400 connections. Pooled (and with dbt's loggers off), a
day on the benchmark's tiny market went from 15.2 to 9.2 s (BENCHMARKS.md). PostgreSQL
is no way out: dagster-postgres opens a connection per write too.

Here each database file keeps one engine per process, whose small pool reuses its
connection; everything else is Dagster's own code and on-disk layout, so a home written
by the default storage reads the same with this one, and the other way round. What
pooling must not change:

- one process's connections are never used by another (engines are per process id,
  a forked child starts with none of its parent's);
- a process that reads many runs (the webserver) does not hold every run's file open:
  the least recently used run databases are closed beyond `MAX_OPEN_RUN_DATABASES`;
- deleted files are not written through an old connection (`wipe` closes them first).

Connections get `synchronous=NORMAL` (SQLite's default FULL syncs the disk on every
commit, ~10 ms here; in WAL mode NORMAL is safe against a crashed process, and only a
power cut can lose the last events).

dagster.yaml selects this storage (`storage: custom:`) with DAGSTER_HOME as its base_dir;
`orchestration.instance` builds it for other homes.
"""

from __future__ import annotations

import collections
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sqlite import create_db_conn_string
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from dagster._serdes import ConfigurableClassData

MAX_OPEN_RUN_DATABASES = 8


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


class EnginePool:
    """One SQLAlchemy engine per database URL in this process, the `capacity` most recently
    used kept open (plus any in `pinned`), the others disposed (their connections closed)."""

    def __init__(self, capacity: int, pinned: frozenset[str] = frozenset()) -> None:
        self.capacity = capacity
        self.pinned = pinned
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._engines: collections.OrderedDict[str, sqlalchemy.engine.Engine] = (
            collections.OrderedDict()
        )

    def engine(self, url: str) -> sqlalchemy.engine.Engine:
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's connections are not ours
                for engine in self._engines.values():
                    engine.dispose(close=False)
                self._engines.clear()
                self._pid = os.getpid()
            engine = self._engines.get(url)
            if engine is None:
                engine = sqlalchemy.create_engine(
                    url,
                    # one connection kept for reuse; more at once when threads ask
                    # (the webserver), closed when returned, without limit as before
                    pool_size=1,
                    max_overflow=-1,
                    connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
                )
                sqlalchemy.event.listen(engine, "connect", _sqlite_pragmas)
                self._engines[url] = engine
            self._engines.move_to_end(url)
            unpinned = [u for u in self._engines if u not in self.pinned]
            for old in unpinned[: max(len(unpinned) - self.capacity, 0)]:
                self._engines.pop(old).dispose()
            return engine

    def open_urls(self) -> list[str]:
        with self._lock:
            return list(self._engines)

    def dispose(self) -> None:
        with self._lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's run-sharded SQLite event log; connections pooled per database file."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        # before super().__init__, which connects to create a new home's index database
        index = create_db_conn_string(os.path.abspath(base_dir), INDEX_SHARD_NAME)
        self._engine_pool = EnginePool(MAX_OPEN_RUN_DATABASES, frozenset({index}))
        super().__init__(base_dir, inst_data)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[sqlalchemy.engine.Connection]:
        # as SqliteEventLogStorage._connect, with the engine kept instead of made and disposed
        with self._db_lock:
            engine = self._engine_pool.engine(self.conn_string_for_shard(shard))
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def wipe(self) -> None:
        self._engine_pool.dispose()  # the run files are deleted: no connection may outlive them
        super().wipe()

    def dispose(self) -> None:
        self._engine_pool.dispose()
        super().dispose()


class PooledSqliteRunStorage(SqliteRunStorage):
    """Dagster's SQLite run storage (history/runs.db); connections pooled."""

    def __init__(self, conn_string: str, inst_data: ConfigurableClassData | None = None):
        super().__init__(conn_string, inst_data)
        self._engine_pool = EnginePool(capacity=1)

    @contextmanager
    def connect(self) -> Iterator[sqlalchemy.engine.Connection]:
        with self._engine_pool.engine(self._conn_string).connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        self._engine_pool.dispose()
        super().dispose()


class PooledSqliteStorage(DagsterSqliteStorage):
    """DagsterSqliteStorage (runs, event log, schedules under `base_dir`, as Dagster lays
    them out by default) with the pooled run and event log storages above."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        # not super().__init__: it would open Dagster's own unpooled storages first
        self.base_dir = base_dir
        self._run_storage = PooledSqliteRunStorage.from_local(_runs_directory(base_dir))
        self._event_log_storage = PooledSqliteEventLogStorage(_event_logs_directory(base_dir))
        self._schedule_storage = SqliteScheduleStorage.from_local(_schedule_directory(base_dir))
        self._inst_data = inst_data
        super(DagsterSqliteStorage, self).__init__()

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: Any):
        # the parent's names its own class here; its config_type (base_dir) is ours too
        return cls.from_local(inst_data=inst_data, **config_value)
