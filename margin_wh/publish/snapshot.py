"""The published snapshot: the marts (and the reference seeds they join to) copied from
the warehouse into a separate DuckDB file that BI tools open read-only.

DuckDB allows one read-write process or many read-only processes per file, never both,
so a dashboard holding the warehouse open would stop the next refresh. BI tools open
`<publish_dir>/margin_warehouse.duckdb` instead, and a publish never touches a file a
reader holds:

1. the tables are copied into a new file, `.warehouse_snapshot.<pid>.tmp.duckdb`,
   written in DuckDB storage version v1.4.0 (readable by DuckDB >= 1.4, the LTS line
   the JDBC, ODBC and Node drivers in BI tools bundle; the warehouse itself is in the
   newer format of the DuckDB that writes it);
2. the copy is checkpointed, closed and checked (row counts against the warehouse);
3. `os.replace` renames it onto the published name: an atomic swap of the directory
   entry. A reader that opens the path sees the old file or the new one, never a mix;
   a reader that already has the old file open keeps reading the old snapshot (its
   open file survives the rename on POSIX) until it reconnects.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from margin_wh.leftovers import remove_leftovers
from margin_wh.publish.freshness import (
    CALENDAR_DATASET,
    RULES,
    DatasetFreshness,
    MartFreshness,
    dataset_freshness,
    date_column,
    is_daily_series,
    market_latest_day,
    mart_freshness,
    raw_datasets_read,
    read_manifest,
    tracked_datasets,
)

SNAPSHOT_NAME = "margin_warehouse.duckdb"
# The on-disk format of the snapshot: what DuckDB 1.4 LTS clients read. DuckDB tags a
# database written this way with storage_version 'v1.4.0+' (see duckdb_databases()).
STORAGE_VERSION = "v1.4.0"
MIN_READER_VERSION = "1.4.0"
# Schemas copied: the marts, and the curated seeds (SW2021 industries, policy events).
PUBLISHED_SCHEMAS = ("marts", "reference")
# One row about the snapshot itself: when, from what, up to which trading day.
INFO_TABLE = "main.snapshot_info"
# One row per raw dataset of trading days: its last loaded trading day, whether it lags
# (a source that was down) and since when, how many of its symbols could not load, and
# what "lags" means for it (margin_wh/publish/freshness.py): the report and every answer
# of margin_wh.read and the MCP server say which and since when.
FRESHNESS_TABLE = "main.dataset_freshness"
# One row per mart the project defines: built or not, its last trading day, stale since.
MART_FRESHNESS_TABLE = "main.mart_freshness"
# The symbols a per-symbol dataset could not load, as the warehouse's meta table held them.
MISSING_SYMBOLS_TABLE = "main.missing_symbols"
MISSING_SYMBOLS_SOURCE = "meta.missing_symbols"
MISSING_SYMBOLS_COLUMNS = (
    ("dataset", "varchar"),
    ("symbol", "varchar"),
    ("first_missing_day", "date"),
    ("last_missing_day", "date"),
    ("reason", "varchar"),
    ("attempts", "integer"),
    ("last_attempt_at", "timestamp"),
)
TMP_PREFIX = ".warehouse_snapshot."
# Temporary files of a publish that died (killed, power cut) are deleted by a later
# publish once they are this old: no live publish takes that long.
STALE_AFTER_S = 6 * 3600


class PublishError(RuntimeError):
    pass


@dataclass(frozen=True)
class Freshness:
    """What the publish recorded of the data's freshness (the three main.* tables)."""

    datasets: tuple[DatasetFreshness, ...] = ()
    marts: tuple[MartFreshness, ...] = ()
    market_latest_day: dt.date | None = None

    @property
    def stale_datasets(self) -> tuple[DatasetFreshness, ...]:
        return tuple(d for d in self.datasets if d.is_stale)

    @property
    def incomplete_datasets(self) -> tuple[DatasetFreshness, ...]:
        return tuple(d for d in self.datasets if d.missing_symbols)

    @property
    def stale_marts(self) -> tuple[MartFreshness, ...]:
        return tuple(m for m in self.marts if m.is_stale)


