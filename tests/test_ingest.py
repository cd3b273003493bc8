"""Ingestion end to end with akshare replaced by the stand-in: landing zone, raw tables,
idempotent day loads, refusal of bad input without touching what was loaded, replay.

Everything goes through `AkshareSource(module=<stand-in>)` and `margin_wh.raw.load`
into a real DuckDB file; expected values come from the stand-in's clean frames.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest
import requests
from standins import (
    ALL_SECURITIES,
    BSE,
    FULL_CALENDAR,
    INDEX_CLOSE,
    SECURITY_BY_SYMBOL,
    SINA_SYMBOLS,
    SSE,
    SUSPENDED,
    SZSE,
    TRADING_DAY_SET,
    TRADING_DAYS,
    WINDOW,
    FakeAkshare,
    UnreachableAkshare,
    close_on,
    ymd,
)

from margin_wh.calendar import CALENDAR_FUNCTION, SHANGHAI
from margin_wh.raw import landing
from margin_wh.raw.landed_calendar import load_calendar
from margin_wh.raw.load import ensure_raw_table, ingest, load_frames, plan_requests, replay
from margin_wh.raw.universe import plan_fetch
from margin_wh.sources.akshare_source import AkshareSource, HostThrottle, SourceUnavailableError
from margin_wh.sources.datasets import DATASETS, EXCHANGES
from margin_wh.sources.parse import SourceDataError

D = dt.date
OCT8 = D(2024, 10, 8)
PER_DAY = [f for f, d in DATASETS.items() if d.call == "per_day"]
SPOT_SYMBOLS = sorted(INDEX_CLOSE)


# --------------------------------------------------------------------------- harness


class Warehouse:
    """A DuckDB file, a landing zone and an akshare source over the stand-in."""

    def __init__(self, root: Path, ak: FakeAkshare | None = None, now: dt.datetime | None = None):
        self.root = root
        self.db_path = root / "warehouse.duckdb"
        self.landing = root / "landing"
        self.ak = ak or FakeAkshare()
        self.con = duckdb.connect(str(self.db_path))
        self.source = AkshareSource(
            module=self.ak,
            attempts=3,
            backoff_initial_s=0,
            throttle=HostThrottle({}, sleep=lambda s: None),
            sleep=lambda s: None,
            # The clock decides whether the closing snapshot can be taken: by default a
            # day long after the market, when it shows none of the window's closes.
            now=lambda: self.now,
        )
        self.now = now or dt.datetime(2026, 11, 21, 11, 0, tzinfo=SHANGHAI)

    def load(self, function: str, days=WINDOW, symbols=None, con=None, refetch=True):
        """What the raw asset does for a window: plan (days, symbols), then ingest. Fresh
        calls by default (`margin-wh refresh --refetch`): most tests here change what the
        source answers and load again; the resume tests pass refetch=False."""
        dataset = DATASETS[function]
        con = con or self.con
        days = list(days) if dataset.partitioned else []
        if symbols is None:
            plan = plan_fetch(dataset, con, days, self.source, FULL_CALENDAR)
            if dataset.partitioned and not plan.days:
                ensure_raw_table(con, dataset)  # as the raw asset does
                return None
            return ingest(con, self.source, dataset, plan.days, self.landing, plan.symbols,
                          refetch=refetch, retried=plan.retried,
                          symbol_windows=plan.symbol_windows)  # fmt: skip
        return ingest(con, self.source, dataset, days, self.landing, symbols, refetch=refetch)

    def refresh(self, days=WINDOW) -> None:
        """Every dataset, in the order the orchestration runs them (an exchange's totals
        before its detail, quotes after the detail)."""
        totals = {e.summary_function for e in EXCHANGES}
        order = sorted(
            DATASETS,
            key=lambda f: (
                DATASETS[f].partitioned,
                f == "stock_zh_a_daily",
                DATASETS[f].call != "snapshot",
                f not in totals,
            ),
        )
        for function in order:
            self.load(function, days)

    def rows(self, function: str, exclude: tuple[str, ...] = ()) -> list[tuple]:
        return table_rows(self.con, function, exclude)

    def columns(self, function: str) -> list[str]:
        return [d[0] for d in self.con.execute(f"select * from raw.{function} limit 0").description]

    def query(self, sql: str, params=None) -> list[tuple]:
        return self.con.execute(sql, params or []).fetchall()

    def landed(self, function: str) -> dict[str, str]:
        """File name -> content hash of every accepted landing file of a function."""
        folder = self.landing / function
        return {
            p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
        } if folder.exists() else {}  # fmt: skip

    def rejected(self, function: str) -> list[Path]:
        folder = self.landing / landing.REJECTED_DIR / function
        return sorted(folder.glob("*.parquet")) if folder.exists() else []


def table_rows(con, function: str, exclude: tuple[str, ...] = ()) -> list[tuple]:
    """The whole table, every column, ordered: the snapshot tests compare."""
    columns = [
        name
        for (name,) in con.execute(
            "select column_name from information_schema.columns where table_schema = 'raw' "
            "and table_name = ? order by ordinal_position",
            [function],
        ).fetchall()
        if name not in exclude
    ]
    select = ", ".join(f'"{c}"' for c in columns)
    return con.execute(f"select {select} from raw.{function} order by all").fetchall()


def replayed(landing_dir: Path, db_path: Path, functions) -> dict[str, list[tuple]]:
    """Raw tables rebuilt from the landing zone alone, in a fresh DuckDB file."""
    calendar = load_calendar(landing_dir)
    with duckdb.connect(str(db_path)) as con:
        for function in functions:
            replay(con, DATASETS[function], calendar, landing_dir)
        return {f: table_rows(con, f) for f in functions}


@pytest.fixture
def wh(tmp_path):
    warehouse = Warehouse(tmp_path)
    yield warehouse
    warehouse.con.close()


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """One full refresh of the window, shared by the read-only tests."""
    warehouse = Warehouse(tmp_path_factory.mktemp("loaded"))
    warehouse.refresh()
    yield warehouse
    warehouse.con.close()


def expected_rows(function: str) -> int:
    """Row counts of the window, counted from the hand-made market."""
    days = len(WINDOW)
    return {
        "tool_trade_date_hist_sina": len(FULL_CALENDAR),
        "stock_industry_clf_hist_sw": len(ALL_SECURITIES) + 1,
        "stock_margin_detail_sse": len(SSE) * days,
        "stock_margin_detail_szse": len(SZSE) * days,
        "stock_margin_detail_bse": len(BSE) * days,
        "stock_margin_sse": days,
        "stock_margin_szse": days,
        "stock_margin_bse": days,
        "stock_zh_a_daily": len(ALL_SECURITIES) * days - len(SUSPENDED),
        "stock_zh_a_spot_em": 0,  # the default clock is long after the window: no snapshot
        "stock_zh_index_daily": len(INDEX_CLOSE) * days,
        "futures_hist_daily_cffex": 12 * days,  # IF/IH/IC/IM x 2 months + T/TF/TS/TL x 1
        "fund_etf_hist_sina": 0,  # the stand-in's lists hold no fund: no call
        "stock_margin_underlying_info_szse": len(SZSE) * days,
        "stock_margin_underlying_info_bse": len(BSE) * days,
        "stock_margin_account_info": len(TRADING_DAYS),  # the whole history, one call
    }[function]


# --------------------------------------------------------------------------- a refresh


def test_a_refresh_produces_every_raw_table(loaded):
    for function, dataset in DATASETS.items():
        assert len(loaded.rows(function)) == expected_rows(function), function
        if dataset.call == "snapshot":
            continue  # the snapshot tests below
        expected_columns = list(dataset.column_names)
        if dataset.partitioned and "trade_date" not in expected_columns:
            expected_columns.append("trade_date")
        expected_columns += [*dataset.request_columns, "_source", "_fetched_at", "_landing_file"]
        if any(c.also_arrives_in for c in dataset.columns):
            expected_columns.append("_units_arrived")  # which unit a disputed column came in
            arrived = loaded.query(f"select distinct _units_arrived from raw.{function}")
            assert arrived and all("参与交易的投资者数量" in row[0] for row in arrived), arrived
        assert loaded.columns(function) == expected_columns, function
        if not expected_rows(function):
            continue  # no fund on the stand-in's lists: an empty table, as downstream needs
        assert loaded.query(f"select distinct _source from raw.{function}") == [("akshare",)], (
            function
        )
        assert loaded.query(
            f"select count(*) from raw.{function} where _fetched_at is null "
            "or _landing_file is null"
        ) == [(0,)]
        if dataset.partitioned:
            days = loaded.query(f"select distinct trade_date from raw.{function} order by 1")
            assert [d for (d,) in days] == WINDOW, function


def test_landing_file_of_every_row_exists(loaded):
    for function in DATASETS:
        for (name,) in loaded.query(f"select distinct _landing_file from raw.{function}"):
            assert (loaded.landing / name).is_file(), name
            assert name.startswith(f"{function}/"), name


def test_szse_detail_takes_its_trade_date_from_the_request(loaded):
    rows = loaded.query(
        'select trade_date, "证券代码", "融资余额", "融券余额" from raw.stock_margin_detail_szse'
    )
    expected = set()
    for day in WINDOW:
        clean = loaded.ak.clean("stock_margin_detail_szse", date=ymd(day))
        for code, financing, short in zip(
            clean["证券代码"], clean["融资余额"], clean["融券余额"], strict=True
        ):
            expected.add((day, code, float(financing), float(short)))
    assert set(rows) == expected


def test_sse_detail_keeps_its_date_column_typed(loaded):
    rows = loaded.query(
        'select "信用交易日期", trade_date, "标的证券代码" from raw.stock_margin_detail_sse '
        "where trade_date = ?",
        [OCT8],
    )
    assert sorted(rows) == [(OCT8, OCT8, s.code) for s in SSE]


def test_quotes_keep_the_requested_symbol_and_skip_suspensions(loaded):
    rows = loaded.query("select symbol, count(*) from raw.stock_zh_a_daily group by 1 order by 1")
    expected = {
        SINA_SYMBOLS[s.code]: len(WINDOW) - sum(1 for sym, _ in SUSPENDED
                                                 if sym == SINA_SYMBOLS[s.code])
        for s in ALL_SECURITIES
    }  # fmt: skip
    assert dict(rows) == expected
    close = loaded.query(
        "select close, outstanding_share from raw.stock_zh_a_daily "
        "where symbol = 'sz300750' and trade_date = ?",
        [OCT8],
    )
    clean = loaded.ak.clean(
        "stock_zh_a_daily", symbol="sz300750", start_date="20241008", end_date="20241008"
    )
    assert close == [(clean.loc[0, "close"], clean.loc[0, "outstanding_share"])]


def test_spot_index_full_history_is_cut_to_the_window(loaded):
    rows = loaded.query(
        "select symbol, min(trade_date), max(trade_date), count(*) "
        "from raw.stock_zh_index_daily group by 1 order by 1"
    )
    assert rows == [(s, WINDOW[0], WINDOW[-1], len(WINDOW)) for s in SPOT_SYMBOLS]


def test_futures_keep_bond_futures_beside_index_futures(loaded):
    varieties = loaded.query("select distinct variety from raw.futures_hist_daily_cffex order by 1")
    assert [v for (v,) in varieties] == sorted(["IC", "IF", "IH", "IM", "T", "TF", "TL", "TS"])


def test_one_parquet_per_call_named_by_function_and_arguments(loaded):
    window = "end_date=20241010__start_date=20240926"
    expected = {
        "tool_trade_date_hist_sina": {"all.parquet"},
        "stock_industry_clf_hist_sw": {"all.parquet"},
        "stock_margin_account_info": {"all.parquet"},
        "stock_margin_sse": {f"{window}.parquet"},
        "stock_zh_a_daily": {
            f"adjust=__{window}__symbol={s}.parquet" for s in SINA_SYMBOLS.values()
        },
        "stock_zh_index_daily": {
            f"symbol={s}__window=20240926-20241010.parquet" for s in SPOT_SYMBOLS
        },
        "stock_zh_a_spot_em": set(),  # no snapshot: the clock shows none of the window's closes
        "fund_etf_hist_sina": set(),  # no fund on the stand-in's lists
        **{f: {f"date={ymd(d)}.parquet" for d in WINDOW} for f in PER_DAY},
    }
    for function in DATASETS:
        assert set(loaded.landed(function)) == expected[function], function
        assert len(loaded.ak.calls_of(function)) == len(expected[function]), function
    assert not (loaded.landing / landing.REJECTED_DIR).exists()


def test_landing_files_keep_the_frame_as_it_arrived(loaded):
    for call, frame in loaded.ak.returned:
        full_history = DATASETS[call.function].call == "per_symbol_full"
        name = {**call.kwargs, "window": "20240926-20241010"} if full_history else call.kwargs
        path = landing.landing_path(loaded.landing, call.function, name)
        landed = landing.read_landed(path)
        assert landed.function == call.function and landed.kwargs == call.kwargs
        assert landed.source == "akshare"
        assert list(landed.frame.columns) == list(frame.columns)
        pd.testing.assert_frame_equal(
            landed.frame.reset_index(drop=True), frame.reset_index(drop=True),
            check_dtype=False,
        )  # fmt: skip
        if call.function == "stock_margin_detail_szse":  # one trading day per call
            day = dt.datetime.strptime(call.kwargs["date"], "%Y%m%d").date()
            assert landed.window == (day, day)
        elif call.function == "stock_zh_a_daily":  # the whole window per symbol
            assert landed.window == (WINDOW[0], WINDOW[-1])


def test_no_closed_day_is_requested_and_quotes_are_one_call_per_symbol(loaded):
    assert loaded.ak.requested_days() <= TRADING_DAY_SET
    assert loaded.ak.requested_days() == set(WINDOW)
    quote_calls = loaded.ak.calls_of("stock_zh_a_daily")
    assert sorted(quote_calls, key=lambda k: k["symbol"]) == [
        {"symbol": s, "start_date": "20240926", "end_date": "20241010", "adjust": ""}
        for s in sorted(SINA_SYMBOLS.values())
    ]
    assert loaded.ak.calls_of("futures_hist_daily_cffex") == [{"date": ymd(d)} for d in WINDOW]


# --------------------------------------------------------------------------- the closing snapshot

OCT10 = D(2024, 10, 10)
SNAPSHOT = "stock_zh_a_spot_em"


def evening(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(16, 0), tzinfo=SHANGHAI)


def test_an_evening_run_snapshots_its_last_day_and_asks_sina_for_the_rest(tmp_path):
    wh = Warehouse(tmp_path, now=evening(OCT10))
    wh.ak.spot_day = OCT10
    wh.refresh()
    assert wh.ak.calls_of(SNAPSHOT) == [{}]  # one call, no arguments
    assert set(wh.landed(SNAPSHOT)) == {"as_of=20241010.parquet"}
    rows = wh.query(
        f'select trade_date, "代码", "最新价", "流通市值" from raw.{SNAPSHOT} order by 2'
    )
    assert len(rows) == len(ALL_SECURITIES) + 1  # the whole market, not only the margin list
    assert {r[0] for r in rows} == {OCT10}
    byd = SECURITY_BY_SYMBOL["sz002594"]
    assert ("002594" in {r[1] for r in rows}) and next(r for r in rows if r[1] == "002594")[
        2
    ] == close_on(byd, OCT10)
    # Sina is asked for the days before, never for the snapshot's day.
    quote_calls = wh.ak.calls_of("stock_zh_a_daily")
    assert len(quote_calls) == len(SINA_SYMBOLS)
    assert {(c["start_date"], c["end_date"]) for c in quote_calls} == {("20240926", "20241009")}
    assert wh.query("select count(*) from raw.stock_zh_a_daily where trade_date = ?", [OCT10]) == [
        (0,)
    ]
    # The landing zone alone rebuilds it.
    rebuilt = replayed(wh.landing, tmp_path / "replayed.duckdb", [SNAPSHOT])
    assert rebuilt[SNAPSHOT] == wh.rows(SNAPSHOT)


def test_the_next_morning_keeps_the_snapshot_and_calls_nobody_for_quotes(tmp_path):
    wh = Warehouse(tmp_path, now=evening(OCT10))
    wh.ak.spot_day = OCT10
    wh.refresh()
    before = {f: wh.rows(f) for f in (SNAPSHOT, "stock_zh_a_daily")}
    calls = len(wh.ak.calls)
    # 09:30 the next trading day: the snapshot shows the session, not 10-10's close.
    wh.now = dt.datetime(2024, 10, 11, 9, 30, tzinfo=SHANGHAI)
    wh.ak.spot_day = D(2024, 10, 11)
    assert wh.load(SNAPSHOT, [OCT10]) is None
    assert wh.load("stock_zh_a_daily", [OCT10]) is None  # covered by the snapshot
    assert len(wh.ak.calls) == calls
    assert {f: wh.rows(f) for f in before} == before


def test_during_the_session_no_snapshot_is_taken_and_sina_covers_the_window(tmp_path):
    wh = Warehouse(tmp_path, now=dt.datetime(2024, 10, 10, 11, 0, tzinfo=SHANGHAI))
    wh.ak.spot_day = OCT10
    wh.refresh()
    assert wh.ak.calls_of(SNAPSHOT) == []
    assert wh.query(f"select count(*) from raw.{SNAPSHOT}") == [(0,)]
    assert {(c["start_date"], c["end_date"]) for c in wh.ak.calls_of("stock_zh_a_daily")} == {
        ("20240926", "20241010")
    }


def test_a_suspended_security_arrives_without_a_price(tmp_path):
    oct9 = D(2024, 10, 9)
    wh = Warehouse(tmp_path, now=evening(oct9))
    wh.ak.spot_day = oct9
    wh.load(SNAPSHOT, [oct9])
    assert wh.query(f'select "最新价", "成交量" from raw.{SNAPSHOT} where "代码" = \'000002\'') == [
        (None, 0.0)
    ]


@pytest.mark.parametrize(
    ("quirk", "error"),
    [
        (lambda ak: ak.rename(SNAPSHOT, "流通市值", "流通市值(元)"), "missing ['流通市值']"),
        (lambda ak: ak.scale(SNAPSHOT, "流通市值", 1e-8), "wrong unit?"),
        (lambda ak: ak.scale(SNAPSHOT, "成交额", -1), "negative value"),
    ],
)
def test_a_bad_snapshot_is_refused_and_the_last_one_survives(tmp_path, quirk, error):
    oct9 = D(2024, 10, 9)
    wh = Warehouse(tmp_path, now=evening(oct9))
    wh.ak.spot_day = oct9
    wh.load(SNAPSHOT, [oct9])
    before = wh.rows(SNAPSHOT)
    wh.now, wh.ak.spot_day = evening(OCT10), OCT10
    quirk(wh.ak)
    with pytest.raises(SourceDataError) as refused:
        wh.load(SNAPSHOT, [OCT10])
    assert "stock_zh_a_spot_em() for trading day 2024-10-10" in str(refused.value)
    assert error in str(refused.value)
    assert wh.rows(SNAPSHOT) == before
    assert len(wh.rejected(SNAPSHOT)) == 1


# --------------------------------------------------------------------------- re-runs


def test_a_rerun_changes_nothing(wh):
    wh.refresh()
    before = {f: wh.rows(f, exclude=("_fetched_at",)) for f in DATASETS}
    fetched = {f: wh.query(f"select max(_fetched_at) from raw.{f}") for f in DATASETS}
    wh.refresh()
    for function in DATASETS:
        after = wh.rows(function, exclude=("_fetched_at",))
        assert after == before[function], function
        assert len(set(after)) == len(after), f"{function}: duplicated rows"
        if DATASETS[function].call == "snapshot" or not expected_rows(function):
            continue  # never taken at this clock (see the snapshot tests), or no fund listed
        # It was loaded again (not skipped): the fetch time moved.
        assert wh.query(f"select max(_fetched_at) from raw.{function}") > fetched[function]


def test_reloading_one_day_replaces_only_that_day(wh):
    wh.load("stock_margin_detail_szse")
    wh.load("stock_margin_sse")
    before = {f: wh.rows(f) for f in ("stock_margin_detail_szse", "stock_margin_sse")}
    day = D(2024, 9, 30)
    # The exchange revises its figures for 09-30.
    wh.ak.scale("stock_margin_detail_szse", "融资买入额", 1.5, date="20240930")
    wh.ak.scale("stock_margin_sse", "融资买入额", 1.5)
    wh.load("stock_margin_detail_szse", [day])
    wh.load("stock_margin_sse", [day])
    for function in ("stock_margin_detail_szse", "stock_margin_sse"):
        after = wh.rows(function)
        idx = wh.columns(function).index("trade_date")
        other_days_before = [r for r in before[function] if r[idx] != day]
        assert [r for r in after if r[idx] != day] == other_days_before, function
        day_rows = [r for r in after if r[idx] == day]
        old_day_rows = [r for r in before[function] if r[idx] == day]
        assert len(day_rows) == len(old_day_rows) > 0
        value = wh.columns(function).index("融资买入额")
        assert sorted(r[value] for r in day_rows) == sorted(1.5 * r[value] for r in old_day_rows)
    # The one-day SSE summary call got its own landing file beside the window's.
    assert "end_date=20240930__start_date=20240930.parquet" in wh.landed("stock_margin_sse")


# --------------------------------------------------------------------------- ugly but valid


def test_thousands_separators_int_codes_and_blanks_load_as_meant(wh):
    ak = wh.ak
    ak.thousands("stock_margin_detail_szse").int_codes("stock_margin_detail_szse")
    ak.blanks("stock_margin_detail_szse", "融券卖出量", date="20241008")
    ak.thousands("stock_margin_szse")
    wh.load("stock_margin_detail_szse")
    wh.load("stock_margin_szse")
    for day in WINDOW:
        clean = ak.clean("stock_margin_detail_szse", date=ymd(day))
        rows = wh.query(
            'select "证券代码", "融资余额", "融券卖出量" from raw.stock_margin_detail_szse '
            'where trade_date = ? order by "证券代码"',
            [day],
        )
        sold = [float(v) for v in clean["融券卖出量"]]
        if day == OCT8:
            sold[:2] = [None, None]  # '-' and '' are "not published", not zero
        assert rows == list(
            zip(clean["证券代码"], map(float, clean["融资余额"]), sold, strict=True)
        )
        summary = wh.query(
            'select "融资余额", "融资融券余额" from raw.stock_margin_szse where trade_date = ?',
            [day],
        )
        clean_summary = ak.clean("stock_margin_szse", date=ymd(day))
        assert summary == [(clean_summary.loc[0, "融资余额"], clean_summary.loc[0, "融资融券余额"])]


def test_transient_errors_during_a_load_are_retried(wh):
    wh.ak.fail("stock_margin_detail_sse", times=2)
    wh.ak.fail("futures_hist_daily_cffex", times=1, error=lambda: requests.Timeout("read timed out"))
    wh.load("stock_margin_detail_sse")
    wh.load("futures_hist_daily_cffex")
    assert len(wh.rows("stock_margin_detail_sse")) == expected_rows("stock_margin_detail_sse")
    assert len(wh.rows("futures_hist_daily_cffex")) == expected_rows("futures_hist_daily_cffex")
    first_day = wh.ak.calls_of("stock_margin_detail_sse")[:3]
    assert first_day == [{"date": "20240926"}] * 3


def test_an_outage_keeps_the_days_loaded_before_it_and_a_rerun_resumes(wh):
    """A backfill commits as it goes: the days fetched before an outage stay loaded and
    landed, and the next run makes only the calls that are left."""
    wh.ak.fail(  # the fourth day's call never gets through (3 attempts)
        "stock_margin_detail_sse", 3, lambda: requests.ConnectionError("refused"), date="20241008"
    )
    with pytest.raises(SourceUnavailableError, match=r"stock_margin_detail_sse\(date='20241008'\)") as error:
        wh.load("stock_margin_detail_sse", refetch=False)
    assert "3 of 6 calls are loaded and kept" in " ".join(error.value.__notes__)
    first_three = WINDOW[:3]
    loaded = wh.query("select distinct trade_date from raw.stock_margin_detail_sse order by 1")
    assert [d for (d,) in loaded] == first_three
    assert set(wh.landed("stock_margin_detail_sse")) == {f"date={ymd(d)}.parquet" for d in first_three}
    assert not list(wh.landing.rglob("*.pending"))

    calls = len(wh.ak.calls_of("stock_margin_detail_sse"))
    assert calls == 3 + 3
    result = wh.load("stock_margin_detail_sse", refetch=False)  # the host is back: resume
    made = [c["date"] for c in wh.ak.calls_of("stock_margin_detail_sse")][calls:]
    assert made == [ymd(d) for d in WINDOW[3:]]
    assert result.skipped_calls == 3
    assert len(wh.rows("stock_margin_detail_sse")) == expected_rows("stock_margin_detail_sse")
    # a third run has nothing left to do
    wh.load("stock_margin_detail_sse", refetch=False)
    assert len(wh.ak.calls_of("stock_margin_detail_sse")) == calls + len(WINDOW) - 3


# --------------------------------------------------------------------------- bad input

# name: (function, how the stand-in spoils it, fragments of the message)
BAD_INPUT = {
    "renamed column": (
        "stock_margin_detail_sse",
        lambda ak: ak.rename("stock_margin_detail_sse", "融资余额", "融资余额(元)", date="20241008"),
        ["stock_margin_detail_sse(date='20241008')", "trading day 2024-10-08",
         "missing ['融资余额']", "unexpected ['融资余额(元)']"],
    ),
    "missing column": (
        "stock_margin_detail_szse",
        lambda ak: ak.drop("stock_margin_detail_szse", "融券余额", date="20241008"),
        ["stock_margin_detail_szse(date='20241008')", "trading day 2024-10-08",
         "missing ['融券余额']", "expected ['证券代码'", "arrived ['证券代码'"],
    ),
    "unparseable number": (
        "stock_margin_detail_szse",
        lambda ak: ak.thousands("stock_margin_detail_szse").unparseable(
            "stock_margin_detail_szse", "融资余额", "1,23a,456", row=2, date="20241008"),
        ["stock_margin_detail_szse(date='20241008')", "trading day 2024-10-08",
         "column '融资余额'", "expected number in CNY", "row 2: '1,23a,456'"],
    ),
    "duplicated key": (
        "stock_margin_detail_bse",
        lambda ak: ak.duplicate_row("stock_margin_detail_bse", row=1, date="20241008"),
        ["stock_margin_detail_bse(date='20241008')", "trading day 2024-10-08",
         "duplicated key ['证券代码', 'trade_date']", "'830799'"],
    ),
    "SZSE summary in CNY instead of 亿": (
        "stock_margin_szse",
        lambda ak: [ak.scale("stock_margin_szse", c, 1e8, date="20241008")
                    for c in ("融资余额", "融资融券余额")],
        ["stock_margin_szse(date='20241008')", "trading day 2024-10-08", "wrong unit",
         "[0.001, 100000] 100m_CNY", "arrived with median"],
    ),
    "SSE detail for another day": (
        "stock_margin_detail_sse",
        lambda ak: ak.quirk("stock_margin_detail_sse",
                            lambda f: f.assign(信用交易日期="20240930"), date="20241008"),
        ["stock_margin_detail_sse(date='20241008')", "asked for 2024-10-08"],
    ),
    "empty frame": (
        "stock_margin_detail_bse",
        lambda ak: ak.empty("stock_margin_detail_bse", date="20241008"),
        ["stock_margin_detail_bse(date='20241008')", "trading day 2024-10-08",
         "not published yet"],
    ),
    "empty futures frame": (
        "futures_hist_daily_cffex",
        lambda ak: ak.empty("futures_hist_daily_cffex", columnless=True),
        ["futures_hist_daily_cffex(date='20240926')",
         "not published yet"],
    ),
    "futures range skips a trading day": (
        "futures_hist_daily_cffex",
        lambda ak: ak.skip_day("futures_hist_daily_cffex", OCT8),
        ["futures_hist_daily_cffex", "2024-10-08"],
    ),
    "SSE summary range skips a trading day": (
        "stock_margin_sse",
        lambda ak: ak.skip_day("stock_margin_sse", OCT8),
        ["stock_margin_sse", "2024-10-08"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_refused_and_loaded_rows_survive(wh, case):
    function, spoil, fragments = BAD_INPUT[case]
    wh.refresh() if function == "stock_zh_a_daily" else wh.load(function)
    before, landed = wh.rows(function, exclude=("_fetched_at",)), wh.landed(function)
    assert len(before) == expected_rows(function)

    spoil(wh.ak)
    calls_before = len(wh.ak.returned)
    with pytest.raises(SourceDataError) as error:
        wh.load(function)
    message = str(error.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)

    # Nothing of the refused frame written, earlier data untouched: every row and column
    # (the days before it were fetched again and committed as they went: same values).
    assert wh.rows(function, exclude=("_fetched_at",)) == before
    # The landing zone still holds exactly the frames that are loaded ...
    assert set(wh.landed(function)) == set(landed)
    assert not list(wh.landing.rglob("*.pending"))
    # ... and the refused frame is kept aside for inspection, as it arrived.
    rejected = wh.rejected(function)
    assert rejected, "refused frame not kept"
    bad_calls = {
        landing.landing_path(wh.landing, c.function, c.kwargs).stem: f
        for c, f in wh.ak.returned[calls_before:]
    }
    refused = rejected[-1]
    stem = refused.stem.rsplit("__", 1)[0]
    kept = pq.read_table(refused).to_pandas()
    assert list(kept.columns) == list(bad_calls[stem].columns)
    assert len(kept) == len(bad_calls[stem])
    reasons = [r.with_suffix(".txt").read_text(encoding="utf-8") for r in rejected]
    assert any(fragments[0] in reason for reason in reasons), (fragments[0], reasons)


def test_one_symbol_in_another_unit_is_set_aside_and_asked_for_again(wh):
    """One stock's history in 万股 refuses that stock's frame only: the other stocks load,
    meta.missing_symbols names it with the reason, and the next run asks for it again
    from its first missing day, then forgets it once it loads."""
    function = "stock_zh_a_daily"
    wh.refresh()
    before = wh.rows(function, exclude=("_fetched_at",))
    wh.ak.scale(function, "outstanding_share", 1e-4, symbol="sz000002")

    result = wh.load(function)  # no error: one symbol is not the dataset

    assert [f.symbol for f in result.missing_symbols] == ["sz000002"]
    assert wh.rows(function, exclude=("_fetched_at",)) == before  # its rows from before stay
    missing = wh.con.execute(
        "select dataset, symbol, first_missing_day, last_missing_day, reason, attempts "
        "from meta.missing_symbols").fetchall()  # fmt: skip
    assert [m[:4] for m in missing] == [(function, "sz000002", WINDOW[0], WINDOW[-1])]
    assert "wrong unit" in missing[0][4] and "arrived with median 97200" in missing[0][4]
    assert wh.rejected(function), "the refused frame is kept for inspection"

    wh.ak.clear()
    calls = len(wh.ak.returned)
    retried = wh.load(function, refetch=False)  # a later run: only the set-aside symbol
    assert [c.kwargs["symbol"] for c, _ in wh.ak.returned[calls:]] == ["sz000002"]
    assert wh.ak.returned[calls][0].kwargs["start_date"] == WINDOW[0].strftime("%Y%m%d")
    assert retried.missing_symbols == []
    assert wh.con.execute("select count(*) from meta.missing_symbols").fetchone()[0] == 0


def test_a_day_refused_on_its_own_leaves_the_other_days_of_its_batch_loaded(wh):
    """An empty frame for one day (not published yet) sets aside that day only: the days
    fetched in the same transaction load, and the error names the refused day."""
    function = "stock_margin_detail_szse"
    wh.ak.empty(function, date="20241008")
    with pytest.raises(SourceDataError) as error:
        wh.load(function)
    assert "2024-10-08" in str(error.value) and "not published yet" in str(error.value)
    days = {r[0] for r in wh.con.execute(f"select distinct trade_date from raw.{function}").fetchall()}
    assert days == set(WINDOW) - {OCT8}
    assert len(wh.landed(function)) == len(WINDOW) - 1


def test_many_symbols_failing_in_a_row_stop_the_dataset_rather_than_call_for_all():
    """Ten symbols in a row without a usable frame is the host or its pages, not the
    symbols: the fetch stops there instead of making a call for every other symbol."""
    from margin_wh.raw.load import SYMBOL_FAILURES_IN_A_ROW_MAX, Request, fetch

    class Refusing:
        name = "akshare"
        calls = 0

        def call(self, function, **kwargs):
            Refusing.calls += 1
            raise ValueError("Length mismatch: Expected axis has 0 elements")

    dataset = DATASETS["fund_etf_hist_sina"]
    requests = [Request({"symbol": f"sh51{i:04d}"}, (OCT8, OCT8), full_history=True)
                for i in range(30)]  # fmt: skip
    with pytest.raises(SourceDataError, match="symbols in a row"):
        fetch(Refusing(), dataset, requests, Path("/nonexistent-landing"))
    assert Refusing.calls == SYMBOL_FAILURES_IN_A_ROW_MAX


def test_a_refused_load_leaves_replay_equal_to_the_raw_tables(wh):
    """A multi-day load refused on its fourth day must not leave its first three days
    in the landing zone: replay would then load rows the raw tables never had."""
    wh.load("stock_margin_detail_sse", WINDOW[:2])
    wh.ak.rename("stock_margin_detail_sse", "融资余额", "融资余额(元)", date="20241008")
    with pytest.raises(SourceDataError):
        wh.load("stock_margin_detail_sse")  # 09-26 .. 09-30 fetch fine, 10-08 is refused
    wh.load(CALENDAR_FUNCTION)
    rebuilt = replayed(wh.landing, wh.root / "replayed.duckdb", ["stock_margin_detail_sse"])
    assert rebuilt["stock_margin_detail_sse"] == wh.rows("stock_margin_detail_sse")


# --------------------------------------------------------------------------- replay


def test_replay_reproduces_the_raw_tables_exactly(wh, monkeypatch, tmp_path):
    ak = wh.ak
    ak.thousands("stock_margin_detail_szse").int_codes("stock_margin_detail_szse")
    ak.blanks("stock_margin_detail_bse", "融券余额", date="20240930")
    wh.refresh()
    # History with overlaps: a day reloaded with revised figures, a refused load.
    ak.scale("stock_margin_sse", "融资买入额", 1.01)
    wh.load("stock_margin_sse", [OCT8])
    ak.scale("stock_margin_detail_sse", "融资买入额", 1.01, date="20241008")
    wh.load("stock_margin_detail_sse", [OCT8])
    ak.duplicate_row("stock_margin_detail_szse", date="20240930")
    with pytest.raises(SourceDataError):
        wh.load("stock_margin_detail_szse")
    tables = {f: wh.rows(f) for f in DATASETS}
    calls = len(ak.calls)

    monkeypatch.setitem(sys.modules, "akshare", UnreachableAkshare())  # no way to fetch
    rebuilt = replayed(wh.landing, tmp_path / "replayed.duckdb", list(DATASETS))
    for function in DATASETS:
        assert len(tables[function]) == expected_rows(function), function
        assert rebuilt[function] == tables[function], function
    # Replaying over the existing tables replaces them whole: still the same.
    calendar = load_calendar(wh.landing)
    for dataset in DATASETS.values():
        replay(wh.con, dataset, calendar, wh.landing)
    assert {f: wh.rows(f) for f in DATASETS} == tables
    assert len(ak.calls) == calls  # replay made no calls


def test_replay_after_overlapping_refreshes_equals_the_raw_tables(wh, monkeypatch, tmp_path):
    """Every landed call replays to exactly the rows it put in raw: refreshes over
    overlapping windows (the later ones with revised figures, one taking the closing
    snapshot), then a replay into a fresh warehouse, every dataset. A full-history call
    (the spot indices) lands beside the earlier calls of its symbol, not over them."""
    later = [d for d in TRADING_DAYS if OCT8 <= d <= D(2024, 10, 16)]
    inner = WINDOW[2:5]
    wh.refresh(WINDOW)
    wh.ak.scale("stock_zh_index_daily", "close", 1.001)  # revised figures
    wh.ak.scale("stock_margin_detail_sse", "融资买入额", 1.01)
    wh.now, wh.ak.spot_day = evening(later[-1]), later[-1]  # the snapshot for the last day
    wh.refresh(later)
    wh.now = dt.datetime(2026, 11, 21, 11, 0, tzinfo=SHANGHAI)
    wh.ak.scale("stock_zh_index_daily", "close", 1.001)
    wh.refresh(inner)
    tables = {f: wh.rows(f) for f in DATASETS}
    days = sorted(set(WINDOW) | set(later))
    assert len(tables["stock_zh_index_daily"]) == len(SPOT_SYMBOLS) * len(days)
    assert len(wh.landed("stock_zh_index_daily")) == 3 * len(SPOT_SYMBOLS)
    assert tables[SNAPSHOT]

    monkeypatch.setitem(sys.modules, "akshare", UnreachableAkshare())  # no way to fetch
    rebuilt = replayed(wh.landing, tmp_path / "replayed.duckdb", list(DATASETS))
    for function in DATASETS:
        assert rebuilt[function] == tables[function], function


# --------------------------------------------------------------------------- all or nothing


class FailingInsert:
    """A DuckDB connection that dies on the INSERT that follows load_frames' DELETE."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self._con = con
        self.statements: list[str] = []

    def execute(self, sql: str, *args, **kwargs):
        self.statements.append(sql)
        if sql.startswith("INSERT INTO raw."):
            deleted = self._con.execute(
                "select count(*) from raw.stock_margin_detail_szse where trade_date = ?", [OCT8]
            ).fetchone()[0]
            assert deleted == 0  # inside the transaction, the day is gone at this point
            raise duckdb.IOException("injected: disk full during INSERT")
        return self._con.execute(sql, *args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self._con, name)


