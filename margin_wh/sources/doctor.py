"""`margin-wh doctor`: call every akshare function the warehouse uses once, and say whether
each still answers as the contract in `datasets.py` expects.

Run it first when going live, and after moving the akshare pin: a renamed column, a unit
change or a host that is down shows here, one line per function, before a refresh fails
on it. Dated functions are asked for the latest trading day whose data is published
(T-1: the exchanges publish day T on T+1 around 09:00 Beijing time; on the demo source,
no later than the demo market's last day); the per-symbol ones for a stock and a fund
taken from that day's SSE margin detail, and CSI 300. A column whose unit is disputed
(`Column.also_arrives_in`) is accepted in either unit, and the finding says which arrived.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from margin_wh.calendar import CALENDAR_FUNCTION, SHANGHAI, last_published_day
from margin_wh.sources.akshare_source import NoNetworkError
from margin_wh.sources.datasets import (
    DATASETS,
    SPOT_INDEX_SYMBOLS,
    Dataset,
    security_type,
    sina_symbol,
)
from margin_wh.sources.parse import SourceDataError, frame_notes, parse_frame, units_arrived

HISTORY_DAYS = 10  # trading days of a per-symbol history asked for


@dataclass(frozen=True)
class Finding:
    function: str
    host: str
    call: str
    rows: int | None  # None: no frame arrived
    columns_ok: bool | None  # None: not checked (no frame)
    units_ok: bool | None
    seconds: float
    detail: str  # the error, or what was let pass
    # the unit each disputed column arrived in, e.g. (('参与交易的投资者数量', '10k_persons'),)
    units_arrived: tuple[tuple[str, str], ...] = ()
    last_day: dt.date | None = None  # the calendar's: its last trading day
    no_network: bool = False  # the host's name did not resolve

    @property
    def ok(self) -> bool:
        return bool(self.columns_ok and self.units_ok)


def _ymd(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


def _check(
    source: Any, dataset: Dataset, kwargs: dict[str, Any], day: dt.date | None, host: str
) -> tuple[Finding, Any]:
    """One call, timed, and its frame checked against the contract."""
    call = f"{dataset.function}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
    started = time.monotonic()
    try:
        frame = source.call(dataset.function, **kwargs)
    except Exception as error:  # noqa: BLE001 - every failure is a finding, not a crash
        seconds = time.monotonic() - started
        return Finding(dataset.function, host, call, None, None, None, seconds, str(error),
                       no_network=isinstance(error, NoNetworkError)), None  # fmt: skip
    seconds = time.monotonic() - started
    rows = len(frame) if hasattr(frame, "__len__") else None
    try:
        typed = parse_frame(dataset, frame, kwargs, day if dataset.call != "range" else None)
    except SourceDataError as error:
        columns_ok = "columns do not match" not in str(error)
        return Finding(
            dataset.function, host, call, rows, columns_ok, False if columns_ok else None,
            seconds, str(error),
        ), None  # fmt: skip
    notes = "; ".join(frame_notes(typed))
    units = tuple(units_arrived(typed).items())
    return Finding(dataset.function, host, call, rows, True, True, seconds, notes, units), typed


def last_day_answered(source: Any) -> dt.date | None:
    """The last trading day a source answers for, if it ends: the synthetic demo market
    (a DemoSource's market, or a DemoMarket itself) ends on its last simulated day; live
    akshare does not end (None)."""
    market = getattr(source, "market", source)
    days = getattr(market, "trading_days", None)
    return days[-1] if days else None


def latest_published_day(
    calendar: list[dt.date], now: dt.date | dt.datetime, last_answered: dt.date | None
) -> dt.date | None:
    """The trading day dated calls ask for: the last one published by the Beijing clock
    (T-1 after the ~09:00 publication, T-2 before it; a date alone is taken as after it),
    and on a source that ends, no later than its last day: asked after it, every dated
    call of the demo answers an empty frame, as an unpublished day would."""
    if not isinstance(now, dt.datetime):
        now = dt.datetime.combine(now, dt.time(12, 0), tzinfo=SHANGHAI)
    if last_answered is not None:
        after = dt.datetime.combine(last_answered + dt.timedelta(days=1), dt.time(12, 0),
                                    tzinfo=SHANGHAI)  # fmt: skip
        now = min(now, after)
    return last_published_day(calendar, now)


def run_doctor(
    source: Any,
    today: dt.date | dt.datetime,
    hosts: dict[str, str],
    on_finding: Callable[[Finding], None] | None = None,
) -> list[Finding]:
    """Every dataset's function called once through `source`, in the contract's order."""
    findings: list[Finding] = []

    def record(finding: Finding) -> None:
        findings.append(finding)
        if on_finding:
            on_finding(finding)

    calendar_finding, calendar = _check(
        source, DATASETS[CALENDAR_FUNCTION], {}, None, hosts.get(CALENDAR_FUNCTION, "?")
    )
    days = sorted(calendar["trade_date"]) if calendar is not None else []
    record(dataclasses.replace(calendar_finding, last_day=days[-1] if days else None))
    latest = latest_published_day(days, today, last_day_answered(source)) if days else None
    if latest is None:  # without a calendar no dated call can be placed
        day = today.date() if isinstance(today, dt.datetime) else today
        latest = day - dt.timedelta(days=1)
    first = days[max(0, days.index(latest) - HISTORY_DAYS)] if latest in days else latest

    symbols: dict[str, str] = {}
    for function, dataset in DATASETS.items():
        if function == CALENDAR_FUNCTION:
            continue
        kwargs: dict[str, Any] = dict(dataset.fixed_kwargs)
        if dataset.call == "per_day":
            kwargs["date"] = _ymd(latest)
        elif dataset.call == "range":
            kwargs.update(start_date=_ymd(latest), end_date=_ymd(latest))
        elif dataset.call in ("per_symbol_range", "per_symbol_full"):
            kind = {"stock_zh_a_daily": "stock", "fund_etf_hist_sina": "fund"}.get(function)
            symbol = symbols.get(kind) if kind else SPOT_INDEX_SYMBOLS["IF"]
            if symbol is None:
                record(Finding(function, hosts.get(function, "?"), f"{function}(symbol=?)", None,
                               None, None, 0.0, f"no {kind} in the SSE margin detail to ask for"))  # fmt: skip
                continue
            kwargs["symbol"] = symbol
            if dataset.call == "per_symbol_range":
                kwargs.update(start_date=_ymd(first), end_date=_ymd(latest))
        finding, typed = _check(source, dataset, kwargs, latest, hosts.get(function, "?"))
        record(finding)
        if function == "stock_margin_detail_sse" and typed is not None:
            for code in typed["标的证券代码"]:
                symbols.setdefault(security_type(code), sina_symbol(code))
    return findings


def findings_table(findings: list[Finding]):
    """The findings as a rich table: function, host, rows, columns, units, seconds, verdict."""
    from rich.table import Table

    def mark(value: bool | None) -> str:
        return {True: "[green]yes[/]", False: "[red]no[/]", None: "-"}[value]

    table = Table(title="akshare, as the warehouse calls it")
    table.add_column("function", no_wrap=True, min_width=26)
    for name in ("host", "rows", "columns as expected", "units plausible", "seconds", "verdict"):
        table.add_column(name, justify="right" if name in ("rows", "seconds") else "left")
    for f in findings:
        verdict = "[green]ok[/]" if f.ok else "[red]FAIL[/]"
        table.add_row(
            f.function, f.host, "-" if f.rows is None else str(f.rows), mark(f.columns_ok),
            mark(f.units_ok) + units_shown(f), f"{f.seconds:.1f}", verdict,
        )  # fmt: skip
    return table


def units_shown(finding: Finding) -> str:
    """Beside 'units plausible': the units the disputed columns arrived in (each column's
    is in the finding's detail), e.g. ' (10k_persons)'."""
    units = sorted({unit for _, unit in finding.units_arrived})
    return f" ({', '.join(units)})" if units else ""
