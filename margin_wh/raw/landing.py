"""The landing zone: every frame kept as it arrived, one Parquet file per call.

`<landing>/<function>/<arg>=<value>__….parquet`, with the call, the source, the
fetch time and the trading-day window it was fetched for in the file's metadata, so
the raw tables can be rebuilt from these files alone (replay). A call whose arguments
do not name the days it answers for (a symbol's full history) also has its window in
the name, `symbol=sh000300__window=20240701-20240712.parquet`: each refresh's call is
kept beside the earlier ones, as the rows each put in the raw table. A frame is accepted
into place (atomic rename) only once it passed validation; a refused frame is kept
under `_rejected/` for inspection and never replayed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

_META_KEY = b"margin_wh"
REJECTED_DIR = "_rejected"


@dataclass(frozen=True)
class LandedFrame:
    function: str
    kwargs: dict[str, Any]
    source: str  # "demo" or "akshare"
    fetched_at: dt.datetime  # UTC
    window: tuple[dt.date, dt.date] | None  # trading days the call was made for
    path: Path
    frame: pd.DataFrame


def landing_path(landing_dir: Path, function: str, kwargs: dict[str, Any]) -> Path:
    name = "__".join(f"{k}={v}" for k, v in sorted(kwargs.items())) or "all"
    return Path(landing_dir) / function / f"{name}.parquet"


def _storable(frame: pd.DataFrame) -> pd.DataFrame:
    """Mixed-type object columns (ints and '1,234' strings) are kept as their text."""
    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if column.dtype == object:
            kinds = {type(v) for v in column.dropna().tolist()}
            if len(kinds) > 1:
                out[name] = column.map(lambda v: v if v is None or v != v else str(v))
    return out


def write_pending(
    landing_dir: Path,
    function: str,
    kwargs: dict[str, Any],
    frame: pd.DataFrame,
    source: str,
    fetched_at: dt.datetime,
    window: tuple[dt.date, dt.date] | None,
    name: dict[str, Any] | None = None,
) -> Path:
    """Write the frame beside its final name (from `name`, else the call's arguments);
    `accept` or `reject` it after validation."""
    final = landing_path(landing_dir, function, kwargs if name is None else name)
    final.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "function": function,
        "kwargs": kwargs,
        "source": source,
        "fetched_at": fetched_at.isoformat(),
        "window": [d.isoformat() for d in window] if window else None,
    }
    table = pa.Table.from_pandas(_storable(frame), preserve_index=False)
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), _META_KEY: json.dumps(meta).encode()}
    )
    pending = final.with_name(f".{final.name}.{os.getpid()}.pending")
    pq.write_table(table, pending)
    return pending


def _final_of(pending: Path) -> Path:
    name = pending.name.removeprefix(".")
    return pending.with_name(name[: name.index(".parquet") + len(".parquet")])


def accept(pending: Path) -> Path:
    final = _final_of(pending)
    os.replace(pending, final)  # atomic: readers see the old file or the new one
    return final


def reject(pending: Path, reason: str) -> Path:
    final = _final_of(pending)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    target = final.parent.parent / REJECTED_DIR / final.parent.name / f"{final.stem}__{stamp}.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(pending, target)
    target.with_suffix(".txt").write_text(reason + "\n", encoding="utf-8")
    return target


def read_landed(path: Path) -> LandedFrame:
    table = pq.read_table(path)
    meta = json.loads((table.schema.metadata or {})[_META_KEY])
    window = meta.get("window")
    return LandedFrame(
        function=meta["function"],
        kwargs=meta["kwargs"],
        source=meta["source"],
        fetched_at=dt.datetime.fromisoformat(meta["fetched_at"]),
        window=(dt.date.fromisoformat(window[0]), dt.date.fromisoformat(window[1]))
        if window
        else None,
        path=Path(path),
        frame=table.to_pandas(),
    )


def landed_window(path: Path) -> tuple[dt.date, dt.date] | None:
    """The trading-day window a landed frame was fetched for, read from its metadata only."""
    meta = json.loads((pq.read_schema(path).metadata or {})[_META_KEY])
    window = meta.get("window")
    return (dt.date.fromisoformat(window[0]), dt.date.fromisoformat(window[1])) if window else None


# A full-history call's landing file names its window: `window=YYYYMMDD-YYYYMMDD`.
WINDOW_LABEL = "window"


def window_name(window: tuple[dt.date, dt.date]) -> str:
    return f"{window[0]:%Y%m%d}-{window[1]:%Y%m%d}"


def window_of_name(text: str | None) -> tuple[dt.date, dt.date] | None:
    if not text:
        return None
    first, last = (dt.datetime.strptime(part, "%Y%m%d").date() for part in text.split("-"))
    return first, last


def landed_symbol_windows(
    landing_dir: Path, function: str
) -> dict[str, list[tuple[dt.date, dt.date]]]:
    """For a per-symbol dataset: the trading-day windows each symbol's accepted landing
    files were fetched for (from the file names and metadata, not the frames; from the
    name alone where it carries the window, as a full-history call's does: a symbol
    gathers one such file per refresh, and every refresh reads them all)."""
    windows: dict[str, list[tuple[dt.date, dt.date]]] = {}
    for path in landed_files(landing_dir, function):
        kwargs = dict(part.split("=", 1) for part in path.stem.split("__") if "=" in part)
        window = window_of_name(kwargs.get(WINDOW_LABEL)) or landed_window(path)
        if "symbol" in kwargs and window:
            windows.setdefault(kwargs["symbol"], []).append(window)
    return windows


def landed_files(landing_dir: Path, function: str) -> list[Path]:
    folder = Path(landing_dir) / function
    return sorted(folder.glob("*.parquet")) if folder.exists() else []