def test_a_failed_load_is_all_or_nothing(wh):
    wh.load("stock_margin_detail_szse")
    before, landed = wh.rows("stock_margin_detail_szse"), wh.landed("stock_margin_detail_szse")
    wh.ak.scale("stock_margin_detail_szse", "融资买入额", 2.0)
    failing = FailingInsert(wh.con)
    with pytest.raises(duckdb.IOException, match="injected"):
        wh.load("stock_margin_detail_szse", [OCT8, D(2024, 10, 9)], con=failing)
    assert any(s.startswith("DELETE FROM raw.stock_margin_detail_szse") for s in failing.statements)
    assert "ROLLBACK" in failing.statements
    # The day's old rows are intact, seen from this and from a fresh connection.
    assert wh.rows("stock_margin_detail_szse") == before
    wh.con.close()
    wh.con = duckdb.connect(str(wh.db_path))
    assert wh.rows("stock_margin_detail_szse") == before
    assert wh.landed("stock_margin_detail_szse") == landed
    # And the connection is usable: the next load goes through.
    wh.load("stock_margin_detail_szse", [OCT8])
    doubled = wh.query(
        'select sum("融资买入额") from raw.stock_margin_detail_szse where trade_date = ?', [OCT8]
    )[0][0]
    clean = wh.ak.clean("stock_margin_detail_szse", date="20241008")
    assert doubled == pytest.approx(2.0 * float(clean["融资买入额"].sum()))