@dataclass(frozen=True)
class SnapshotResult:
    path: Path
    size_bytes: int
    storage_version: str
    tables: dict[str, int]  # "marts.fct_…" -> rows
    last_trade_date: dt.date | None
    published_at: dt.datetime
    seconds: float
    comments: int = 0  # table and column descriptions carried over from dbt
    schemas: tuple[str, ...] = field(default=PUBLISHED_SCHEMAS)
    freshness: Freshness = field(default_factory=Freshness)

    @property
    def mart_rows(self) -> dict[str, int]:
        return {k.split(".", 1)[1]: v for k, v in self.tables.items() if k.startswith("marts.")}


def snapshot_path(publish_dir: Path) -> Path:
    return Path(publish_dir) / SNAPSHOT_NAME


def _sql_string(value: str | Path) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def list_tables(
    con: duckdb.DuckDBPyConnection, catalog: str, schemas: Iterable[str] = PUBLISHED_SCHEMAS
) -> list[tuple[str, str]]:
    """(schema, table) for every table or view of `schemas` in `catalog`, sorted."""
    schemas = list(schemas)
    placeholders = ", ".join("?" for _ in schemas)
    return [
        (schema, name)
        for schema, name in con.execute(
            f"""
            select table_schema, table_name from information_schema.tables
            where table_catalog = ? and table_schema in ({placeholders})
            order by table_schema, table_name
            """,
            [catalog, *schemas],
        ).fetchall()
    ]


def table_rows(path: Path, schemas: Iterable[str] = PUBLISHED_SCHEMAS) -> dict[str, int]:
    """Rows per table of `schemas` in the DuckDB file at `path`, opened read-only."""
    with duckdb.connect(str(path), read_only=True) as con:
        catalog = con.execute("select current_database()").fetchall()[0][0]
        return {
            f"{schema}.{name}": con.execute(
                f"select count(*) from {_ident(schema)}.{_ident(name)}"
            ).fetchall()[0][0]
            for schema, name in list_tables(con, catalog, schemas)
        }


def dbt_descriptions(manifest_path: Path | None) -> dict[tuple[str, str], dict]:
    """{(schema, table): {"description": …, "columns": {name: description}}} from a dbt
    manifest, for the published schemas; empty when there is no manifest."""
    if manifest_path is None or not Path(manifest_path).exists():
        return {}
    manifest = json.loads(Path(manifest_path).read_text())
    out: dict[tuple[str, str], dict] = {}
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") not in ("model", "seed"):
            continue
        if node.get("schema") not in PUBLISHED_SCHEMAS:
            continue
        name = node.get("alias") or node["name"]
        out[(node["schema"], name)] = {
            "description": (node.get("description") or "").strip(),
            "columns": {
                column: (spec.get("description") or "").strip()
                for column, spec in (node.get("columns") or {}).items()
            },
        }
    return out


def _apply_comments(
    con: duckdb.DuckDBPyConnection, catalog: str, tables: list[tuple[str, str]], docs: dict
) -> int:
    """COMMENT ON the snapshot's tables and columns from the dbt docs: BI tools show them."""
    applied = 0
    for schema, name in tables:
        doc = docs.get((schema, name))
        if not doc:
            continue
        target = f"{_ident(catalog)}.{_ident(schema)}.{_ident(name)}"
        if doc["description"]:
            con.execute(f"comment on table {target} is {_sql_string(doc['description'])}")
            applied += 1
        columns = {
            r[0]
            for r in con.execute(
                "select column_name from duckdb_columns() "
                "where database_name = ? and schema_name = ? and table_name = ?",
                [catalog, schema, name],
            ).fetchall()
        }
        for column, text in doc["columns"].items():
            if text and column in columns:
                con.execute(f"comment on column {target}.{_ident(column)} is {_sql_string(text)}")
                applied += 1
    return applied


def _remove(path: Path) -> None:
    for leftover in (path, path.with_name(path.name + ".wal")):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()


