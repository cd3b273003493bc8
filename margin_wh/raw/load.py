"""Raw loading: fetch each call, validate it, replace the trading days it covers in
`raw.<function>` in one transaction, then accept the frames into the landing zone.

A load never appends: it deletes the days (and symbols) its calls cover and inserts the
new rows in the same transaction, so re-running a day changes nothing and a reader never
sees half a day. Replay runs the same `load_frames` over the landing zone alone.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import duckdb
import numpy as np
import pandas as pd

from margin_wh.calendar import trading_days_between
from margin_wh.leftovers import remove_leftovers
from margin_wh.raw import identities, landing
from margin_wh.sources.akshare_source import SourceUnavailableError
from margin_wh.sources.datasets import MARGIN_DETAIL_FUNCTIONS, Dataset
from margin_wh.sources.parse import (
    SourceDataError,
    describe_call,
    frame_notes,
    parse_frame,
    units_arrived,
)

RAW_SCHEMA = "raw"
# Calls committed in one transaction during a backfill. An outage loses only the call in
# flight (the frames fetched before it are loaded first); a kill loses at most the frames
# of this many calls, and a refused frame refuses the ones fetched with it.
CALLS_PER_COMMIT = 25
_DUCKDB_TYPES = {"text": "VARCHAR", "code": "VARCHAR", "number": "DOUBLE", "date": "DATE"}
# One symbol a site does not know (a fund Sina lacks, a stock whose history call raises)
# is set aside and named, and the rest load. So many in a row is the host refusing us or
# a changed page, not a few odd symbols: the dataset stops rather than spend a call on
# every remaining symbol.
SYMBOL_FAILURES_IN_A_ROW_MAX = 10
MISSING_SYMBOLS_TABLE = "meta.missing_symbols"


class Source(Protocol):
    name: str

    def call(self, function: str, **kwargs: Any) -> pd.DataFrame: ...

    def can_snapshot(self, day: dt.date, calendar: Sequence[dt.date]) -> bool:
        """Whether a snapshot dataset can be taken now as of the close of `day`."""
        ...

    def snapshot(self, function: str, day: dt.date) -> pd.DataFrame:
        """A snapshot dataset's frame as taken after the close of `day`."""
        ...


SNAPSHOT_LABEL = "as_of"  # names a snapshot's landing file: the call itself has no arguments


@dataclass(frozen=True)
class Request:
    kwargs: dict[str, Any]  # the akshare arguments
    window: tuple[dt.date, dt.date] | None  # trading days this call answers for
    trade_day: dt.date | None = None  # set for one-day calls
    snapshot: bool = False  # f() called after the close of trade_day, no arguments
    full_history: bool = False  # f(symbol=) answers with every day, for `window` only

    @property
    def landing_kwargs(self) -> dict[str, Any]:
        """What is recorded as the call's arguments (and names its landing file)."""
        if self.snapshot and self.trade_day is not None:
            return {SNAPSHOT_LABEL: yyyymmdd(self.trade_day)}
        return self.kwargs

    @property
    def landing_name(self) -> dict[str, Any]:
        """What names the call's landing file: its arguments and, for a full-history call,
        the window it was made for, which its arguments do not say."""
        # Each such call answers for its own window: a later call of the symbol lands
        # beside it, not over it, so replay still has the rows each put in raw.
        if self.full_history and self.window is not None:
            return {**self.landing_kwargs, landing.WINDOW_LABEL: landing.window_name(self.window)}
        return self.landing_kwargs


@dataclass(frozen=True)
class ParsedFrame:
    landed: landing.LandedFrame  # provenance (the frame itself is the typed one below)
    rows: pd.DataFrame
    pending: Path | None = None  # fetched but not yet accepted into the landing zone
    notes: tuple[str, ...] = ()  # what validation noticed and let pass


@dataclass(frozen=True)
class SymbolFailure:
    """One symbol of a per-symbol dataset that gave no usable frame for its window."""

    symbol: str
    window: tuple[dt.date, dt.date]
    reason: str


@dataclass
class LoadResult:
    function: str
    rows_written: int = 0
    trading_days: list[dt.date] = field(default_factory=list)
    files: int = 0
    notes: list[str] = field(default_factory=list)  # for the run's log: let pass, not refused
    skipped_calls: int = 0  # already landed and loaded by an earlier run: not made again
    missing_symbols: list[SymbolFailure] = field(default_factory=list)  # set aside, named
    symbols_loaded: set[str] = field(default_factory=set)

    def add(self, other: LoadResult) -> None:
        self.rows_written += other.rows_written
        self.trading_days = sorted(set(self.trading_days) | set(other.trading_days))
        self.files += other.files
        self.notes += other.notes
        self.missing_symbols += other.missing_symbols
        self.symbols_loaded |= other.symbols_loaded

    @property
    def date_range(self) -> str:
        if not self.trading_days:
            return "-"
        return f"{min(self.trading_days)} .. {max(self.trading_days)}"