def test_load_frames_with_nothing_parsed_leaves_the_table(wh):
    wh.load("stock_margin_szse")
    before = wh.rows("stock_margin_szse")
    result = load_frames(wh.con, DATASETS["stock_margin_szse"], [], WINDOW, wh.landing)
    assert result.rows_written == 0 and wh.rows("stock_margin_szse") == before


def test_the_calendar_lands_where_load_calendar_reads_it(wh):
    wh.load(CALENDAR_FUNCTION)
    assert load_calendar(wh.landing) == sorted(FULL_CALENDAR)
    assert [d for (d,) in wh.query("select trade_date from raw.tool_trade_date_hist_sina "
                                   "order by 1")] == sorted(FULL_CALENDAR)  # fmt: skip


def test_a_full_history_call_is_named_by_its_window_and_a_windowed_one_by_its_arguments():
    days = WINDOW[1:4]
    [index] = plan_requests(DATASETS["stock_zh_index_daily"], days, ["sh000300"])
    assert index.kwargs == {"symbol": "sh000300"}  # what akshare is called with
    assert index.landing_name == {"symbol": "sh000300", "window": "20240927-20241008"}
    assert landing.window_of_name(index.landing_name["window"]) == (days[0], days[-1])
    [quotes] = plan_requests(DATASETS["stock_zh_a_daily"], days, ["sz000001"])
    assert quotes.landing_name == quotes.kwargs  # its arguments name the window already
    day = plan_requests(DATASETS["stock_margin_detail_sse"], days)[0]
    assert day.landing_name == {"date": "20240927"}