def remove_stale_temporaries(
    publish_dir: Path, pattern: str, older_than_s: float = STALE_AFTER_S
) -> int:
    """Delete what publishes that died half-way left behind (files or directories matching
    `pattern`): at once when the process named in them is gone, else once they are old
    enough not to belong to a publish still running."""
    return remove_leftovers(publish_dir, pattern, older_than_s)


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# Stored order of a published table: BI queries that filter on a few securities over the
# whole history prune row groups by security_code instead of scanning every day.
SORT_ORDERS = {"fct_balance_to_float": "security_code, trade_date"}


def _copy_previous(target: Path, tmp: Path) -> bool:
    """Start from a copy of the current snapshot when it has our storage version: a
    daily publish then rewrites the days that changed, not ten years of marts."""
    if not target.exists():
        return False
    try:
        if storage_version_of(target) != STORAGE_VERSION + "+":
            return False
    except duckdb.Error:
        return False  # unreadable: publish a fresh one
    shutil.copyfile(target, tmp)
    return True


def _columns_of(con: duckdb.DuckDBPyConnection, catalog: str, qualified: str) -> list[tuple]:
    """(name, type) of each column. Not DESCRIBE's nullability: the warehouse's marts carry
    NOT NULL constraints that the snapshot's CREATE TABLE AS copies do not, and comparing
    them made every publish re-copy every mart, changed or not."""
    try:
        return [row[:2] for row in con.execute(f"describe {catalog}.{qualified}").fetchall()]
    except duckdb.CatalogException:
        return []


def _fingerprints(con: duckdb.DuckDBPyConnection, catalog: str, qualified: str, by_year: bool) -> dict:
    """[rows, XOR of row hashes] per year of trade_date (or for the whole table).
    Rows are unique by each table's key, so equal fingerprints mean unchanged rows."""
    group = "year(trade_date)" if by_year else "0"
    return {
        key: (rows, digest)
        for key, rows, digest in con.execute(
            f"select {group}, count(*), bit_xor(hash(t)) from {catalog}.{qualified} t group by 1"
        ).fetchall()
    }


def _sync_table(con: duckdb.DuckDBPyConnection, qualified: str, order_by: str) -> None:
    """Make snapshot.<table> equal warehouse.<table>, rewriting only changed years."""
    order = f" order by {order_by}" if order_by else ""
    columns = _columns_of(con, "warehouse", qualified)
    if _columns_of(con, "snapshot", qualified) != columns:  # new table or new schema
        con.execute(f"drop table if exists snapshot.{qualified}")
        con.execute(f"create table snapshot.{qualified} as select * from warehouse.{qualified}{order}")
        return
    by_year = any(name == "trade_date" for name, *_ in columns)
    new = _fingerprints(con, "warehouse", qualified, by_year)
    old = _fingerprints(con, "snapshot", qualified, by_year)
    changed = sorted(k for k in set(new) | set(old) if new.get(k) != old.get(k))
    if not changed:
        return
    if not by_year:
        con.execute(f"delete from snapshot.{qualified}")
        con.execute(f"insert into snapshot.{qualified} select * from warehouse.{qualified}{order}")
        return
    years = ", ".join(str(int(y)) for y in changed if y is not None)
    where = f"year(trade_date) in ({years})" if years else "false"
    if None in changed:
        where += " or trade_date is null"
    con.execute(f"delete from snapshot.{qualified} where {where}")
    con.execute(f"insert into snapshot.{qualified} select * from warehouse.{qualified} where {where}{order}")


def _calendar(con: duckdb.DuckDBPyConnection, present: set[str]) -> list[dt.date]:
    if CALENDAR_DATASET not in present:
        return []
    return [
        d
        for (d,) in con.execute(
            f"select trade_date from warehouse.raw.{CALENDAR_DATASET} order by 1"
        ).fetchall()
    ]


