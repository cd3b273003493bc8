"""Reading the published snapshot for research agents and notebooks: read-only, one
statement at a time, bounded in rows and time, and always saying what the data is.

The snapshot (`<publish_dir>/margin_warehouse.duckdb`, margin_wh/publish/snapshot.py) is
replaced by each publish with an atomic rename. Every request opens it anew, so a
long-running MCP server or notebook sees a new snapshot on its next call without a restart,
and a request already running keeps reading the file it opened (POSIX keeps a renamed-over
file alive while it is open). It is attached read-only to a private in-memory database —
never through DuckDB's per-process cache of open files, which would hand a later request
the file that was replaced — and then the connection is closed off with DuckDB's own
settings: `enable_external_access = false` (no file, network or extension access: read_csv,
read_parquet, httpfs, COPY, ATTACH, INSTALL all fail), then `lock_configuration = true` (no
SET can undo it). Statements are checked with DuckDB's parser before they run: only a
single SELECT (which includes WITH, VALUES, DESCRIBE, SHOW and SUMMARIZE) is accepted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from margin_wh.config import Settings
from margin_wh.publish.snapshot import (
    FRESHNESS_TABLE,
    INFO_TABLE,
    MART_FRESHNESS_TABLE,
    MISSING_SYMBOLS_TABLE,
    snapshot_path,
)

DEFAULT_TIMEOUT_S = 30.0
# Settings fixed before the configuration is locked: extensions are never fetched or
# loaded on demand (a query naming an https:// file would otherwise try to install httpfs).
_CONNECTION_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}

# Why each kind of statement is refused, in the words a user needs.
_READ_ONLY = "the snapshot is read-only: it is replaced by each publish, never changed in place"
_NO_SETTINGS = (
    "the connection's settings are fixed (read-only, no file, network or extension access)"
)
REFUSALS: dict[str, str] = {
    "INSERT": _READ_ONLY,
    "UPDATE": _READ_ONLY,
    "DELETE": _READ_ONLY,
    "MERGE_INTO": _READ_ONLY,
    "CREATE": _READ_ONLY,
    "CREATE_FUNC": _READ_ONLY,
    "DROP": _READ_ONLY,
    "ALTER": _READ_ONLY,
    "VACUUM": _READ_ONLY,
    "ANALYZE": _READ_ONLY,
    "TRANSACTION": _READ_ONLY,
    "ATTACH": "only the published snapshot is readable: ATTACH would open other databases",
    "DETACH": "the published snapshot stays attached",
    "COPY": "COPY reads or writes files: export from your own DuckDB session instead",
    "COPY_DATABASE": "COPY reads or writes files: export from your own DuckDB session instead",
    "EXPORT": "EXPORT writes files: export from your own DuckDB session instead",
    "SET": _NO_SETTINGS,
    "VARIABLE_SET": _NO_SETTINGS,
    "PRAGMA": _NO_SETTINGS,
    "LOAD": "extensions are not installed or loaded here (no file or network access)",
    "EXTENSION": "extensions are not installed or loaded here (no file or network access)",
    "UPDATE_EXTENSIONS": "extensions are not installed or loaded here (no file or network access)",
    "CALL": "CALL runs procedures (e.g. checkpoint): use SELECT … FROM a table function instead",
}


class SnapshotAccessError(RuntimeError):
    """A request the snapshot cannot answer; the message says why and what to do."""


class StatementRefused(SnapshotAccessError):
    pass


class QueryTimeout(SnapshotAccessError):
    pass


class QueryFailed(SnapshotAccessError):
    pass


class SnapshotMissing(SnapshotAccessError):
    pass


class MartNotInSnapshot(SnapshotAccessError):
    pass


def default_snapshot() -> Path:
    """The snapshot the warehouse's settings publish to (MARGIN_WH_PUBLISH, MARGIN_WH_HOME,
    MARGIN_WH_SOURCE: the same variables as every other command)."""
    return snapshot_path(Settings.from_env().publish_dir)


def check_read_only(sql: str, con: duckdb.DuckDBPyConnection | None = None) -> None:
    """Accept exactly one SELECT statement, as DuckDB's parser classifies it; raise
    StatementRefused naming the statement type and why otherwise. `con`: the request's own
    connection (requests run on worker threads; DuckDB's module-level default is shared)."""
    try:
        statements = (con or duckdb).extract_statements(sql)
    except duckdb.Error as error:
        raise QueryFailed(f"DuckDB could not parse the query: {error}") from None
    if not statements:
        raise StatementRefused("expected one SELECT statement, got no statement")
    if len(statements) > 1:
        kinds = ", ".join(s.type.name for s in statements)
        raise StatementRefused(
            f"expected one SELECT statement, got {len(statements)} ({kinds}): "
            "send one statement per call"
        )
    kind = statements[0].type.name
    if kind != "SELECT":
        reason = REFUSALS.get(kind, "only SELECT statements are answered")
        raise StatementRefused(
            f"refused a {kind} statement: {reason}. Only one SELECT statement (WITH, "
            "DESCRIBE, SHOW and SUMMARIZE included) is answered, on the published snapshot."
        )


@contextlib.contextmanager
def open_snapshot(path: Path | str) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the snapshot at `path` as it is now: read-only, no file, network or
    extension access, configuration locked. Closed on exit."""
    path = Path(path)
    if not path.is_file():
        raise SnapshotMissing(
            f"no published snapshot at {path}: build and publish one (`margin-wh demo`, or "
            "`margin-wh refresh` on a live warehouse), or point to one with --snapshot "
            "(MCP server) / snapshot= (Python) / MARGIN_WH_PUBLISH"
        )
    con = duckdb.connect(":memory:", config=_CONNECTION_CONFIG)
    try:
        try:
            con.execute("attach ? as snapshot (read_only)", [str(path)])
        except duckdb.Error as error:
            raise SnapshotMissing(f"could not open the snapshot {path}: {error}") from None
        con.execute("use snapshot")
        con.execute("set enable_external_access = false")
        con.execute("set lock_configuration = true")
        yield con
    finally:
        con.close()


@dataclass(frozen=True)
class StaleDataset:
    dataset: str  # the akshare function's raw table, e.g. stock_margin_detail_szse
    last_trade_date: dt.date | None
    stale_since: dt.date | None


@dataclass(frozen=True)
class MissingSymbols:
    """The symbols of one per-symbol dataset that could not load (main.missing_symbols)."""

    dataset: str  # e.g. fund_etf_hist_sina
    symbols: tuple[str, ...]  # sorted
    first_missing_day: dt.date | None  # the earliest day any of them lacks


@dataclass(frozen=True)
class StaleMart:
    """A mart without current data (main.mart_freshness): not built, or behind."""

    mart: str
    is_missing: bool  # not built in the warehouse, so not in the snapshot
    last_trade_date: dt.date | None
    stale_since: dt.date | None
    status: str  # why, in a sentence fragment, as the publish step wrote it


# The symbols a data note names before it says how many more the table holds.
NOTE_SYMBOLS = 10


def _symbols_note(missing: MissingSymbols) -> str:
    shown = ", ".join(missing.symbols[:NOTE_SYMBOLS])
    more = len(missing.symbols) - NOTE_SYMBOLS
    return (
        f"{missing.dataset} {len(missing.symbols)} ({shown}"
        + (f" and {more} more, in {MISSING_SYMBOLS_TABLE}" if more > 0 else "")
        + (f"; missing since {missing.first_missing_day}" if missing.first_missing_day else "")
        + ")"
    )


@dataclass(frozen=True)
class SnapshotInfo:
    """Where the snapshot's data comes from, as the publish step recorded it."""

    path: Path
    source: str | None  # "demo" (synthetic) or "akshare" (live); None: not recorded
    data_label: str | None
    published_at_utc: dt.datetime | None
    last_trade_date: dt.date | None
    stale_datasets: tuple[StaleDataset, ...] = ()
    missing_symbols: tuple[MissingSymbols, ...] = ()
    stale_marts: tuple[StaleMart, ...] = ()

    def mart_status(self, mart: str) -> StaleMart | None:
        """What the publish recorded of `mart` when it has no current data; None otherwise."""
        return next((m for m in self.stale_marts if m.mart == mart), None)

    @property
    def is_synthetic(self) -> bool | None:
        return None if self.source is None else self.source == "demo"

    @property
    def note(self) -> str:
        """One paragraph on what the data is, for the top of every answer."""
        if self.source is None:
            what = (
                "SOURCE UNKNOWN: this snapshot records no source (main.snapshot_info is "
                "missing); do not take it for market data before checking where it came from."
            )
        elif self.source == "demo":
            what = f"{self.data_label or 'SYNTHETIC DEMO DATA'}. Every number is synthetic."
        else:
            what = f"Market data from the live {self.source} source (the exchanges' published figures)."
        published = (
            f" Snapshot published {self.published_at_utc:%Y-%m-%d %H:%M} UTC"
            if self.published_at_utc
            else " Snapshot"
        )
        through = f", trading days up to {self.last_trade_date}." if self.last_trade_date else "."
        stale = "".join(
            f" Lagging: {s.dataset} ends {s.last_trade_date}"
            + (f" (missing since {s.stale_since})." if s.stale_since else ".")
            for s in self.stale_datasets
        )
        symbols = (
            " Symbols that could not load: " + "; ".join(_symbols_note(m) for m in self.missing_symbols) + "."
            if self.missing_symbols
            else ""
        )
        missing = [m for m in self.stale_marts if m.is_missing]
        behind = [m for m in self.stale_marts if not m.is_missing]
        marts = (
            " Not in this snapshot: " + "; ".join(f"marts.{m.mart}, {m.status}" for m in missing) + "."
            if missing
            else ""
        ) + (
            " Stale marts: " + "; ".join(f"marts.{m.mart} {m.status}" for m in behind) + "."
            if behind
            else ""
        )
        return what + published + through + stale + symbols + marts

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "source": self.source,
            "is_synthetic": self.is_synthetic,
            "data_label": self.data_label,
            "published_at_utc": self.published_at_utc.isoformat()
            if self.published_at_utc
            else None,
            "last_trade_date": self.last_trade_date.isoformat() if self.last_trade_date else None,
            "stale_datasets": [
                {
                    "dataset": s.dataset,
                    "last_trade_date": s.last_trade_date.isoformat() if s.last_trade_date else None,
                    "stale_since": s.stale_since.isoformat() if s.stale_since else None,
                }
                for s in self.stale_datasets
            ],
            "missing_symbols": [
                {
                    "dataset": m.dataset,
                    "symbols": list(m.symbols),
                    "first_missing_day": m.first_missing_day.isoformat()
                    if m.first_missing_day
                    else None,
                }
                for m in self.missing_symbols
            ],
            "stale_marts": [
                {
                    "mart": m.mart,
                    "is_missing": m.is_missing,
                    "last_trade_date": m.last_trade_date.isoformat() if m.last_trade_date else None,
                    "stale_since": m.stale_since.isoformat() if m.stale_since else None,
                    "status": m.status,
                }
                for m in self.stale_marts
            ],
        }