def test_calls_overlap_only_when_a_day_and_symbol_is_covered_twice():
    """Overlap resolution (latest fetch wins) is needed only in replay of overlapping
    backfills; a plain fetch skips it. The rule must tell the two apart."""
    from margin_wh.raw.landing import LandedFrame
    from margin_wh.raw.load import ParsedFrame, _calls_overlap

    def call(symbol, first, last):
        kwargs = {
            "symbol": symbol,
            "start_date": first.replace("-", ""),
            "end_date": last.replace("-", ""),
        }
        window = (dt.date.fromisoformat(first), dt.date.fromisoformat(last))
        landed = LandedFrame(
            "stock_zh_a_daily", kwargs, "demo", dt.datetime(2024, 1, 1), window, Path("x"), None
        )
        return ParsedFrame(landed, None)

    quotes = DATASETS["stock_zh_a_daily"]
    assert not _calls_overlap(
        quotes,
        [
            call("sh600000", "2024-01-02", "2024-01-31"),
            call("sz000001", "2024-01-02", "2024-01-31"),
        ],
    )
    assert not _calls_overlap(
        quotes,
        [
            call("sh600000", "2024-01-02", "2024-01-31"),
            call("sh600000", "2024-02-01", "2024-02-29"),
        ],
    )
    assert _calls_overlap(
        quotes,
        [
            call("sh600000", "2024-01-02", "2024-01-31"),
            call("sh600000", "2024-01-31", "2024-02-29"),
        ],
    )