def _dataset_last_days(
    con: duckdb.DuckDBPyConnection, rules: dict[str, str], present: set[str]
) -> tuple[dict[str, dt.date | None], dt.date | None]:
    """Each tracked dataset's last trading day as its rule measures it (None: no table or
    no rows), and the first day the warehouse holds of any market-wide daily dataset."""
    from margin_wh.sources.datasets import RAW_TABLES

    last_days: dict[str, dt.date | None] = {}
    firsts = []
    for name, rule in rules.items():
        if name not in present:
            last_days[name] = None
            continue
        column = _ident(date_column(RAW_TABLES[name]))
        table = f"warehouse.raw.{_ident(name)}"
        if rule == "each_symbol_every_day":
            sql = f"select min(last) from (select max({column}) as last from {table} group by symbol)"
        else:
            sql = f"select max({column}) from {table}"
        last_days[name] = con.execute(sql).fetchall()[0][0]
        if rule == "every_trading_day":
            firsts.append(con.execute(f"select min({column}) from {table}").fetchall()[0][0])
    return last_days, min((d for d in firsts if d), default=None)


def _copy_missing_symbols(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """snapshot.main.missing_symbols from the warehouse's meta.missing_symbols (an empty
    table of the same columns where the warehouse keeps none); {dataset: [symbol, …]}."""
    present = {name for _, name in list_tables(con, "warehouse", ("meta",))}
    con.execute(f"drop table if exists snapshot.{MISSING_SYMBOLS_TABLE}")
    if MISSING_SYMBOLS_SOURCE.split(".")[1] not in present:
        columns = ", ".join(f"{name} {type_}" for name, type_ in MISSING_SYMBOLS_COLUMNS)
        con.execute(f"create table snapshot.{MISSING_SYMBOLS_TABLE} ({columns})")
        return {}
    arrived = {
        name: type_ for name, type_, *_ in con.execute(
            f"describe warehouse.{MISSING_SYMBOLS_SOURCE}"
        ).fetchall()
    }
    lacking = [name for name, _ in MISSING_SYMBOLS_COLUMNS if name not in arrived]
    if lacking:
        raise PublishError(
            f"warehouse.{MISSING_SYMBOLS_SOURCE} lacks the column(s) {', '.join(lacking)}: "
            f"expected {', '.join(n for n, _ in MISSING_SYMBOLS_COLUMNS)}, got "
            f"{', '.join(arrived)}; the published snapshot was left as it was"
        )
    con.execute(
        f"create table snapshot.{MISSING_SYMBOLS_TABLE} as "
        f"select * from warehouse.{MISSING_SYMBOLS_SOURCE} order by dataset, symbol"
    )
    missing: dict[str, list[str]] = {}
    for dataset, symbol in con.execute(
        f"select dataset, symbol from snapshot.{MISSING_SYMBOLS_TABLE} order by 1, 2"
    ).fetchall():
        missing.setdefault(dataset, []).append(symbol)
    return missing


def _write_dataset_freshness(
    con: duckdb.DuckDBPyConnection, rows: list[DatasetFreshness]
) -> None:
    con.execute(f"drop table if exists snapshot.{FRESHNESS_TABLE}")
    con.execute(
        f"""
        create table snapshot.{FRESHNESS_TABLE} (
            dataset varchar, last_trade_date date, is_stale boolean, stale_since date,
            missing_symbol_count integer, missing_symbols varchar,
            freshness_rule varchar, rule varchar
        )
        """
    )
    con.executemany(
        f"insert into snapshot.{FRESHNESS_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [r.dataset, r.last_trade_date, r.is_stale, r.stale_since, r.missing_symbol_count,
             ", ".join(r.missing_symbols), r.freshness_rule, RULES[r.freshness_rule]]
            for r in rows
        ],
    )  # fmt: skip


def _previous_marts(
    con: duckdb.DuckDBPyConnection,
) -> dict[str, tuple[bool, dt.date | None, dt.date | None]]:
    """What the snapshot being replaced said of each mart: (was_missing, last_trade_date,
    stale_since), from its mart_freshness, or from its mart tables when it has none."""
    if ("main", MART_FRESHNESS_TABLE.split(".")[1]) in set(list_tables(con, "snapshot", ("main",))):
        return {
            mart: (bool(missing), last, since)
            for mart, missing, last, since in con.execute(
                "select mart, is_missing, last_trade_date, stale_since "
                f"from snapshot.{MART_FRESHNESS_TABLE}"
            ).fetchall()
        }
    return {
        mart: (False, _last_trade_date(con, "snapshot", mart), None)
        for _, mart in list_tables(con, "snapshot", ("marts",))
    }


