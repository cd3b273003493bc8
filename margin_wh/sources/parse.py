"""Check a frame on arrival against its dataset's contract and type it.

Pure functions: a frame and a request in, a typed frame (or a `SourceDataError` that
says what was expected and what arrived) out. Parsing is ours — exchanges publish
"1,234.5", "-" and blanks — and the structural checks (types, keys, ranges, units)
are a pandera schema built from the contract in `datasets.py`. A column whose unit is
disputed (`Column.also_arrives_in`) is told apart by its median and converted to the
contract's unit here, before those checks.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from margin_wh.sources.datasets import ArrivalUnit, Column, Dataset

# What exchanges print for "no value".
_MISSING_TOKENS = {"", "-", "--", "—", "nan", "None", "null", "NaN"}
_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


class SourceDataError(ValueError):
    """A frame did not match what its akshare function is expected to return."""


def describe_call(function: str, kwargs: dict[str, Any]) -> str:
    if set(kwargs) == {"as_of"}:  # a snapshot: called with no arguments after a close
        return f"{function}() snapshot after the close of {kwargs['as_of']}"
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return f"{function}({args})"


def parse_numbers(values: pd.Series) -> tuple[pd.Series, list[tuple[int, Any]]]:
    """Numbers as the exchanges print them -> float64; returns (parsed, unparseable).

    "1,234.50" -> 1234.5; "-", "" and None -> NaN (not published); anything else that
    is not a number is reported back, never silently coerced.
    """
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.astype("float64"), []
    parsed = np.full(len(values), np.nan)
    bad: list[tuple[int, Any]] = []
    for i, value in enumerate(values.tolist()):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            continue
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
            parsed[i] = float(value)
            continue
        text = str(value).strip().replace(",", "").replace("\u00a0", "")
        if text in _MISSING_TOKENS:
            continue
        if _NUMBER_RE.match(text):
            parsed[i] = float(text)
        else:
            bad.append((i, value))
    return pd.Series(parsed, index=values.index, dtype="float64"), bad


def parse_dates(values: pd.Series) -> tuple[pd.Series, list[tuple[int, Any]]]:
    """datetime.date, Timestamp, 'YYYYMMDD' or 'YYYY-MM-DD' -> datetime.date objects."""
    out: list[dt.date | None] = []
    bad: list[tuple[int, Any]] = []
    for i, value in enumerate(values.tolist()):
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
            out.append(None)
        elif isinstance(value, dt.datetime):
            out.append(value.date())
        elif isinstance(value, dt.date):
            out.append(value)
        else:
            text = str(value).strip()
            try:
                if re.fullmatch(r"\d{8}", text):
                    out.append(dt.datetime.strptime(text, "%Y%m%d").date())
                else:
                    out.append(dt.date.fromisoformat(text[:10]))
            except ValueError:
                out.append(None)
                bad.append((i, value))
    return pd.Series(out, index=values.index, dtype="object"), bad


def parse_codes(values: pd.Series) -> tuple[pd.Series, list[tuple[int, Any]]]:
    """Security codes -> 6-digit strings: 1 -> '000001', '600000' stays."""
    out: list[str | None] = []
    bad: list[tuple[int, Any]] = []
    for i, value in enumerate(values.tolist()):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            out.append(None)
            continue
        whole = isinstance(value, (int, np.integer)) or (
            isinstance(value, float) and value.is_integer()  # 1.0 from Excel; 1.5 is no code
        )
        text = str(int(value)) if whole and not isinstance(value, bool) else str(value)
        text = text.strip()
        if text.isdigit() and len(text) <= 6:
            out.append(text.zfill(6))
        else:
            out.append(None)
            bad.append((i, value))
    return pd.Series(out, index=values.index, dtype="object"), bad


def parse_texts(values: pd.Series) -> tuple[pd.Series, list[tuple[int, Any]]]:
    out = [
        None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip()
        for v in values.tolist()
    ]
    return pd.Series(out, index=values.index, dtype="object"), []


_PARSERS = {
    "number": parse_numbers,
    "date": parse_dates,
    "code": parse_codes,
    "text": parse_texts,
}


_SCHEMAS: dict[tuple[str, tuple[str, ...]], tuple[Dataset, pa.DataFrameSchema]] = {}


def _pandera_schema(dataset: Dataset, key: tuple[str, ...]) -> pa.DataFrameSchema:
    """Built once per dataset: a daily quote refresh validates thousands of frames."""
    cached = _SCHEMAS.get((dataset.function, key))
    if cached is None or cached[0] != dataset:
        cached = (dataset, _build_pandera_schema(dataset, key))
        _SCHEMAS[(dataset.function, key)] = cached
    return cached[1]


def _build_pandera_schema(dataset: Dataset, key: tuple[str, ...]) -> pa.DataFrameSchema:
    def column_schema(column: Column) -> pa.Column:
        checks = []
        if column.kind == "number" and not column.signed:
            checks.append(pa.Check.ge(0, error="negative value"))
            # a disputed unit's median was checked against every unit it may arrive in
            if column.plausible_median and not column.also_arrives_in:
                lo, hi = column.plausible_median
                checks.append(
                    pa.Check(
                        lambda s, lo=lo, hi=hi: (
                            _median_nonzero(s) is None or lo <= _median_nonzero(s) <= hi
                        ),
                        error=f"wrong unit? median of non-zero values must lie in "
                        f"[{lo:g}, {hi:g}] {column.unit}",
                    )
                )
        return pa.Column(
            "float64" if column.kind == "number" else object,
            checks=checks,
            nullable=column.name not in key and not column.in_every_row,
        )

    return pa.DataFrameSchema(
        {c.name: column_schema(c) for c in dataset.columns},
        unique=list(key) or None,
        strict=False,
        name=dataset.function,
    )


def _median_nonzero(values: pd.Series) -> float | None:
    nonzero = values[(values != 0) & values.notna()]
    return float(nonzero.median()) if len(nonzero) else None


def unit_from_median(units: tuple[ArrivalUnit, ...], median: float) -> ArrivalUnit | None:
    """The unit whose plausible median holds `median`, or None when none does. The
    contract keeps the ranges apart, so at most one holds it."""
    return next(
        (u for u in units if u.plausible_median[0] <= median <= u.plausible_median[1]), None
    )


def _units_expected(units: tuple[ArrivalUnit, ...]) -> str:
    return " or ".join(
        f"[{u.plausible_median[0]:g}, {u.plausible_median[1]:g}] {u.unit}" for u in units
    )


def _to_column_units(
    dataset: Dataset, typed: pd.DataFrame, call: str
) -> tuple[dict[str, str], list[str], list[str]]:
    """Each disputed column of `typed` converted, in place, to the contract's unit from the
    unit its median says arrived. Returns (unit arrived per column, notes, problems); a
    column with no non-zero value has no unit to tell and nothing to convert."""
    arrived: dict[str, str] = {}
    notes: list[str] = []
    problems: list[str] = []
    for column in dataset.columns:
        if not column.also_arrives_in:
            continue
        median = _median_nonzero(typed[column.name])
        if median is None:
            continue
        unit = unit_from_median(column.arrival_units, median)
        if unit is None:
            problems.append(
                f"column {column.name!r}: wrong unit? median of non-zero values must lie in "
                f"{_units_expected(column.arrival_units)}, arrived with median {median:g}"
            )
            continue
        arrived[column.name] = unit.unit
        if unit.to_column_unit == 1:
            notes.append(
                f"{call}: column {column.name!r} arrived in {unit.unit} (median {median:g})"
            )
        else:
            typed[column.name] = typed[column.name] * unit.to_column_unit
            notes.append(
                f"{call}: column {column.name!r} arrived in {unit.unit} (median {median:g}), "
                f"stored in {column.unit} (x{unit.to_column_unit:g})"
            )
    return arrived, notes, problems


def _sample(bad: list[tuple[int, Any]], n: int = 3) -> str:
    shown = ", ".join(f"row {i}: {v!r}" for i, v in bad[:n])
    more = f" (+{len(bad) - n} more)" if len(bad) > n else ""
    return shown + more


def parse_frame(
    dataset: Dataset,
    frame: pd.DataFrame,
    kwargs: dict[str, Any],
    trade_day: dt.date | None = None,
) -> pd.DataFrame:
    """Validate `frame` as returned by `dataset.function(**kwargs)` and type it.

    Adds `trade_date` (from the date column, else `trade_day` from the request) and the
    request columns. Raises SourceDataError naming the call, what was expected and what
    arrived.
    """
    call = describe_call(dataset.function, kwargs)
    when = f" for trading day {trade_day.isoformat()}" if trade_day else ""

    def fail(problem: str) -> SourceDataError:
        return SourceDataError(f"{call}{when}: {problem}")

    if not isinstance(frame, pd.DataFrame):
        raise fail(f"expected a pandas DataFrame, got {type(frame).__name__}")
    if frame.empty and len(frame.columns) == 0:  # akshare's bare pd.DataFrame() for "nothing"
        if "symbol" in dataset.request_columns:  # a whole history: no day is pending in it
            raise fail(
                f"returned an empty frame (no rows, no columns): the site does not know symbol "
                f"{kwargs.get('symbol')!r} (akshare's answer for an unknown symbol)"
            )
        raise fail(
            "returned an empty frame (no rows, no columns) — not published yet? (exchanges "
            "publish day T on T+1 around 09:00 Beijing time)"
        )
    expected = dataset.column_names
    arrived = [str(c) for c in frame.columns]
    missing = [c for c in expected if c not in arrived]
    unexpected = [c for c in arrived if c not in expected]
    duplicated = sorted({c for c in arrived if arrived.count(c) > 1})
    if missing or duplicated:
        raise fail(
            "columns do not match the contract (renamed upstream? check the pinned akshare "
            f"version). expected {expected}; arrived {arrived}; missing {missing}; "
            f"unexpected {unexpected}" + (f"; duplicated {duplicated}" if duplicated else "")
        )
    # A new column is harmless (Sina's decoder emits amount or prevclose for some
    # symbols): the contract's columns are kept, and the run's log says what was left.
    notes = (
        [f"{call}: left out column(s) {unexpected} the contract does not name"]
        if unexpected
        else []
    )
    if frame.empty:
        raise fail(
            "returned an empty frame — not published yet? (exchanges publish day T "
            "on T+1 around 09:00 Beijing time)"
        )

    typed = pd.DataFrame(index=range(len(frame)))
    for column in dataset.columns:
        values, bad = _PARSERS[column.kind](frame[column.name].reset_index(drop=True))
        if bad:
            raise fail(
                f"column {column.name!r}: expected {column.kind}"
                f"{' in ' + column.unit if column.unit else ''}, "
                f"got unparseable values: {_sample(bad)}"
            )
        typed[column.name] = values

    if dataset.date_column:
        typed["trade_date"] = typed[dataset.date_column]
        if trade_day is not None and dataset.call == "per_day":
            other = typed.loc[typed["trade_date"] != trade_day, "trade_date"]
            if len(other):
                raise fail(f"asked for {trade_day}, got rows dated {sorted(set(other))[:3]}")
    elif dataset.partitioned:
        if trade_day is None:
            raise fail("no date column in this dataset and no trading day requested")
        typed["trade_date"] = trade_day
    for name in dataset.request_columns:
        typed[name] = kwargs[name]

    units, unit_notes, problems = _to_column_units(dataset, typed, call)
    notes += unit_notes
    key = list(dataset.key) + (["trade_date"] if dataset.partitioned else [])
    try:
        _pandera_schema(dataset, tuple(key)).validate(typed, lazy=True)
    except SchemaErrors as errors:
        problems.append(_summarise_schema_errors(errors, typed, key))
    if problems:
        raise fail("; ".join(problems))
    broken = broken_row_rules(dataset, typed, key)
    if broken:
        raise fail("; ".join(broken) + " (columns swapped or a unit changed at the source?)")
    typed.attrs["notes"] = notes
    typed.attrs["units_arrived"] = units
    return typed


def frame_notes(typed: pd.DataFrame) -> list[str]:
    """What parse_frame noticed and let pass (e.g. a column it left out, the unit a
    disputed column arrived in)."""
    return list(typed.attrs.get("notes", []))


def units_arrived(typed: pd.DataFrame) -> dict[str, str]:
    """The unit each disputed column of a parsed frame arrived in (its values are now in
    the contract's unit), e.g. {'参与交易的投资者数量': '10k_persons'}."""
    return dict(typed.attrs.get("units_arrived", {}))


def broken_row_rules(dataset: Dataset, typed: pd.DataFrame, key: list[str]) -> list[str]:
    """Each of the dataset's row rules that some row breaks, with the rows that break it."""
    problems = []
    for rule in dataset.row_rules:
        holds = rule.holds(typed).fillna(True).astype(bool)
        if holds.all():
            continue
        bad = typed.loc[~holds, [c for c in [*key, *rule.columns] if c in typed.columns]]
        sample = bad.head(3).to_dict("records")
        problems.append(
            f"{rule.description} fails on {len(bad)} of {len(typed)} rows, e.g. {sample}"
        )
    return problems


def _summarise_schema_errors(errors: SchemaErrors, typed: pd.DataFrame, key: list[str]) -> str:
    problems = []
    for (column, check), group in errors.failure_cases.groupby(
        ["column", "check"], dropna=False, sort=False
    ):
        check = str(check)
        if "unique" in check:
            duplicated = typed[typed.duplicated(key, keep=False)][key]
            sample = duplicated.drop_duplicates().head(3).to_dict("records")
            problem = f"duplicated key {key}: {len(duplicated)} rows share keys, e.g. {sample}"
        elif check == "not_nullable":
            missing = typed[typed[column].isna()]
            sample = missing[key].head(3).to_dict("records") if key else missing.index[:3].tolist()
            problem = (
                f"column {column!r} expected a number in every row (the exchange publishes one "
                f"in each), arrived blank or '-' in {len(missing)} of {len(typed)} rows, e.g. {sample}"
            )
        elif check.startswith("wrong unit"):
            median = _median_nonzero(typed[column])
            problem = f"column {column!r}: {check}, arrived with median {median:g}"
        else:
            values = group["failure_case"].tolist()[:3]
            problem = f"column {column!r} failed {check}: e.g. {values}"
        if problem not in problems:
            problems.append(problem)
    return "; ".join(problems)