# --------------------------------------------------------------------------- leftovers


def test_the_next_load_removes_what_a_killed_run_left_in_the_landing_zone(wh):
    """A kill between fetch and commit leaves `.….parquet.<pid>.pending` files that
    nothing will accept: the next load of the dataset removes those of dead processes."""
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    folder = wh.landing / "stock_margin_detail_sse"
    folder.mkdir(parents=True, exist_ok=True)
    orphan = folder / f".date=20240926.parquet.{dead.pid}.pending"
    orphan.write_bytes(b"half a frame")
    alive = folder / f".date=20241231.parquet.{os.getpid()}.pending"  # a run still going
    alive.write_bytes(b"in flight")
    wh.load("stock_margin_detail_sse")
    assert not orphan.exists() and alive.exists()
    alive.unlink()


# --------------------------------------------------------------------------- a stale day


@pytest.mark.parametrize("function", ["stock_margin_detail_szse", "stock_margin_detail_bse"])
def test_the_previous_days_file_under_a_new_date_is_refused(wh, function):
    """An exchange that has not published day T yet may serve T-1's file under T's date:
    every balance equal to the previous trading day's. Refused, nothing written."""
    wh.load(function, WINDOW[:2])
    before = wh.rows(function, exclude=("_fetched_at",))
    previous_day = wh.ak.clean(function, date=ymd(WINDOW[1]))
    wh.ak.quirk(function, lambda frame: previous_day.copy(), date=ymd(WINDOW[2]))
    with pytest.raises(SourceDataError, match=f"repeats {WINDOW[1]}'s 融资余额, 融券余量") as error:
        wh.load(function, WINDOW[2:3])
    assert "not published yet" in str(error.value)
    assert wh.rows(function, exclude=("_fetched_at",)) == before
    assert wh.rejected(function)  # kept aside, with the reason