def yyyymmdd(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


def plan_requests(
    dataset: Dataset,
    trading_days: Sequence[dt.date],
    symbols: Sequence[str] = (),
    symbol_windows: dict[str, tuple[dt.date, dt.date]] | None = None,
) -> list[Request]:
    """The akshare calls that cover `trading_days` (sorted, non-empty) for a dataset; a
    symbol in `symbol_windows` is asked for its own window instead (one set aside by an
    earlier run, asked for again from its first missing day)."""
    fixed = dict(dataset.fixed_kwargs)
    if symbol_windows and dataset.request_columns == ("symbol",):
        default = (trading_days[0], trading_days[-1]) if trading_days else None
        requests = []
        for symbol in symbols:
            window = symbol_windows.get(symbol, default)
            if window is None:
                continue
            days = trading_days_between(trading_days, *window) or [window[0], window[1]]
            requests += plan_requests(dataset, days, [symbol])
        return requests
    if dataset.call == "static":
        return [Request(kwargs=fixed, window=None)]
    if not trading_days:
        raise ValueError(f"{dataset.function}: no trading days to load")
    first, last = trading_days[0], trading_days[-1]
    window = (first, last)
    if dataset.call == "per_day":
        return [Request({"date": yyyymmdd(d), **fixed}, (d, d), trade_day=d) for d in trading_days]
    if dataset.call == "range":
        step = dataset.days_per_call or len(trading_days)
        windows = [(trading_days[i], trading_days[min(i + step, len(trading_days)) - 1])
                   for i in range(0, len(trading_days), step)]  # fmt: skip
        return [
            Request({"start_date": yyyymmdd(a), "end_date": yyyymmdd(b), **fixed}, (a, b))
            for a, b in windows
        ]
    if dataset.call == "per_symbol_range":
        return [
            Request(
                {"symbol": s, "start_date": yyyymmdd(first), "end_date": yyyymmdd(last), **fixed},
                window,
            )
            for s in symbols
        ]
    if dataset.call == "per_symbol_full":
        return [Request({"symbol": s, **fixed}, window, full_history=True) for s in symbols]
    if dataset.call == "snapshot":
        return [
            Request(dict(fixed), (d, d), trade_day=d, snapshot=True)
            for d in trading_days
        ]
    raise ValueError(f"unknown call pattern {dataset.call!r}")


def already_landed(
    dataset: Dataset,
    request: Request,
    landing_dir: Path,
    symbol_windows: dict[str, list[tuple[dt.date, dt.date]]] | None = None,
) -> bool:
    """Whether an earlier run made this call and loaded its frame: a frame is accepted into
    the landing zone only once its rows are committed. A per-symbol call counts as made
    when any landed call of that symbol was fetched for a window covering this one (a
    backfill's, say: a refresh of a few of its days makes no Sina call again). Static
    datasets (the calendar, the industries) are always fetched: one call each, and they
    change without notice. `symbol_windows`: landing.landed_symbol_windows, read once."""
    if dataset.call == "static":
        return False
    if dataset.request_columns == ("symbol",):
        if symbol_windows is None:
            symbol_windows = landing.landed_symbol_windows(landing_dir, dataset.function)
        wanted = request.window
        return bool(wanted) and any(
            first <= wanted[0] and wanted[1] <= last
            for first, last in symbol_windows.get(request.kwargs["symbol"], [])
        )
    return landing.landing_path(landing_dir, dataset.function, request.landing_name).exists()


def pending_requests(
    dataset: Dataset,
    trading_days: Sequence[dt.date],
    landing_dir: Path,
    symbols: Sequence[str] = (),
    refetch: bool = False,
    con: duckdb.DuckDBPyConnection | None = None,
    symbol_windows: dict[str, tuple[dt.date, dt.date]] | None = None,
) -> tuple[list[Request], int]:
    """The calls a load still has to make, and how many it can skip: landed, and (with
    `con`) held by this warehouse, so a new warehouse beside an old landing zone calls
    again rather than skipping what it does not hold."""
    planned = plan_requests(dataset, trading_days, symbols, symbol_windows)
    if refetch or not planned:
        return planned, 0
    windows = (
        landing.landed_symbol_windows(landing_dir, dataset.function)
        if dataset.request_columns == ("symbol",)
        else None
    )
    held = _held(con, dataset, planned) if con is not None else None
    todo = [
        r
        for r in planned
        if not already_landed(dataset, r, landing_dir, windows)
        or (held is not None and not held(r))
    ]
    return todo, len(planned) - len(todo)


def _held(con: duckdb.DuckDBPyConnection, dataset: Dataset, requests: Sequence[Request]):
    """A test of whether raw.<function> holds a request's rows: every day of a one-day
    call; some row of the symbol in the window for a per-symbol call; the window's first
    and last day for a range call."""
    if dataset.call == "static":
        return lambda request: True
    first = min(r.window[0] for r in requests if r.window)
    last = max(r.window[1] for r in requests if r.window)
    days = loaded_days(con, dataset.function, first, last)
    if dataset.request_columns == ("symbol",):
        symbols = (
            {row[0] for row in con.execute(
                f"select distinct symbol from {RAW_SCHEMA}.{dataset.function} "
                "where trade_date between ? and ?", [first, last]).fetchall()}
            if days else set()
        )  # fmt: skip
        return lambda request: request.kwargs["symbol"] in symbols
    return lambda request: request.window[0] in days and request.window[1] in days


def commit_groups(requests: Sequence[Request]) -> list[list[Request]]:
    """The calls loaded in one transaction: blocks of trading days or of symbols."""
    step = CALLS_PER_COMMIT
    return [list(requests[i : i + step]) for i in range(0, len(requests), step)]


def fetch(
    source: Source,
    dataset: Dataset,
    requests: Sequence[Request],
    landing_dir: Path,
    on_call: Callable[[Request], None] | None = None,
    keep_on_call_failure: bool = False,
    retried: dict[str, tuple[dt.date, dt.date]] | None = None,
) -> FetchedFrames:
    """Call the source for every request; write each frame beside its landing file; validate.

    For a per-symbol dataset, a symbol whose call fails (other than the host failing) or
    whose frame is refused is set aside in `.symbol_failures` and the others go on
    (`retried`: the symbols an earlier run set aside, and since when).

    A frame that fails validation is moved to `_rejected/` and the whole fetch fails:
    nothing is loaded for these requests, and what was loaded before stays. A call that
    fails (the host is down) fails the fetch too, unless `keep_on_call_failure`: then
    the frames fetched before it are returned, with the error as `.call_failure` of the
    last one's list, so they can be loaded before it is raised. The frames returned are
    still pending: `ingest` accepts them into the landing zone only once they are loaded,
    so the landing zone never holds a frame the raw tables do not (replay would load it)
    and a refused re-fetch never overwrites a loaded frame.
    """
    parsed: FetchedFrames = FetchedFrames()
    retried = retried or {}
    per_symbol = dataset.request_columns == ("symbol",)
    in_a_row = 0  # symbols set aside since the last one that loaded
    try:
        for request in requests:
            try:
                if request.snapshot:
                    frame = source.snapshot(dataset.function, request.trade_day)
                else:
                    frame = source.call(dataset.function, **request.kwargs)
            except Exception as error:
                stop: BaseException | None = error
                if per_symbol and not host_is_failing(error):  # that symbol, not its host
                    in_a_row, stop = _set_aside(parsed, dataset, request, str(error), in_a_row,
                                                retried.get(request.kwargs["symbol"]))  # fmt: skip
                if on_call:
                    on_call(request)
                if stop is None:
                    continue
                return _stopped(parsed, stop, keep_on_call_failure)
            fetched_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            pending = landing.write_pending(
                landing_dir,
                dataset.function,
                request.landing_kwargs,
                frame,
                source.name,
                fetched_at,
                request.window,
                name=request.landing_name,
            )
            try:
                rows = parse_request_frame(dataset, frame, request)
            except SourceDataError as error:
                reason = f"{error} [frame kept in {landing.reject(pending, str(error))}]"
                if on_call:
                    on_call(request)
                if per_symbol:  # that symbol's frame only
                    in_a_row, stop = _set_aside(parsed, dataset, request, reason, in_a_row,
                                                retried.get(request.kwargs["symbol"]))  # fmt: skip
                elif keep_on_call_failure:  # that day only: the other calls' days still load
                    parsed.refusals.append(reason)
                    stop = None
                else:
                    stop = SourceDataError(reason)
                if stop is None:
                    continue
                return _stopped(parsed, stop, keep_on_call_failure)
            except BaseException:
                pending.unlink(missing_ok=True)
                raise
            in_a_row = 0
            final = landing.landing_path(landing_dir, dataset.function, request.landing_name)
            landed = landing.LandedFrame(
                dataset.function,
                request.landing_kwargs,
                source.name,
                fetched_at,
                request.window,
                final,
                frame,
            )
            parsed.append(ParsedFrame(landed, rows, pending, tuple(frame_notes(rows))))
            if on_call:
                on_call(request)
    except BaseException:
        _discard(parsed)
        raise
    return parsed


def _stopped(parsed: FetchedFrames, error: BaseException, keep: bool) -> FetchedFrames:
    """A fetch ended by `error`: with `keep`, the frames fetched before it, to be loaded
    before the error is raised; otherwise the error."""
    if keep and (parsed or parsed.symbol_failures or parsed.refusals):
        parsed.call_failure = error
        return parsed
    raise error


class FetchedFrames(list):
    """The frames of a fetch, the call failure that ended it early, if any, and the
    symbols set aside (a per-symbol dataset's calls that gave no usable frame)."""

    call_failure: BaseException | None = None

    def __init__(self, *args):
        super().__init__(*args)
        self.symbol_failures: list[SymbolFailure] = []
        self.refusals: list[str] = []  # frames refused on their own, each kept in _rejected/


def host_is_failing(error: BaseException) -> bool:
    """Whether a failed call says the host is down, slow or blocking us (every call to it
    would fail alike), as opposed to one symbol it cannot answer for."""
    return isinstance(error, SourceUnavailableError)


def _set_aside(
    parsed: FetchedFrames,
    dataset: Dataset,
    request: Request,
    reason: str,
    in_a_row: int,
    retried: tuple[dt.date, dt.date] | None,
) -> tuple[int, SourceDataError | None]:
    """Record a symbol that gave no usable frame; return the symbols set aside in a row
    and, when that is too many, the error that stops the fetch. A symbol already missing
    before this run (`retried`) does not count: it is known not to answer."""
    parsed.symbol_failures.append(SymbolFailure(request.kwargs["symbol"], request.window, reason))
    if retried is not None:
        return in_a_row, None
    in_a_row += 1
    if in_a_row < SYMBOL_FAILURES_IN_A_ROW_MAX:
        return in_a_row, None
    return in_a_row, SourceDataError(
        f"{dataset.function}: {in_a_row} symbols in a row gave no usable frame, the last "
        f"{describe_call(dataset.function, request.kwargs)}: {reason} — the host is refusing "
        "us or its pages changed; stopped rather than call for every other symbol"
    )


def _discard(parsed: Sequence[ParsedFrame]) -> None:
    """Drop fetched frames that will not be loaded (the load they belong to failed)."""
    for item in parsed:
        if item.pending is not None:
            item.pending.unlink(missing_ok=True)


def parse_request_frame(dataset: Dataset, frame: pd.DataFrame, request: Request) -> pd.DataFrame:
    # One security's quotes may be empty for a window (suspended all along); the
    # dataset as a whole must still cover every trading day, checked in load_frames.
    if dataset.call == "per_symbol_range" and isinstance(frame, pd.DataFrame) and frame.empty:
        if list(frame.columns) == dataset.column_names:
            return _empty_typed(dataset)
    return parse_frame(dataset, frame, request.kwargs, request.trade_day)


def _empty_typed(dataset: Dataset) -> pd.DataFrame:
    columns = dataset.column_names + ["trade_date", *dataset.request_columns]
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


def replay_parsed(dataset: Dataset, landing_dir: Path) -> list[ParsedFrame]:
    """Every accepted landing file of a dataset, parsed again, oldest fetch first."""
    parsed = []
    for path in landing.landed_files(landing_dir, dataset.function):
        landed = landing.read_landed(path)
        request = Request(
            landed.kwargs,
            landed.window,
            trade_day=landed.window[0]
            if dataset.call in ("per_day", "snapshot") and landed.window
            else None,
        )
        rows = parse_request_frame(dataset, landed.frame, request)
        parsed.append(ParsedFrame(landed, rows, notes=tuple(frame_notes(rows))))
    return sorted(parsed, key=lambda p: (p.landed.fetched_at, str(p.landed.path)))


def ensure_raw_table(con: duckdb.DuckDBPyConnection, dataset: Dataset) -> None:
    columns = [f'"{c.name}" {_DUCKDB_TYPES[c.kind]}' for c in dataset.columns]
    if dataset.partitioned and "trade_date" not in dataset.column_names:
        columns.append("trade_date DATE")
    columns += [f"{name} VARCHAR" for name in dataset.request_columns]
    columns += ["_source VARCHAR", "_fetched_at TIMESTAMP", "_landing_file VARCHAR"]
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}.{dataset.function} ({', '.join(columns)})"
    )
    if has_disputed_units(dataset):  # a table made before the column existed gains it
        con.execute(f"ALTER TABLE {RAW_SCHEMA}.{dataset.function} "
                    f"ADD COLUMN IF NOT EXISTS {UNITS_ARRIVED_COLUMN} VARCHAR")  # fmt: skip


