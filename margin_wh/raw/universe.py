"""Which symbols the per-symbol datasets are fetched for."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import duckdb

from margin_wh.sources.datasets import (
    DATASETS,
    MARGIN_DETAIL_FUNCTIONS,
    SPOT_INDEX_SYMBOLS,
    sina_symbol,
)


def quote_symbols(con: duckdb.DuckDBPyConnection, trading_days: Sequence[dt.date]) -> list[str]:
    """Sina symbols of every security in the margin detail of the window, all exchanges."""
    codes: set[str] = set()
    for function in MARGIN_DETAIL_FUNCTIONS:
        code_column = next(c.name for c in DATASETS[function].columns if c.kind == "code")
        exists = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'raw' and table_name = ?",
            [function],
        ).fetchone()[0]
        if not exists:
            continue
        rows = con.execute(
            f'select distinct "{code_column}" from raw.{function} '
            "where trade_date between ? and ?",
            [min(trading_days), max(trading_days)],
        ).fetchall()
        codes.update(r[0] for r in rows)
    return sorted(sina_symbol(c) for c in codes)


def spot_index_symbols() -> list[str]:
    return sorted(SPOT_INDEX_SYMBOLS.values())