def test_a_refresh_of_days_a_backfill_covered_makes_no_sina_call_again(wh):
    """One Sina call per security covers a whole window: a later refresh of some of its
    days finds every security's quotes landed for a window covering them."""
    wh.refresh()
    calls = len(wh.ak.calls_of("stock_zh_a_daily"))
    result = wh.load("stock_zh_a_daily", WINDOW[2:4], refetch=False)
    assert len(wh.ak.calls_of("stock_zh_a_daily")) == calls
    assert result.skipped_calls == len(SINA_SYMBOLS)
    later = [d for d in TRADING_DAYS if d > WINDOW[-1]][:2]  # beyond the backfill: fetched
    wh.load("stock_zh_a_daily", later, symbols=sorted(SINA_SYMBOLS.values()), refetch=False)
    assert len(wh.ak.calls_of("stock_zh_a_daily")) == calls + len(SINA_SYMBOLS)


# --------------------------------------------------------------------------- review fixes


def test_a_new_warehouse_beside_an_old_landing_zone_loads_rather_than_skips(wh, tmp_path):
    """A landed call counts as made only if this warehouse holds its rows: a warehouse
    rebuilt beside the landing zone calls again instead of loading nothing."""
    wh.load("stock_margin_detail_sse", refetch=False)
    (tmp_path / "rebuilt").mkdir()
    fresh = Warehouse(tmp_path / "rebuilt", ak=wh.ak)
    fresh.landing = wh.landing
    calls = len(wh.ak.calls_of("stock_margin_detail_sse"))
    result = fresh.load("stock_margin_detail_sse", refetch=False)
    assert result.skipped_calls == 0
    assert len(wh.ak.calls_of("stock_margin_detail_sse")) == calls + len(WINDOW)
    assert len(fresh.rows("stock_margin_detail_sse")) == expected_rows("stock_margin_detail_sse")
    fresh.con.close()