# Which unit each disputed column of a row arrived in (JSON), for a dataset whose
# columns the sources disagree on (Column.also_arrives_in): values are stored converted.
UNITS_ARRIVED_COLUMN = "_units_arrived"


def has_disputed_units(dataset: Dataset) -> bool:
    return any(column.also_arrives_in for column in dataset.columns)


def load_frames(
    con: duckdb.DuckDBPyConnection,
    dataset: Dataset,
    parsed: Sequence[ParsedFrame],
    trading_days: Sequence[dt.date],
    landing_dir: Path,
    replace_all: bool = False,
    check_complete: bool = True,
    own_transaction: bool = True,
) -> LoadResult:
    """Replace, in one transaction, what `parsed` covers in raw.<function> (the caller's,
    with own_transaction=False: replay changes every table or none).

    Scope of a call = the trading days of its window × its request columns (symbol).
    Where calls overlap (replay of several backfills), the latest fetch wins.
    """
    result = LoadResult(dataset.function, files=len(parsed))
    result.notes = [note for item in parsed for note in item.notes]
    if not parsed:  # nothing fetched or landed: leave the table as it is
        return result
    table = f"{RAW_SCHEMA}.{dataset.function}"
    keys = ["trade_date", *dataset.request_columns]
    calendar = set(trading_days)

    # One concat, provenance by np.repeat: a daily quote load is thousands of tiny frames.
    lengths = [len(item.rows) for item in parsed]
    incoming = pd.concat([item.rows for item in parsed], ignore_index=True)
    incoming["_order"] = np.repeat(np.arange(len(parsed)), lengths)
    incoming["_source"] = np.repeat([item.landed.source for item in parsed], lengths)
    incoming["_fetched_at"] = pd.to_datetime(
        np.repeat([pd.Timestamp(item.landed.fetched_at) for item in parsed], lengths)
    )
    incoming["_landing_file"] = np.repeat(
        [str(Path(item.landed.path).relative_to(landing_dir)) for item in parsed], lengths
    )
    if has_disputed_units(dataset):
        incoming[UNITS_ARRIVED_COLUMN] = np.repeat(
            [json.dumps(units_arrived(item.rows), ensure_ascii=False) for item in parsed], lengths
        )
    if dataset.partitioned:
        incoming, scope = _scope_rows(
            dataset, parsed, incoming, trading_days, calendar, result.notes
        )

    if dataset.partitioned:
        if _calls_overlap(dataset, parsed):  # replay of several backfills: latest wins
            winner = scope.groupby(keys, as_index=False)["_order"].max()
            incoming = incoming.merge(winner, on=[*keys, "_order"], how="inner")
        else:  # a fetch: every row is its own call's, no resolving needed (10M-row backfills)
            winner = scope
        if check_complete:
            _check_complete(dataset, incoming, winner, keys)
        if dataset.moves_daily:
            _refuse_repeated_days(con, dataset, incoming)
        result.trading_days = sorted(set(winner["trade_date"]))
    else:
        # Static datasets: the latest call is the whole table.
        incoming = incoming[incoming["_order"] == incoming["_order"].max()]
    incoming = incoming.drop(columns=["_order"])

    ensure_raw_table(con, dataset)
    if own_transaction:
        con.execute("BEGIN TRANSACTION")
    try:
        if dataset.partitioned and not replace_all:
            con.register("load_scope", winner[keys])
            match = " AND ".join(f"t.{k} = s.{k}" for k in keys)
            con.execute(f"DELETE FROM {table} AS t USING load_scope AS s WHERE {match}")
        else:
            con.execute(f"DELETE FROM {table}")
        con.register("load_incoming", incoming)
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM load_incoming")
        if own_transaction:
            con.execute("COMMIT")
    except Exception:
        if own_transaction:
            con.execute("ROLLBACK")
        raise
    finally:
        for view in ("load_scope", "load_incoming"):
            try:
                con.unregister(view)
            except Exception:  # noqa: BLE001 - view may not be registered
                pass
    result.rows_written = len(incoming)
    return result