def _last_trade_date(con: duckdb.DuckDBPyConnection, catalog: str, mart: str) -> dt.date | None:
    qualified = f"marts.{_ident(mart)}"
    if not any(name == "trade_date" for name, _ in _columns_of(con, catalog, qualified)):
        return None
    return con.execute(f"select max(trade_date) from {catalog}.{qualified}").fetchall()[0][0]


def _write_mart_freshness(con: duckdb.DuckDBPyConnection, rows: list[MartFreshness]) -> None:
    con.execute(f"drop table if exists snapshot.{MART_FRESHNESS_TABLE}")
    con.execute(
        f"""
        create table snapshot.{MART_FRESHNESS_TABLE} (
            mart varchar, last_trade_date date, is_missing boolean, is_stale boolean,
            stale_since date, has_row_every_trading_day boolean, lagging_datasets varchar,
            reads_datasets varchar, status varchar
        )
        """
    )
    con.executemany(
        f"insert into snapshot.{MART_FRESHNESS_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [r.mart, r.last_trade_date, r.is_missing, r.is_stale, r.stale_since,
             r.has_row_every_trading_day, ", ".join(r.lagging_datasets), ", ".join(r.reads_datasets), r.why]
            for r in rows
        ],
    )  # fmt: skip


def _write_freshness(
    con: duckdb.DuckDBPyConnection,
    manifest_path: Path | None,
    previous: dict[str, tuple[bool, dt.date | None, dt.date | None]],
) -> Freshness:
    """The snapshot's main.dataset_freshness, main.mart_freshness and main.missing_symbols
    from the warehouse's raw, marts and meta tables (margin_wh/publish/freshness.py)."""
    from margin_wh.mart_docs import mart_docs
    from margin_wh.sources.datasets import RAW_TABLES

    present = {name for _, name in list_tables(con, "warehouse", ("raw",))}
    calendar = _calendar(con, present)
    rules = tracked_datasets()
    last_days, first_day = _dataset_last_days(con, rules, present)
    missing = _copy_missing_symbols(con)
    datasets = dataset_freshness(
        rules, last_days, calendar, warehouse_first_day=first_day,
        first_days={name: RAW_TABLES[name].first_day for name in rules}, missing_symbols=missing,
    )  # fmt: skip
    _write_dataset_freshness(con, datasets)
    latest = market_latest_day(rules, last_days)
    manifest = read_manifest(manifest_path)
    docs = mart_docs()
    reads = raw_datasets_read(manifest)
    built = {
        mart: _last_trade_date(con, "warehouse", mart)
        for _, mart in list_tables(con, "warehouse", ("marts",))
    }
    marts = mart_freshness(
        set(docs) | set(reads), built,
        daily={name for name, doc in docs.items() if is_daily_series(doc.grain)},
        reads=reads, datasets=datasets, latest=latest, calendar=calendar, previous=previous,
    )  # fmt: skip
    _write_mart_freshness(con, marts)
    return Freshness(tuple(datasets), tuple(marts), latest)