def test_a_day_every_quote_lacks_is_refused_and_asked_for_again(wh):
    """A backfill while Sina lacks the window's last day for every security: the load
    fails, and the next run asks for those calls again instead of taking the landed
    files as complete; once Sina has the day, the quotes are whole."""
    for function in ("stock_margin_detail_sse", "stock_margin_detail_szse", "stock_margin_detail_bse"):
        wh.load(function, refetch=False)
    last = WINDOW[-1]
    wh.ak.quirk("stock_zh_a_daily", lambda frame: frame[frame["date"] != last])
    with pytest.raises(SourceDataError, match="no rows for 1 trading day"):
        wh.load("stock_zh_a_daily", refetch=False)
    made = len(wh.ak.calls_of("stock_zh_a_daily"))
    with pytest.raises(SourceDataError):
        wh.load("stock_zh_a_daily", refetch=False)  # asked again, not skipped
    assert len(wh.ak.calls_of("stock_zh_a_daily")) == 2 * made
    wh.ak.clear()
    wh.load("stock_zh_a_daily", refetch=False)
    assert len(wh.rows("stock_zh_a_daily")) == expected_rows("stock_zh_a_daily")


def test_a_spot_index_missing_a_day_is_refused(wh):
    wh.ak.quirk(
        "stock_zh_index_daily", lambda frame: frame[frame["date"] != WINDOW[3]], symbol="sh000300"
    )
    with pytest.raises(SourceDataError, match="no rows for 1 trading day"):
        wh.load("stock_zh_index_daily")


# --------------------------------------------------------------------------- totals vs detail

SZSE_DETAIL_MONEY = ("融资买入额", "融资余额", "融券余额", "融资融券余额")
SZSE_DETAIL_VOLUMES = ("融券卖出量", "融券余量")


