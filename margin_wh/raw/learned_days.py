"""Trading days past the calendar's end, learned from SSE's own publication.

Sina's calendar file (`tool_trade_date_hist_sina`) runs to the end of the year it was
written in, and has been late with the next year before (akshare issues #5449, #3336).
While it lags, the days that did trade are learned from SSE's margin totals
(`stock_margin_sse`), which list one row per day SSE published: SSE has published margin
totals for every trading day since the pilot began on 2010-03-31. The call is a load of
that dataset like any other (validated, landed, its days replaced in
`raw.stock_margin_sse`), so the refresh of those days later makes no second call, and
`margin_wh.raw.landed_calendar.load_calendar` reads the learned days from its landed frames.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from margin_wh.calendar import days_to_learn, trading_days_text
from margin_wh.raw import landing
from margin_wh.raw.landed_calendar import LEARNED_FROM
from margin_wh.raw.load import Request, Source, claim_warehouse, fetch, load_frames, yyyymmdd
from margin_wh.sources.datasets import DATASETS


@dataclass(frozen=True)
class LearnedDays:
    days: tuple[dt.date, ...]  # trading days past the calendar's end that SSE listed
    note: str  # what was asked and what came back, for the run's log
    failed: bool = False  # the call failed: nothing is known of those days yet


def published_nothing(error: BaseException) -> bool:
    """Whether a failed call means "SSE listed no day in the span": akshare assigns the 13
    field names to an empty result and pandas raises a length mismatch on 0 elements; a
    source that returns the empty frame is refused as empty by our parser."""
    while error is not None:
        text = str(error)
        if "Expected axis has 0 elements" in text or "returned an empty frame" in text:
            return True
        error = error.__cause__ or error.__context__
    return False


def learn_days_past_calendar(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    calendar: Sequence[dt.date],
    landing_dir: Path,
    today: dt.date,
) -> LearnedDays:
    """One `stock_margin_sse` call for the span from the calendar's end to `today`, when
    the calendar ends before the last day that can be published; its days are loaded into
    raw.stock_margin_sse and landed. Never raises for the source: the calendar itself is
    loaded, and the next run asks again."""
    span = days_to_learn(calendar, today)
    if span is None:
        return LearnedDays((), "")
    start, end = span
    dataset = DATASETS[LEARNED_FROM]
    request = Request({"start_date": yyyymmdd(start), "end_date": yyyymmdd(end)}, (start, end))
    asked = f"the calendar ends on {calendar[-1]}; asked SSE's margin totals for {start} .. {end}"
    try:
        fetched = fetch(source, dataset, [request], landing_dir)
    except Exception as error:  # noqa: BLE001 - reported, the calendar still loads
        if published_nothing(error):
            return LearnedDays((), f"{asked}: SSE lists no day there yet")
        return LearnedDays((), f"{asked}: the call failed, the next run asks again ({error})", True)
    item = fetched[0]
    days = tuple(sorted(set(item.rows["trade_date"])))
    try:
        claim_warehouse(con, source.name)
        load_frames(con, dataset, fetched, days, landing_dir)
    except BaseException:
        item.pending.unlink(missing_ok=True)  # not loaded: not landed either
        raise
    landing.accept(item.pending)
    listed = ", ".join(str(d) for d in days)
    return LearnedDays(days, f"{asked}: SSE published {trading_days_text(len(days))}: {listed}")