def publish_snapshot(
    db_path: Path,
    publish_dir: Path,
    *,
    source: str,
    data_label: str | None = None,
    manifest_path: Path | None = None,
    schemas: Iterable[str] = PUBLISHED_SCHEMAS,
) -> SnapshotResult:
    """Copy `schemas` of the warehouse at `db_path` into a new DuckDB file and rename it
    onto `<publish_dir>/margin_warehouse.duckdb`. The warehouse is opened read-only;
    on any error the temporary file is removed and the published snapshot is untouched."""
    started = time.perf_counter()
    schemas = tuple(schemas)
    db_path, publish_dir = Path(db_path), Path(publish_dir)
    if not db_path.exists():
        raise PublishError(
            f"no warehouse at {db_path}: run a refresh first (margin-wh refresh or demo)"
        )
    publish_dir.mkdir(parents=True, exist_ok=True)
    target = snapshot_path(publish_dir)
    tmp = publish_dir / f"{TMP_PREFIX}{os.getpid()}.tmp.duckdb"
    _remove(tmp)
    remove_stale_temporaries(publish_dir, f"{TMP_PREFIX}*.tmp.duckdb*")
    published_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    try:
        with duckdb.connect(":memory:") as con:
            con.execute(f"attach {_sql_string(db_path)} as warehouse (read_only)")
            reuse = _copy_previous(target, tmp)
            con.execute(
                f"attach {_sql_string(tmp)} as snapshot"
                + ("" if reuse else f" (storage_version {_sql_string(STORAGE_VERSION)})")
            )
            tables = list_tables(con, "warehouse", schemas)
            if not any(schema == "marts" for schema, _ in tables):
                raise PublishError(
                    f"the warehouse {db_path} has no tables in schema marts: build the "
                    "dbt models before publishing (margin-wh refresh)"
                )
            expected: dict[str, int] = {}
            previous = _previous_marts(con) if reuse else {}
            for schema in sorted({schema for schema, _ in tables}):
                con.execute(f"create schema if not exists snapshot.{_ident(schema)}")
            for schema, name in set(list_tables(con, "snapshot", schemas)) - set(tables):
                con.execute(f"drop table snapshot.{_ident(schema)}.{_ident(name)}")
            con.execute(f"drop table if exists snapshot.{INFO_TABLE}")
            for schema, name in tables:
                qualified = f"{_ident(schema)}.{_ident(name)}"
                _sync_table(con, qualified, SORT_ORDERS.get(name, ""))
                expected[f"{schema}.{name}"] = con.execute(
                    f"select count(*) from warehouse.{qualified}"
                ).fetchall()[0][0]
            comments = _apply_comments(con, "snapshot", tables, dbt_descriptions(manifest_path))
            freshness = _write_freshness(con, manifest_path, previous)
            # the market's last day as the marts show it; where the market mart was not
            # built, the day the raw data reached
            last_day = freshness.market_latest_day
            if ("marts", "fct_market_short_daily") in tables:
                last_day = con.execute(
                    "select max(trade_date) from snapshot.marts.fct_market_short_daily"
                ).fetchall()[0][0]
            con.execute(
                f"""
                create table snapshot.{INFO_TABLE} as
                select
                    cast(? as timestamp) as published_at_utc,
                    cast(? as varchar) as source,
                    cast(? as varchar) as data_label,
                    cast(? as date) as last_trade_date,
                    cast(? as varchar) as storage_version,
                    cast(? as varchar) as min_reader_duckdb_version,
                    cast(? as varchar) as written_by_duckdb_version
                """,
                [
                    published_at.replace(tzinfo=None),
                    source,
                    data_label,
                    last_day,
                    STORAGE_VERSION,
                    MIN_READER_VERSION,
                    duckdb.__version__,
                ],
            )
            con.execute("checkpoint snapshot")
            con.execute("detach snapshot")
            con.execute("detach warehouse")
        written = table_rows(tmp, schemas)
        if written != expected:
            raise PublishError(
                f"the snapshot copy does not match the warehouse: expected rows {expected}, "
                f"wrote {written}; the published snapshot was left as it was"
            )
        os.replace(tmp, target)
        _fsync_dir(publish_dir)
    except BaseException:
        _remove(tmp)
        raise
    return SnapshotResult(
        path=target,
        size_bytes=target.stat().st_size,
        storage_version=STORAGE_VERSION,
        tables=expected,
        last_trade_date=last_day,
        published_at=published_at,
        seconds=time.perf_counter() - started,
        comments=comments,
        schemas=schemas,
        freshness=freshness,
    )


def storage_version_of(path: Path) -> str:
    """The storage version tag DuckDB reports for the database file at `path`."""
    with duckdb.connect(":memory:") as con:
        con.execute(f"attach {_sql_string(path)} as probe (read_only)")
        tags = con.execute(
            "select tags from duckdb_databases() where database_name = 'probe'"
        ).fetchall()[0][0]
        con.execute("detach probe")
    return dict(tags).get("storage_version", "")