def _scope_rows(
    dataset: Dataset,
    parsed: Sequence[ParsedFrame],
    incoming: pd.DataFrame,
    trading_days: Sequence[dt.date],
    calendar: set[dt.date],
    notes: list[str],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check the rows against their calls' windows; return the rows to load and the scope
    (trading day × request columns, per call) whose rows the load replaces. Rows a
    dataset may carry on non-trading days (Sina's) are dropped, each named in `notes`."""
    windows = [item.landed.window for item in parsed]
    for item, window in zip(parsed, windows, strict=True):
        if window is None:
            raise ValueError(f"{item.landed.path}: no trading-day window recorded")
    order = incoming["_order"].to_numpy()
    day = pd.to_datetime(incoming["trade_date"]).to_numpy().astype("datetime64[D]")
    first = np.array([np.datetime64(w[0], "D") for w in windows])[order]
    last = np.array([np.datetime64(w[1], "D") for w in windows])[order]
    in_window = (day >= first) & (day <= last)
    trading = incoming["trade_date"].isin(calendar).to_numpy()
    keep = in_window & trading
    if dataset.drops_non_trading_rows:
        stray = in_window & ~trading
        for i in np.flatnonzero(stray)[:20]:
            call = describe_call(dataset.function, parsed[order[i]].landed.kwargs)
            notes.append(
                f"{call}: dropped its row dated {incoming['trade_date'].iloc[i]}, not a trading "
                "day (Sina merges share-count change dates into its bars)"
            )
        if stray.sum() > 20:
            notes.append(f"{dataset.function}: {stray.sum() - 20} more such rows dropped")
        trading = trading | stray  # accounted for: not an error
    # Full-history calls (spot indices) answer for more than we asked: keep the window.
    if dataset.call != "per_symbol_full":
        for bad, problem in (
            (~in_window, "rows dated outside the window {0} .. {1}: {2}"),
            (~trading, "rows dated on non-trading days {2} (trading calendar out of date?)"),
        ):
            if bad.any():
                item = parsed[order[bad.argmax()]]
                dates = sorted({str(d) for d in incoming.loc[bad, "trade_date"]})[:5]
                call = describe_call(dataset.function, item.landed.kwargs)
                raise SourceDataError(
                    f"{call}: " + problem.format(*item.landed.window, dates)  # type: ignore[misc]
                )
    rows = incoming[keep]

    # Scope: one block per distinct window (usually one), days × the calls sharing it.
    by_window: dict[tuple[dt.date, dt.date], list[int]] = {}
    for i, window in enumerate(windows):
        by_window.setdefault(window, []).append(i)  # type: ignore[arg-type]
    blocks = []
    for (start, end), calls in by_window.items():
        days = trading_days_between(trading_days, start, end)
        block = pd.DataFrame(
            {
                "trade_date": np.tile(np.array(days, dtype=object), len(calls)),
                "_order": np.repeat(calls, len(days)),
            }
        )
        for name in dataset.request_columns:
            block[name] = np.repeat([parsed[i].landed.kwargs[name] for i in calls], len(days))
        blocks.append(block)
    return rows, pd.concat(blocks, ignore_index=True)


def _refuse_repeated_days(
    con: duckdb.DuckDBPyConnection, dataset: Dataset, incoming: pd.DataFrame
) -> None:
    """Refuse a day whose balances all repeat the day before it (in this load, or the last
    one loaded): an exchange that has not published yet may serve the last file under the
    new date."""
    repeated = repeated_days(con, dataset, incoming)
    if repeated:
        raise SourceDataError(next(iter(repeated.values())))


def repeated_days(
    con: duckdb.DuckDBPyConnection, dataset: Dataset, incoming: pd.DataFrame
) -> dict[dt.date, str]:
    """The days whose balances all repeat the day before them, with the reason."""
    columns = [*dataset.key, *dataset.moves_daily]
    days = sorted(set(incoming["trade_date"]))
    rows = incoming[["trade_date", *columns]]
    if loaded_days(con, dataset.function, dt.date.min, days[0] - dt.timedelta(days=1)):
        quoted = ", ".join(f'"{c}"' for c in columns)
        last = con.execute(
            f"select max(trade_date) from {RAW_SCHEMA}.{dataset.function} where trade_date < ?",
            [days[0]],
        ).fetchone()[0]
        stored = con.execute(
            f"select trade_date, {quoted} from {RAW_SCHEMA}.{dataset.function} "
            "where trade_date = ?",
            [last],
        ).df()
        stored["trade_date"] = last
        rows = pd.concat([stored, rows], ignore_index=True)
        days = [last, *days]
    by_day = {
        day: sorted(
            zip(*(group[k].astype(str) for k in dataset.key),
                *(group[c].astype(float).fillna(0.0) for c in dataset.moves_daily), strict=True)
        )  # fmt: skip
        for day, group in rows.groupby("trade_date")
    }
    repeated = {}
    for before_day, day in itertools.pairwise(days):
        now = by_day.get(day)
        if not now or now != by_day.get(before_day):
            continue
        if any(value for row in now for value in row[len(dataset.key):]):
            repeated[day] = (
                f"{dataset.function}: the frame for {day} repeats {before_day}'s "
                f"{', '.join(dataset.moves_daily)} on every row — not published yet (the "
                "exchange served the previous file under the new date); refused, not loaded"
            )
    return repeated


def set_aside_refused_days(
    con: duckdb.DuckDBPyConnection,
    dataset: Dataset,
    parsed: Sequence[ParsedFrame],
    trading_days: Sequence[dt.date],
    check_complete: bool,
) -> tuple[list[ParsedFrame], list[str]]:
    """For datasets called once per day, set aside (to `_rejected/`, with the reason) the
    frames whose own day is wrong — dated outside its day, no rows for it, or the day
    before's file served again — so the other days fetched with them still load. Returns
    the frames to load and the reasons of those set aside."""
    if dataset.call not in ("per_day", "snapshot") or not parsed:
        return list(parsed), []
    keys = ["trade_date", *dataset.request_columns]
    reasons: dict[int, str] = {}
    for i, item in enumerate(parsed):
        alone = item.rows.assign(_order=0)
        try:
            rows, scope = _scope_rows(dataset, [item], alone, trading_days, set(trading_days), [])
            if check_complete:
                _check_complete(dataset, rows, scope, keys)
        except SourceDataError as error:
            reasons[i] = str(error)
    if dataset.moves_daily:
        fine = [item.rows for i, item in enumerate(parsed) if i not in reasons]
        repeated = repeated_days(con, dataset, pd.concat(fine, ignore_index=True)) if fine else {}
        for i, item in enumerate(parsed):
            days = set(item.rows["trade_date"]) & set(repeated)
            if i not in reasons and days:
                reasons[i] = repeated[min(days)]
    kept, lines = [], []
    for i, item in enumerate(parsed):
        if i not in reasons:
            kept.append(item)
            continue
        where = landing.reject(item.pending, reasons[i]) if item.pending is not None else None
        lines.append(f"{reasons[i]} [frame kept in {where}]" if where else reasons[i])
    return kept, lines


def _calls_overlap(dataset: Dataset, parsed: Sequence[ParsedFrame]) -> bool:
    """Whether two calls cover the same trading day (and symbol)."""
    spans: dict[tuple, list[tuple[dt.date, dt.date]]] = {}
    for item in parsed:
        symbol = tuple(item.landed.kwargs[name] for name in dataset.request_columns)
        spans.setdefault(symbol, []).append(item.landed.window)  # type: ignore[arg-type]
    for windows in spans.values():
        windows.sort()
        if any(later[0] <= earlier[1] for earlier, later in itertools.pairwise(windows)):
            return True
    return False


def _check_complete(
    dataset: Dataset, incoming: pd.DataFrame, winner: pd.DataFrame, keys: list[str]
) -> None:
    """Every trading day asked for must have rows: a gap is an error, not a zero."""
    if not dataset.every_trading_day:
        return
    # Per-security quotes may miss days (suspensions): require rows per day overall.
    day_level = dataset.request_columns == ("symbol",) and not dataset.each_symbol_every_day
    check_keys = ["trade_date"] if day_level else keys
    present = incoming[check_keys].drop_duplicates()
    expected = winner[check_keys].drop_duplicates()
    missing = expected.merge(present, on=check_keys, how="left", indicator=True)
    missing = missing[missing["_merge"] == "left_only"].drop(columns="_merge")
    if len(missing):
        sample = ", ".join(
            " ".join(f"{k}={v}" for k, v in record.items())
            for record in missing.head(5).to_dict("records")
        )
        raise SourceDataError(
            f"{dataset.function}: no rows for {len(missing)} trading day(s) asked for, "
            f"e.g. {sample} — not published yet, or the source skipped them"
        )


WAREHOUSE_SOURCE_TABLE = "meta.warehouse_source"


class WarehouseSourceError(RuntimeError):
    """A load would mix demo and live rows in one warehouse."""


def claim_warehouse(con: duckdb.DuckDBPyConnection, source: str) -> None:
    """Record which source this warehouse holds, or refuse a load from another one.

    A warehouse holds one source: synthetic demo rows beside live ones would make every
    mart wrong without a sign. The first load records its source; a warehouse loaded
    before the record existed is judged by the `_source` of its raw rows.
    """
    con.execute("create schema if not exists meta")
    con.execute(
        f"create table if not exists {WAREHOUSE_SOURCE_TABLE} "
        "(source varchar not null, claimed_at timestamp not null)"
    )
    recorded = con.execute(f"select source from {WAREHOUSE_SOURCE_TABLE} limit 1").fetchone()
    held = {recorded[0]} if recorded else _sources_in_raw(con)
    if held - {source}:
        path = con.execute(
            "select path from duckdb_databases() where database_name = current_database()"
        ).fetchone()[0]
        raise WarehouseSourceError(
            f"{path} holds {' and '.join(sorted(held))} data; loading {source} data into it "
            "would mix the two. Demo and live warehouses live apart: unset MARGIN_WH_DB and "
            "MARGIN_WH_HOME to use the default home of each source (data/demo, data/live), or "
            "set MARGIN_WH_HOME to a new folder."
        )
    if not recorded:
        con.execute(f"insert into {WAREHOUSE_SOURCE_TABLE} values (?, now())", [source])


def _sources_in_raw(con: duckdb.DuckDBPyConnection) -> set[str]:
    tables = con.execute(
        "select table_name from information_schema.columns "
        "where table_schema = ? and column_name = '_source'",
        [RAW_SCHEMA],
    ).fetchall()
    found: set[str] = set()
    for (table,) in tables:
        rows = con.execute(f"select distinct _source from {RAW_SCHEMA}.{table} limit 3").fetchall()
        found.update(r[0] for r in rows if r[0])
    return found


def ingest(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    dataset: Dataset,
    trading_days: Sequence[dt.date],
    landing_dir: Path,
    symbols: Sequence[str] = (),
    on_call: Callable[[Request], None] | None = None,
    refetch: bool = False,
    retried: dict[str, tuple[dt.date, dt.date]] | None = None,
    symbol_windows: dict[str, tuple[dt.date, dt.date]] | None = None,
) -> LoadResult:
    """Fetch a window of one dataset from the source and load it, committing as it goes.

    Calls an earlier run landed and loaded are not made again (unless `refetch`). The rest
    are loaded a block of calls per transaction, and when a call fails the frames fetched
    before it are loaded first: an outage loses only the call in flight, what was
    committed stays, and a re-run resumes.

    For a per-symbol dataset, a symbol that gives no usable frame is set aside and the
    others load; `meta.missing_symbols` names it until a run loads it. `retried`: the
    symbols an earlier run set aside, each asked for again over its own window (they
    are called last, after the symbols expected to answer).
    """
    claim_warehouse(con, source.name)
    # frames a killed run had fetched but not loaded: nothing will accept them now
    remove_leftovers(Path(landing_dir) / dataset.function, ".*.pending")
    retried = retried or {}
    todo, skipped = pending_requests(
        dataset, trading_days, landing_dir, symbols, refetch, con, symbol_windows=symbol_windows
    )
    if retried:  # asked for again even where an older frame of the window is landed
        asked = {r.kwargs.get("symbol") for r in todo}
        again = [r for r in plan_requests(dataset, trading_days, sorted(retried), symbol_windows)
                 if r.kwargs["symbol"] not in asked]  # fmt: skip
        skipped -= len(again)
        todo += again
        todo.sort(key=lambda r: r.kwargs.get("symbol") in retried)  # stable: the others first
    result = LoadResult(dataset.function, skipped_calls=skipped)
    # Per-security quotes may miss days (suspensions): their days are checked once every
    # block is loaded, and their frames accepted as landed only then, so a day the source
    # lacked is asked for again by the next run. The spot indices trade every day.
    per_symbol = dataset.call in ("per_symbol_range", "per_symbol_full")
    days_checked_at_end = per_symbol and not dataset.each_symbol_every_day
    accepted_at_end: list[Path] = []
    groups = commit_groups(todo)
    for group in groups:
        failure: BaseException | None = None
        try:
            loaded, failure = _fetch_and_load(
                con, source, dataset, group, trading_days, landing_dir, on_call,
                check_complete=not days_checked_at_end,
                pending_out=accepted_at_end if days_checked_at_end else None,
                retried=retried,
            )  # fmt: skip
            result.add(loaded)
        except Exception as error:
            failure = error
        if failure is not None:
            record_missing_symbols(con, dataset.function, result)
            if result.files or skipped:
                failure.add_note(
                    f"{dataset.function}: {result.files + skipped} of {len(todo) + skipped} "
                    "calls are loaded and kept; a re-run makes only the others."
                )
            for pending in accepted_at_end:  # committed before the outage: resume from them
                landing.accept(pending)
            raise failure
    if days_checked_at_end and todo and dataset.every_trading_day:
        try:
            _check_days_covered(con, dataset, todo, trading_days)
        except SourceDataError as error:
            for pending in accepted_at_end:  # the next run asks for these calls again
                landing.reject(pending, str(error))
            raise
    for pending in accepted_at_end:
        landing.accept(pending)
    record_missing_symbols(con, dataset.function, result)
    return result


def record_missing_symbols(
    con: duckdb.DuckDBPyConnection, function: str, result: LoadResult
) -> None:
    """Keep in meta.missing_symbols each symbol of `function` set aside by this load (its
    span of missing days widened, its attempts counted), and drop those it loaded."""
    if not result.missing_symbols and not result.symbols_loaded:
        return
    con.execute("create schema if not exists meta")
    con.execute(
        f"create table if not exists {MISSING_SYMBOLS_TABLE} (dataset varchar not null, "
        "symbol varchar not null, first_missing_day date not null, last_missing_day date "
        "not null, reason varchar, attempts integer not null, last_attempt_at timestamp "
        "not null, primary key (dataset, symbol))"
    )
    failed = {f.symbol: f for f in result.missing_symbols}
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    con.execute("BEGIN TRANSACTION")
    try:
        loaded = sorted(result.symbols_loaded - set(failed))
        if loaded:
            con.execute(
                f"delete from {MISSING_SYMBOLS_TABLE} where dataset = ? and symbol in "
                f"({', '.join('?' for _ in loaded)})",
                [function, *loaded],
            )
        for symbol, failure in failed.items():
            con.execute(
                f"insert into {MISSING_SYMBOLS_TABLE} values (?, ?, ?, ?, ?, 1, ?) "
                "on conflict (dataset, symbol) do update set "
                "first_missing_day = least(first_missing_day, excluded.first_missing_day), "
                "last_missing_day = greatest(last_missing_day, excluded.last_missing_day), "
                "reason = excluded.reason, attempts = attempts + 1, "
                "last_attempt_at = excluded.last_attempt_at",
                [function, symbol, failure.window[0], failure.window[1], failure.reason, now],
            )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


def missing_symbol_lines(db_path: Path) -> list[str]:
    """One line per symbol set aside, for the operator: dataset, symbol, its missing
    days, how often it was tried, and why (nothing when the warehouse is held)."""
    if not Path(db_path).exists():
        return []
    try:
        con = duckdb.connect(str(db_path), read_only=True)
    except duckdb.Error:
        return []
    with con:
        if not _table_exists(con, "missing_symbols", schema="meta"):
            return []
        rows = con.execute(
            "select dataset, symbol, first_missing_day, last_missing_day, attempts, reason "
            f"from {MISSING_SYMBOLS_TABLE} order by dataset, symbol"
        ).fetchall()
    return [
        f"{dataset} {symbol}: missing {first} .. {last}, tried {attempts} time(s): "
        + reason.split("\n")[0][:300]
        for dataset, symbol, first, last, attempts, reason in rows
    ]


def missing_symbols(
    con: duckdb.DuckDBPyConnection, function: str
) -> dict[str, tuple[dt.date, dt.date]]:
    """The symbols of `function` an earlier load set aside, and their missing days."""
    if not _table_exists(con, "missing_symbols", schema="meta"):
        return {}
    rows = con.execute(
        f"select symbol, first_missing_day, last_missing_day from {MISSING_SYMBOLS_TABLE} "
        "where dataset = ?",
        [function],
    ).fetchall()
    return {symbol: (first, last) for symbol, first, last in rows}


def _fetch_and_load(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    dataset: Dataset,
    requests: Sequence[Request],
    trading_days: Sequence[dt.date],
    landing_dir: Path,
    on_call: Callable[[Request], None] | None,
    check_complete: bool,
    pending_out: list[Path] | None = None,
    retried: dict[str, tuple[dt.date, dt.date]] | None = None,
) -> tuple[LoadResult, BaseException | None]:
    """One transaction's calls: fetched, validated, loaded, then accepted as landed. When
    a call fails midway, the frames fetched before it are loaded first, and the failure
    is returned to be raised: an outage loses only the call in flight."""
    fetched = fetch(source, dataset, requests, landing_dir, on_call, keep_on_call_failure=True,
                    retried=retried)  # fmt: skip
    try:
        parsed, refusal = refuse_broken_identities(con, dataset, fetched)
        parsed, own_day = set_aside_refused_days(con, dataset, parsed, trading_days, check_complete)
    except BaseException:
        _discard(fetched)
        raise
    refusals = fetched.refusals + own_day + ([str(refusal)] if refusal is not None else [])
    failure = fetched.call_failure
    if refusals:  # the other days load; then the run fails as for a refused frame
        refused = SourceDataError("\n".join(refusals[:3]) + (
            f"\n(and {len(refusals) - 3} more frame(s) refused alike)" if len(refusals) > 3 else ""))
        if failure is not None:
            refused.add_note(f"and a call failed after it: {failure}")
        failure = refused
    missing = LoadResult(dataset.function, missing_symbols=list(fetched.symbol_failures))
    if not parsed:
        return missing, failure
    try:
        result = load_frames(
            con, dataset, parsed, trading_days, landing_dir, check_complete=check_complete
        )
        result.missing_symbols = missing.missing_symbols
        result.symbols_loaded = {
            item.landed.kwargs["symbol"] for item in parsed if "symbol" in item.landed.kwargs
        }
    except SourceDataError as error:
        # Refused as a whole (e.g. a trading day missing): keep its frames aside.
        kept = [landing.reject(p.pending, str(error)) for p in parsed if p.pending is not None]
        where = f"{kept[0]}" if len(kept) == 1 else f"{len(kept)} files under {kept[0].parent}"
        raise SourceDataError(f"{error} [frame kept in {where}]" if kept else str(error)) from None
    except BaseException:
        _discard(parsed)
        raise
    for item in parsed:  # loaded: now the landing zone holds them (atomic renames)
        if item.pending is not None:
            if pending_out is not None:
                pending_out.append(item.pending)  # accepted by the caller, later
            else:
                landing.accept(item.pending)
    return result, failure


def refuse_broken_identities(
    con: duckdb.DuckDBPyConnection, dataset: Dataset, parsed: Sequence[ParsedFrame]
) -> tuple[list[ParsedFrame], SourceDataError | None]:
    """Keep aside, before anything is committed, the frames of the days that break an
    identity with another dataset as the raw tables hold it: detail ≈ the exchange's
    totals (a refresh loads the totals first), and short volume × close ≈ short balance
    (the close of the quotes loaded for the day or the days before). Returns the frames
    to load and the error to raise once they are: the other days of the batch load."""
    if not parsed:
        return list(parsed), None
    reasons = [
        totals + closes
        for totals, closes in zip(
            _totals_reasons(con, dataset, parsed),
            _implied_close_reasons(con, dataset, parsed),
            strict=True,
        )
    ]
    kept = [item for item, why in zip(parsed, reasons, strict=True) if not why]
    lines = []
    for item, why in zip(parsed, reasons, strict=True):
        if not why:
            continue
        reason = "\n".join(why[:3])
        if len(why) > 3:
            reason += f"\n(and {len(why) - 3} more day(s) of this call)"
        where = landing.reject(item.pending, reason) if item.pending is not None else None
        lines.append(f"{reason} [frame kept in {where}]" if where else reason)
    if not lines:
        return kept, None
    if len(lines) > 3:
        lines[3:] = [f"(and {len(lines) - 3} more frame(s) refused alike)"]
    return kept, SourceDataError("\n".join(lines))


def _totals_reasons(
    con: duckdb.DuckDBPyConnection, dataset: Dataset, parsed: Sequence[ParsedFrame]
) -> list[list[str]]:
    """Per frame, why its days' detail sums and published totals disagree (none: agree,
    or the other side is not loaded)."""
    pair = identities.totals_pair(dataset.function)
    if pair is None:
        return [[] for _ in parsed]
    exchange, side = pair
    column = identities.TOTALS_COLUMN
    if side == "detail":
        arriving = [item.rows.groupby("trade_date")[column].sum().to_dict() for item in parsed]
        other, other_cny_per_unit = exchange.summary_function, exchange.summary_cny_per_unit
    else:
        arriving = [
            (item.rows.groupby("trade_date")[column].sum(min_count=1)
             * exchange.summary_cny_per_unit).to_dict()
            for item in parsed
        ]  # fmt: skip
        other, other_cny_per_unit = exchange.detail_function, 1.0
    days = [day for sums in arriving for day in sums]
    if not days:
        return [[] for _ in parsed]
    loaded = {
        day: value * other_cny_per_unit
        for day, value in _day_sums(con, other, column, min(days), max(days)).items()
    }
    reasons = []
    for sums in arriving:
        detail, total = (sums, loaded) if side == "detail" else (loaded, sums)
        mismatches = identities.totals_mismatches(exchange, detail, total)
        reasons.append([m.reason(side) for m in mismatches])
    return reasons


def _implied_close_reasons(
    con: duckdb.DuckDBPyConnection, dataset: Dataset, parsed: Sequence[ParsedFrame]
) -> list[list[str]]:
    """Per frame of a detail that values its short volume (SZSE's, BSE's), why its days'
    implied closes are far from the closes loaded (none where no close is loaded yet:
    a backfill loads the quotes after the detail)."""
    balance, volume = identities.SHORT_BALANCE, identities.SHORT_VOLUME
    if dataset.function not in MARGIN_DETAIL_FUNCTIONS or balance not in dataset.column_names:
        return [[] for _ in parsed]
    code = dataset.key[0]
    days = [day for item in parsed for day in item.rows["trade_date"]]
    if not days:
        return [[] for _ in parsed]
    lookback = dt.timedelta(days=identities.CLOSE_LOOKBACK_DAYS)
    closes = _closes_loaded(con, min(days) - lookback, max(days)).sort_values("trade_date")
    reasons = []
    for item in parsed:
        found = []
        for day, rows in item.rows.groupby("trade_date"):
            on_or_before = closes["trade_date"].between(day - lookback, day)
            quoted = closes[on_or_before].groupby("code")["close"].last()  # the latest
            rows = rows.set_index(code)
            mismatch = identities.implied_close_mismatch(
                dataset.function, day, rows[balance], rows[volume], quoted
            )
            if mismatch is not None:
                found.append(mismatch.reason())
        reasons.append(found)
    return reasons


# The quotes' closes by security code: Sina's per stock and per fund, and the
# closing snapshot (universe.py's QUOTES, FUND_QUOTES, QUOTE_SNAPSHOT; it imports this).
_CLOSES = (
    ("stock_zh_a_daily", "right(symbol, 6)", "close"),
    ("fund_etf_hist_sina", "right(symbol, 6)", "close"),
    ("stock_zh_a_spot_em", '"代码"', '"最新价"'),
)


def _closes_loaded(con: duckdb.DuckDBPyConnection, first: dt.date, last: dt.date) -> pd.DataFrame:
    """Every close the quote tables hold in [first, last]: code, trade_date, close."""
    selects = [
        f"select {code} as code, trade_date, {close} as close from {RAW_SCHEMA}.{function} "
        "where trade_date between $first and $last"
        for function, code, close in _CLOSES
        if _table_exists(con, function)
    ]
    if not selects:
        return pd.DataFrame({"code": [], "trade_date": [], "close": []})
    closes = con.execute(" union all ".join(selects), {"first": first, "last": last}).df()
    closes["trade_date"] = pd.to_datetime(closes["trade_date"]).dt.date
    return closes


def _day_sums(
    con: duckdb.DuckDBPyConnection, function: str, column: str, first: dt.date, last: dt.date
) -> dict[dt.date, float]:
    """Per trading day in [first, last], the sum of a column of raw.<function> (nothing
    if the table does not exist yet)."""
    if not _table_exists(con, function):
        return {}
    rows = con.execute(
        f'select trade_date, sum("{column}") from {RAW_SCHEMA}.{function} '
        "where trade_date between ? and ? group by 1",
        [first, last],
    ).fetchall()
    return {day: value for day, value in rows if value is not None}


def _table_exists(con: duckdb.DuckDBPyConnection, function: str, schema: str = RAW_SCHEMA) -> bool:
    return bool(
        con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = ? and table_name = ?",
            [schema, function],
        ).fetchone()[0]
    )


def loaded_days(
    con: duckdb.DuckDBPyConnection, function: str, first: dt.date, last: dt.date
) -> set[dt.date]:
    """The trading days in [first, last] that raw.<function> holds rows for (none if the
    table does not exist yet)."""
    if not _table_exists(con, function):
        return set()
    rows = con.execute(
        f"select distinct trade_date from {RAW_SCHEMA}.{function} where trade_date between ? and ?",
        [first, last],
    ).fetchall()
    return {row[0] for row in rows}


def _check_days_covered(
    con: duckdb.DuckDBPyConnection,
    dataset: Dataset,
    requests: Sequence[Request],
    trading_days: Sequence[dt.date],
) -> None:
    """Per-symbol quotes may miss days (suspensions), but once every block is loaded each
    trading day asked for must have some security's quote."""
    asked = {
        day
        for window in {r.window for r in requests if r.window}
        for day in trading_days_between(trading_days, *window)
    }
    if not asked:
        return
    missing = sorted(asked - loaded_days(con, dataset.function, min(asked), max(asked)))
    if missing:
        raise SourceDataError(
            f"{dataset.function}: no rows for {len(missing)} trading day(s) asked for, e.g. "
            f"{', '.join(str(d) for d in missing[:5])} — not published yet, or the source "
            "skipped them"
        )


def replay(
    con: duckdb.DuckDBPyConnection,
    dataset: Dataset,
    trading_days: Sequence[dt.date],
    landing_dir: Path,
    own_transaction: bool = True,
) -> LoadResult:
    """Rebuild raw.<function> from the landing zone alone, with no calls."""
    parsed = replay_parsed(dataset, landing_dir)
    for landed_source in sorted({item.landed.source for item in parsed}):
        claim_warehouse(con, landed_source)
    ensure_raw_table(con, dataset)  # even with nothing landed yet, as a load leaves it
    return load_frames(con, dataset, parsed, trading_days, landing_dir, replace_all=True,
                       own_transaction=own_transaction)  # fmt: skip


def replay_all(
    con: duckdb.DuckDBPyConnection,
    datasets: Sequence[Dataset],
    trading_days: Sequence[dt.date],
    landing_dir: Path,
) -> list[LoadResult]:
    """Rebuild every raw table from the landing zone, in one transaction: all of them or,
    when one cannot be rebuilt, none (the error names it and says the tables are as
    they were)."""
    con.execute("BEGIN TRANSACTION")
    results = []
    try:
        for dataset in datasets:
            try:
                results.append(replay(con, dataset, trading_days, landing_dir, own_transaction=False))
            except Exception as error:
                error.add_note(f"replay of raw.{dataset.function} failed: every raw table is "
                               "left as it was")  # fmt: skip
                raise
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return results