def in_wan(ak: FakeAkshare, function: str, **when) -> None:
    """The detail sent in 万元 and 万股: every per-frame check still passes (medians in
    range on a short list, the implied close unchanged), only the totals disagree."""
    for column in SZSE_DETAIL_MONEY + SZSE_DETAIL_VOLUMES:
        ak.scale(function, column, 1e-4, **when)


def test_a_detail_day_in_wan_yuan_is_refused_before_commit_and_the_other_days_load(wh):
    detail = "stock_margin_detail_szse"
    wh.load("stock_margin_szse", refetch=False)  # a refresh loads the totals first
    in_wan(wh.ak, detail, date=ymd(OCT8))
    with pytest.raises(SourceDataError) as error:
        wh.load(detail, refetch=False)
    message = str(error.value)
    for fragment in (f"{detail} for 2024-10-08", "the SZSE total loaded (stock_margin_szse)",
                     "1/10,0", "the detail looks to be in 万元, its contract says 元",
                     "[frame kept in"):  # fmt: skip
        assert fragment in message, (fragment, message)
    assert "5 of 6 calls are loaded and kept" in " ".join(error.value.__notes__)

    # nothing of the day written; the other days loaded and landed
    days = [d for (d,) in wh.query(f"select distinct trade_date from raw.{detail} order by 1")]
    assert days == [d for d in WINDOW if d != OCT8]
    assert len(wh.rows(detail)) == len(SZSE) * (len(WINDOW) - 1)
    assert set(wh.landed(detail)) == {f"date={ymd(d)}.parquet" for d in WINDOW if d != OCT8}
    assert not list(wh.landing.rglob("*.pending"))
    # kept aside as it arrived, with the reason
    [refused] = wh.rejected(detail)
    assert refused.name.startswith(f"date={ymd(OCT8)}__")
    assert "looks to be in 万元" in refused.with_suffix(".txt").read_text(encoding="utf-8")
    kept = pq.read_table(refused).to_pandas()
    assert kept["融资余额"].sum() == pytest.approx(wh.ak.clean(detail, date=ymd(OCT8))["融资余额"].sum() / 1e4)

    # once SZSE sends 元 again, a plain re-run makes only the refused day's call
    wh.ak.clear()
    calls = len(wh.ak.calls_of(detail))
    wh.load(detail, refetch=False)
    assert wh.ak.calls_of(detail)[calls:] == [{"date": ymd(OCT8)}]
    assert len(wh.rows(detail)) == expected_rows(detail)


def test_a_total_that_contradicts_the_loaded_detail_is_refused(wh):
    """Loaded the other way round (the detail first, as a run of that asset alone may),
    the totals are judged against the detail in raw: the day's total is kept aside."""
    half_published = lambda frame: frame.iloc[1:]  # noqa: E731 - a security missing
    wh.ak.quirk("stock_margin_detail_bse", half_published, date=ymd(OCT8))
    wh.load("stock_margin_detail_bse", refetch=False)  # no totals yet: nothing to judge by
    with pytest.raises(SourceDataError, match="stock_margin_bse for 2024-10-08 arrived with") as error:
        wh.load("stock_margin_bse", refetch=False)
    assert "the detail loaded (stock_margin_detail_bse)" in str(error.value)
    assert "securities missing from the detail, or a half-published day?" in str(error.value)
    days = [d for (d,) in wh.query("select trade_date from raw.stock_margin_bse order by 1")]
    assert days == [d for d in WINDOW if d != OCT8]
    assert [p.name.split("__")[0] for p in wh.rejected("stock_margin_bse")] == [f"date={ymd(OCT8)}"]


def test_every_exchanges_totals_match_its_detail_in_a_clean_refresh(loaded):
    """The identity holds on the stand-in's market, as on a real one (within 2%)."""
    for exchange in EXCHANGES:
        totals = dict(loaded.query(
            f'select trade_date, "融资余额" * {exchange.summary_cny_per_unit} '
            f"from raw.{exchange.summary_function}"))  # fmt: skip
        detail = dict(loaded.query(
            f'select trade_date, sum("融资余额") from raw.{exchange.detail_function} group by 1'))  # fmt: skip
        assert set(totals) == set(detail) == set(WINDOW)
        for day in WINDOW:
            assert 0 < totals[day] / detail[day] - 1 < 0.01, (exchange.name, day)


def test_a_short_volume_in_lots_is_refused_against_the_closes_loaded_before_it(wh):
    """The next day's BSE detail with 融券余量 in 手: the implied close is a hundred times
    the close the quotes gave the day before (every per-frame check passes: the implied
    close stays in its plausible range, the financing columns match the totals)."""
    detail, last = "stock_margin_detail_bse", WINDOW[-1]
    wh.refresh(WINDOW[:-1])
    wh.load("stock_margin_bse", [last])
    before = wh.rows(detail, exclude=("_fetched_at",))
    for column in ("融券余量", "融券卖出量"):
        wh.ak.scale(detail, column, 0.01, date=ymd(last))
    with pytest.raises(SourceDataError) as error:
        wh.load(detail, [last], refetch=False)
    message = str(error.value)
    for fragment in (f"{detail} for {last}", "a median 100× the close loaded",
                     "the volume in 手 (100 shares)", "[frame kept in"):  # fmt: skip
        assert fragment in message, (fragment, message)
    assert wh.rows(detail, exclude=("_fetched_at",)) == before  # nothing of the day written
    [refused] = wh.rejected(detail)
    assert "a median 100×" in refused.with_suffix(".txt").read_text(encoding="utf-8")
    wh.ak.clear()
    wh.load(detail, [last], refetch=False)  # sent in shares again: loads
    assert len(wh.rows(detail)) == expected_rows(detail)


def test_a_long_range_of_sse_totals_is_asked_in_windows_the_host_answers_in_full():
    """SSE cuts a long range short (akshare's own multi-year example returns exactly 2,000
    rows): a backfill asks in windows of at most SSE_TOTALS_DAYS_PER_CALL trading days,
    contiguous, covering every day once."""
    from margin_wh.raw.load import plan_requests
    from margin_wh.sources.datasets import SSE_TOTALS_DAYS_PER_CALL

    days = [D(2010, 3, 31) + dt.timedelta(days=i) for i in range(5000)]
    days = [d for d in days if d.weekday() < 5]
    requests = plan_requests(DATASETS["stock_margin_sse"], days)
    assert len(requests) == -(-len(days) // SSE_TOTALS_DAYS_PER_CALL)
    covered = [d for r in requests for d in days if r.window[0] <= d <= r.window[1]]
    assert covered == days  # each day in exactly one window, in order
    assert all(len([d for d in days if r.window[0] <= d <= r.window[1]]) <= SSE_TOTALS_DAYS_PER_CALL
               for r in requests)  # fmt: skip
    assert requests[0].kwargs == {"start_date": "20100331",
                                  "end_date": requests[0].window[1].strftime("%Y%m%d")}  # fmt: skip
    assert len(plan_requests(DATASETS["stock_margin_sse"], days[:5])) == 1  # a daily run: one call