def _has_table(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, name = qualified.split(".", 1)
    return bool(
        con.execute(
            "select count(*) from information_schema.tables "
            "where table_catalog = current_database() and table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchall()[0][0]
    )


def read_snapshot_info(con: duckdb.DuckDBPyConnection, path: Path) -> SnapshotInfo:
    """The provenance rows the publish step writes (snapshot_info, dataset_freshness,
    missing_symbols, mart_freshness); a table an older snapshot lacks reads as empty."""
    source = label = published = last = None
    if _has_table(con, INFO_TABLE):
        rows = con.execute(
            f"select source, data_label, published_at_utc, last_trade_date from {INFO_TABLE}"
        ).fetchall()
        if rows:
            source, label, published, last = rows[0]
    stale: tuple[StaleDataset, ...] = ()
    if _has_table(con, FRESHNESS_TABLE):
        stale = tuple(
            StaleDataset(*row)
            for row in con.execute(
                f"select dataset, last_trade_date, stale_since from {FRESHNESS_TABLE} "
                "where is_stale order by dataset"
            ).fetchall()
        )
    missing: tuple[MissingSymbols, ...] = ()
    if _has_table(con, MISSING_SYMBOLS_TABLE):
        missing = tuple(
            MissingSymbols(dataset, tuple(symbols), first)
            for dataset, symbols, first in con.execute(
                "select dataset, list(symbol order by symbol), min(first_missing_day) "
                f"from {MISSING_SYMBOLS_TABLE} group by dataset order by dataset"
            ).fetchall()
        )
    marts: tuple[StaleMart, ...] = ()
    if _has_table(con, MART_FRESHNESS_TABLE):
        marts = tuple(
            StaleMart(*row)
            for row in con.execute(
                "select mart, is_missing, last_trade_date, stale_since, status "
                f"from {MART_FRESHNESS_TABLE} where is_missing or is_stale "
                "order by is_missing desc, mart"
            ).fetchall()
        )
    return SnapshotInfo(Path(path), source, label, published, last, stale, missing, marts)


def mart_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The tables of schema marts in the snapshot, sorted."""
    return [
        name
        for (name,) in con.execute(
            "select table_name from information_schema.tables "
            "where table_catalog = current_database() and table_schema = 'marts' order by 1"
        ).fetchall()
    ]


def require_mart(con: duckdb.DuckDBPyConnection, info: SnapshotInfo, mart: str) -> None:
    """Raise MartNotInSnapshot, naming what the snapshot holds, when `mart` is absent."""
    present = mart_names(con)
    if mart not in present:
        published = (
            f"published {info.published_at_utc:%Y-%m-%d %H:%M} UTC"
            if info.published_at_utc
            else "of unknown date"
        )
        status = info.mart_status(mart)
        why = (
            f": the warehouse it was published from has not built it ({status.status})"
            if status is not None and status.is_missing
            else ""
        )
        raise MartNotInSnapshot(
            f"marts.{mart} is not in this snapshot ({info.path}, {published}){why}; it has "
            f"{', '.join(present) or 'no marts'}. A warehouse that builds marts.{mart} "
            "publishes it with its next refresh; list_marts shows what can be asked now."
        )


@dataclass(frozen=True)
class Answer:
    """One answer from the snapshot: the rows (an Arrow table, exact types), each column's
    unit, where the data comes from, and the SQL and parameters that produced it, so the
    same query can be run directly."""

    title: str
    table: pa.Table
    units: dict[str, str | None]
    snapshot: SnapshotInfo
    sql: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    row_limit: int | None = None
    truncated: bool = False

    @property
    def column_types(self) -> dict[str, str]:
        return {f.name: str(f.type) for f in self.table.schema}

    def rows(self) -> list[dict[str, Any]]:
        """The rows as JSON-ready dicts (dates as ISO text, decimals as numbers, NaN as null)."""
        return [{k: json_value(v) for k, v in row.items()} for row in self.table.to_pylist()]

    def to_pandas(self):
        """A pandas DataFrame converted as DuckDB converts a result (`.df()`): the same
        frame a notebook gets running `sql` itself. `attrs` holds the units, the data note,
        whether the data is synthetic, the snapshot and the SQL."""
        with duckdb.connect(":memory:") as con:
            frame = con.from_arrow(self.table).df()
        frame.attrs.update(
            {
                "title": self.title,
                "units": dict(self.units),
                "data_note": self.snapshot.note,
                "is_synthetic": self.snapshot.is_synthetic,
                "snapshot": self.snapshot.as_dict(),
                "sql": self.sql,
                "params": dict(self.params),
                "truncated": self.truncated,
            }
        )
        return frame

    def to_polars(self):
        """A polars DataFrame of the same rows (polars keeps no metadata: the units and the
        data note are in margin_wh.read.snapshot_info() and describe_mart())."""
        try:
            import polars
        except ImportError:
            raise ImportError(
                "as_polars=True needs polars, which is not installed here: "
                "`pip install polars`, or leave as_polars=False for pandas"
            ) from None
        return polars.from_arrow(self.table)


def json_value(value: Any) -> Any:
    """A value of a DuckDB result as JSON takes it: dates and times as ISO text, decimals as
    int or float, NaN and infinities as null (JSON has none), bytes as hex."""
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    return value


def fetch(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    params: Mapping[str, Any] | None = None,
    *,
    limit: int | None,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
) -> tuple[pa.Table, bool]:
    """Run one checked SELECT; return at most `limit` rows and whether more there were.
    DuckDB has no statement timeout: a timer interrupts the connection instead."""
    check_read_only(sql, con)
    if limit is not None and limit < 1:
        raise QueryFailed(f"limit must be at least 1 row, got {limit}")
    timer = threading.Timer(timeout_s, con.interrupt) if timeout_s else None
    if timer:
        timer.daemon = True
        timer.start()
    try:
        relation = con.sql(sql, params=dict(params or {}))
        if limit is not None:
            relation = relation.limit(limit + 1)
        table = relation.to_arrow_table()
    except duckdb.InterruptException:
        raise QueryTimeout(
            f"the query ran longer than {timeout_s:g} s and was stopped: narrow it (a date "
            "range, fewer securities, an aggregate) or allow more time (timeout_s)"
        ) from None
    except duckdb.PermissionException as error:
        raise StatementRefused(
            "refused: the query reads a file, a URL or an extension, and only the published "
            f"snapshot's tables are readable here (DuckDB: {str(error).splitlines()[0]})"
        ) from None
    except duckdb.Error as error:
        raise QueryFailed(f"DuckDB could not run the query: {error}") from None
    finally:
        if timer:
            timer.cancel()
    truncated = limit is not None and table.num_rows > limit
    return (table.slice(0, limit) if truncated else table), truncated
