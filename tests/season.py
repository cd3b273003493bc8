"""A season of unattended operation: the scheduled path driven tick by tick on a fake clock.

`run_season(root, faults)` is what the Dagster daemon would do for a warehouse left running
over the turn of the year, with the live source (MARGIN_WH_SOURCE=akshare) on the fake
sites of tests/akshare_http.py (akshare's real functions, the HTTP layer replaced):

- the fake clock (time-machine) stands at each tick of the two schedules in turn, 09:30
  `daily_refresh` and 15:40 `closing_snapshot` Beijing time, every calendar day;
- each tick builds the real Definitions (`build_definitions`), evaluates the schedule with
  `dg.build_schedule_context` and records its decision (the runs it asks for, or why it
  skips);
- each RunRequest is executed as the daemon launches it: the same job, tags (partition or
  range, the run key, the schedule's name) and asset selection, with
  `JobDefinition.execute_in_process`; a failed run is retried as the daemon's run retries
  do (`dagster/max_retries`, from the failure, with `dg.execute_job` on a reconstructable
  job); every failed run is shown to the failure sensor `report_failed_refresh`
  (`dg.build_run_status_sensor_context`), and what it asks for is run too; every other
  sensor (the asset sensors) is evaluated after the tick's runs with its cursor
  (`dg.build_sensor_context`), and its runs launched likewise;
- after each tick the warehouse's raw tables and the published snapshot's
  `main.dataset_freshness` are read: which datasets lag, and whether the publication says so.

The sites answer as of the fake time. Publication: day T's exchange data (margin detail,
totals, eligibility lists, CFFEX's daily file, Eastmoney's account statistics) exists from
09:00 of the next trading day; Sina's bars and indices hold day T from its close (15:30);
Eastmoney's snapshot shows the close `closing_snapshot_day` names. Before publication a
site answers as it does for an unpublished day (SSE: an empty result, which akshare's
positional rename turns into "Length mismatch"; SZSE, BSE: empty lists; CFFEX: a 404).

The faults (`Faults`, `SEASON_FAULTS`) are scheduled on the same clock. No manual step is
taken: the only runs are the schedules', their retries and the sensor's.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import akshare
import dagster as dg
import duckdb
import pandas as pd
import requests
import time_machine

from margin_wh.calendar import SHANGHAI, closing_snapshot_day, previous_trading_day
from margin_wh.config import Settings
from margin_wh.sources.akshare_source import FUNCTION_HOSTS, AkshareSource, HostThrottle
from margin_wh.sources.datasets import (
    DATASETS,
    MARGIN_DETAIL_FUNCTIONS,
    SINA_SNAPSHOT_PAGE_ROWS,
    sina_symbol,
)
from margin_wh.sources.demo import DemoMarket
from orchestration.definitions import build_definitions
from orchestration.instance import instance_at
from orchestration.partitions import PARTITION_TAG, run_partition_keys
from orchestration.schedules import REFRESH_JOB_NAME, SNAPSHOT_JOB_NAME
from tests.akshare_http import AkshareSites, demo_frames, sina_snapshot_of

# --------------------------------------------------------------------------- the season

SEASON_FIRST, SEASON_LAST = dt.date(2026, 12, 21), dt.date(2027, 1, 15)
HISTORY_START = dt.date(2026, 12, 1)  # a few weeks of history before the season
MARKET_END = dt.date(2027, 1, 29)  # the demo market runs past the season's last morning
SECURITIES = 20  # the smallest demo market with a fund on each of SSE and SZSE
MARKET_SEED = 20261221

DAILY, SNAPSHOT = "daily_refresh", "closing_snapshot"
DAILY_AT, SNAPSHOT_AT = dt.time(9, 30), dt.time(15, 40)
PUBLISHED_AT = dt.time(9, 0)  # day T's exchange data, on the next trading day
CLOSE_AT = dt.time(15, 30)  # day T's close, on T
FAILURE_SENSOR = "report_failed_refresh"
SENSOR_ROUNDS = 3  # sensor evaluations after a tick's runs, each after the runs of the one before

# Dagster's run tags the daemon writes (dagster's storage/tags.py names them; they are
# part of every run's record, so they are spelt here rather than imported privately).
RUN_KEY_TAG, SCHEDULE_NAME_TAG = "dagster/run_key", "dagster/schedule_name"
SENSOR_NAME_TAG, SCHEDULED_TIME_TAG = "dagster/sensor_name", ".dagster/scheduled_execution_time"
MAX_RETRIES_TAG, RETRY_NUMBER_TAG = "dagster/max_retries", "dagster/retry_number"
RESUME_RETRY_TAG = "dagster/is_resume_retry"
# What the daemon leaves out of a retry's tags (TAGS_TO_MAYBE_OMIT_ON_RETRY), by prefix
# for the run metrics.
NOT_COPIED_TO_RETRY = ("dagster/failure_reason", "dagster/retry_number", "dagster/is_resume_retry",
                       "dagster/will_retry", "dagster/auto_retry_run_id", "dagster/run_metrics",
                       ".dagster/run_metrics")  # fmt: skip

EASTMONEY = ("stock_zh_a_spot_em", "stock_margin_account_info")
SZSE = tuple(f for f, host in FUNCTION_HOSTS.items() if host == "szse")
SSE_DETAIL = "stock_margin_detail_sse"
CALENDAR = "tool_trade_date_hist_sina"
FUND_QUOTES, STOCK_QUOTES, SNAPSHOT_QUOTES, SINA_SNAPSHOT_QUOTES = (
    "fund_etf_hist_sina",
    "stock_zh_a_daily",
    "stock_zh_a_spot_em",
    "stock_zh_a_spot",  # the snapshot's fallback when Eastmoney refuses it
)
# Datasets whose raw table holds rows per trading day: every one of them must hold every
# trading day by the end, and a day missing is a lag. The stocks' quotes come from either
# the snapshot or Sina's daily bars: one lag, "stock quotes", either table may name it.
STOCK_QUOTE_TABLES = (SNAPSHOT_QUOTES, SINA_SNAPSHOT_QUOTES, STOCK_QUOTES)
DAY_DATASETS = tuple(
    sorted(
        f for f, d in DATASETS.items()
        if d.partitioned and f not in STOCK_QUOTE_TABLES
    ) + ["stock_margin_account_info", "stock quotes"]
)  # fmt: skip


def beijing(day: dt.date, at: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, at, tzinfo=SHANGHAI)


SETUP_AT = beijing(dt.date(2026, 12, 18), dt.time(12, 0))  # the warehouse is set up at noon
FIRST_TICK = beijing(dt.date(2026, 12, 18), SNAPSHOT_AT)  # that afternoon's close first
LAST_TICK = beijing(dt.date(2027, 1, 18), DAILY_AT)  # the morning that loads SEASON_LAST


@dataclass(frozen=True)
class Outage:
    """`functions` answer `error` (as AkshareSites.fail takes it) over [start, end)."""

    host: str
    functions: tuple[str, ...]
    start: dt.datetime
    end: dt.datetime
    error: Any
    # whether what it refuses is lost for good, not owed later: Eastmoney's snapshot shows
    # today's close only, and its account statistics come whole with the next call; SZSE's
    # files of a day are still there once it is back
    lost: bool

    def covers(self, function: str, at: dt.datetime) -> bool:
        return function in self.functions and self.start <= at < self.end


@dataclass(frozen=True)
class Faults:
    # Sina's calendar ends on calendar_ends until calendar_whole_from, then holds the
    # next year (without its New Year's Day, as every year's)
    calendar_ends: dt.date | None = None
    calendar_whole_from: dt.datetime | None = None
    unknown_fund: str | None = None  # a fund whose fund_etf_hist_sina is a bare frame ...
    unknown_from: dt.datetime | None = None  # ... from then on
    outages: tuple[Outage, ...] = ()
    # SSE detail days published late: (day, the time on the next trading day)
    late_sse_detail: tuple[tuple[dt.date, dt.time], ...] = ()

    def late(self, day: dt.date) -> dt.time | None:
        return dict(self.late_sse_detail).get(day)


NO_FAULTS = Faults()
SEASON_FAULTS = Faults(
    calendar_ends=dt.date(2026, 12, 31),
    calendar_whole_from=beijing(dt.date(2027, 1, 6), dt.time(0, 0)),
    unknown_fund=sina_symbol("159735"),  # the SZSE ETF of the seeded market (season_market)
    unknown_from=FIRST_TICK,
    outages=(
        # blocked on three consecutive trading days: their closes and their mornings
        Outage(
            "eastmoney",
            EASTMONEY,
            beijing(dt.date(2026, 12, 22), dt.time(0, 0)),
            beijing(dt.date(2026, 12, 25), dt.time(0, 0)),
            requests.ConnectionError,
            lost=True,
        ),
        Outage(
            "szse",
            SZSE,
            beijing(dt.date(2027, 1, 12), dt.time(0, 0)),
            beijing(dt.date(2027, 1, 12), dt.time(12, 0)),
            502,
            lost=False,
        ),
    ),  # fmt: skip
    late_sse_detail=((dt.date(2027, 1, 7), dt.time(11, 0)),),
)


def season_market() -> DemoMarket:
    return DemoMarket(securities=SECURITIES, start=HISTORY_START, end=MARKET_END, seed=MARKET_SEED)


def ticks(
    first: dt.datetime = FIRST_TICK, last: dt.datetime = LAST_TICK
) -> list[tuple[dt.datetime, str]]:
    """Every tick of the two schedules in [first, last], weekends and holidays included."""
    out, day = [], first.date()
    while day <= last.date():
        for at, name in ((beijing(day, DAILY_AT), DAILY), (beijing(day, SNAPSHOT_AT), SNAPSHOT)):
            if first <= at <= last:
                out.append((at, name))
        day += dt.timedelta(days=1)
    return out


# --------------------------------------------------------------------------- the sites


def next_trading_day(calendar: Sequence[dt.date], day: dt.date) -> dt.date:
    return next(d for d in calendar if d > day)


def published_at(
    calendar: Sequence[dt.date], day: dt.date, late: dt.time | None = None
) -> dt.datetime:
    """When day T's exchange data appears: the next trading day's morning."""
    return beijing(next_trading_day(calendar, day), late or PUBLISHED_AT)


def due_day(calendar: Sequence[dt.date], at: dt.datetime) -> dt.date | None:
    """The last trading day whose morning run (09:30 of the next trading day) is past at `at`:
    the day every daily dataset should hold by then."""
    due = [
        d
        for d in calendar
        if d < at.date() and beijing(next_trading_day(calendar, d), DAILY_AT) <= at
    ]
    return due[-1] if due else None


def _yyyymmdd(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


def _day(text: str) -> dt.date:
    return dt.datetime.strptime(text, "%Y%m%d").date()


@dataclass(frozen=True)
class Call:
    at: dt.datetime
    function: str
    kwargs: dict
    host_down: bool


class SeasonSites:
    """What the fake sites answer at the fake time: the demo market as published by then,
    with the season's faults. `frames` and `down` are AkshareSites' `frames` and `outage`;
    `log` has every request with its time and whether its host was down."""

    def __init__(self, market: DemoMarket, faults: Faults):
        self.market, self.faults = market, faults
        self.days = list(market.trading_days)
        self._frames = demo_frames(market)
        self.log: list[Call] = []
        self.snapshots_in_session: list[dt.datetime] = []

    @staticmethod
    def now() -> dt.datetime:
        return dt.datetime.now(SHANGHAI)  # the fake clock's, under time-machine

    def down(self, function: str, kwargs: dict) -> Any:
        at = self.now()
        outage = next((o for o in self.faults.outages if o.covers(function, at)), None)
        self.log.append(Call(at, function, kwargs, outage is not None))
        return outage.error if outage else None

    def _published(self, function: str, day: dt.date, at: dt.datetime) -> bool:
        if day not in self.days or day >= self.days[-1]:
            return day < at.date()  # not a trading day: the site's own answer for it
        late = self.faults.late(day) if function == SSE_DETAIL else None
        return published_at(self.days, day, late) <= at

    def _closed(self, day: dt.date, at: dt.datetime) -> bool:
        return beijing(day, CLOSE_AT) <= at

    def frames(self, function: str, kwargs: dict) -> pd.DataFrame | None:
        at = self.now()
        if function in (SNAPSHOT_QUOTES, SINA_SNAPSHOT_QUOTES):
            shown = closing_snapshot_day(self.days, at)
            if shown is None:  # a session is open: no close to show (recorded, see report)
                self.snapshots_in_session.append(at)
                shown = previous_trading_day(self.days, at.date())
            eastmoney = self.market.snapshot(SNAPSHOT_QUOTES, shown)
            return eastmoney if function == SNAPSHOT_QUOTES else sina_snapshot_of(eastmoney)
        if function == FUND_QUOTES and kwargs["symbol"] == self.faults.unknown_fund:
            if self.faults.unknown_from and at >= self.faults.unknown_from:
                return pd.DataFrame()  # Sina's answer for a symbol it does not know
        if "date" in kwargs and not self._published(function, _day(kwargs["date"]), at):
            return None
        frame = self._frames(function, kwargs)
        if function == CALENDAR:
            return self._calendar(frame, at)
        if function == "stock_margin_sse":
            days = frame["信用交易日期"].map(_day)
            return frame[[self._published(function, d, at) for d in days]].reset_index(drop=True)
        if function == "stock_margin_account_info":
            days = pd.to_datetime(frame["日期"]).dt.date
            return frame[[self._published(function, d, at) for d in days]].reset_index(drop=True)
        if function in (STOCK_QUOTES, FUND_QUOTES, "stock_zh_index_daily") and len(frame):
            days = pd.to_datetime(frame["date"]).dt.date
            return frame[[self._closed(d, at) for d in days]].reset_index(drop=True)
        return frame

    def _calendar(self, frame: pd.DataFrame, at: dt.datetime) -> pd.DataFrame:
        faults = self.faults
        if faults.calendar_ends and faults.calendar_whole_from and at < faults.calendar_whole_from:
            days = pd.to_datetime(frame["trade_date"]).dt.date
            return frame[[d <= faults.calendar_ends for d in days]].reset_index(drop=True)
        return frame


def live_source() -> AkshareSource:
    """The live source on akshare itself, with its production retries and no pauses; its
    clock is the fake one."""
    return AkshareSource(
        module=akshare, backoff_initial_s=0, sleep=lambda s: None,
        throttle=HostThrottle({}, sleep=lambda s: None),
        now=lambda: dt.datetime.now(dt.UTC),
    )  # fmt: skip


# --------------------------------------------------------------------------- the daemon


def refresh_job() -> dg.JobDefinition:
    """The refresh job of the Definitions the environment describes (for re-execution)."""
    return build_definitions(Settings.from_env()).resolve_job_def(REFRESH_JOB_NAME)


def snapshot_job() -> dg.JobDefinition:
    return build_definitions(Settings.from_env()).resolve_job_def(SNAPSHOT_JOB_NAME)


RECONSTRUCTABLE = {REFRESH_JOB_NAME: refresh_job, SNAPSHOT_JOB_NAME: snapshot_job}


@dataclass
class Run:
    run_id: str
    job: str
    why: str  # "schedule", "retry 1", "sensor", ...
    days: str  # its partition, or first..last
    status: str
    failed_steps: list[str]
    seconds: float

    def line(self) -> str:
        failed = f" ({', '.join(self.failed_steps)})" if self.failed_steps else ""
        return f"{self.why} {self.job} {self.days}: {self.status}{failed}"


@dataclass
class Lag:
    dataset: str
    first_missing: dt.date
    missing: int  # trading days missing up to the due day
    visible: bool  # the published freshness names it stale
    published_as: str  # what the published freshness says of it


@dataclass
class Tick:
    at: dt.datetime
    schedule: str
    trading_day: bool
    requested: list[str]  # the partitions or ranges it asked for
    skip_message: str | None
    runs: list[Run] = field(default_factory=list)
    due: dt.date | None = None
    lags: list[Lag] = field(default_factory=list)
    calls_up: int = 0
    calls_down: int = 0
    error: str | None = None  # the tick's own evaluation failed
    seconds: float = 0.0

    def decision(self) -> str:
        if self.error:
            return f"ERROR {self.error}"
        if self.requested:
            return "run " + ", ".join(self.requested)
        return f"skip: {self.skip_message}"


def _days_of(tags: dict[str, str]) -> str:
    keys = run_partition_keys(tags)
    if keys is None:
        return "-"
    return keys[0] if keys[0] == keys[1] else f"{keys[0]}..{keys[1]}"


def _failed_steps(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    events = instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    return sorted({e.step_key for e in events if e.step_key})


def in_own_context(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """fn(*args, **kwargs) in a copy of the current context, as the daemon launches each run
    in a process of its own: what a run leaves set in context variables (Dagster keeps the
    storage of the instance it executed with in one, which outlives that instance) stays
    out of the next tick's evaluation. Not a thread: Dagster's compute-log capture waits
    for its `tail` processes a minute when a step runs off the main thread."""
    return contextvars.copy_context().run(fn, *args, **kwargs)


class Daemon:
    """Launches run requests as the Dagster daemon does, retries failed runs and shows
    every failure to the failure sensor, in this process."""

    def __init__(self, instance: dg.DagsterInstance):
        self.instance = instance
        self.sensor_run_keys: set[str] = set()
        self.cursors: dict[str, str | None] = {}  # each sensor's, as the sensor daemon keeps it

    def launch(self, defs: dg.Definitions, request: dg.RunRequest, job_name: str, origin: dict[str, str],
               why: str) -> list[Run]:  # fmt: skip
        job = defs.resolve_job_def(request.job_name or job_name)
        tags = {**request.tags, **origin}
        if request.partition_key and PARTITION_TAG not in tags:
            tags[PARTITION_TAG] = request.partition_key
        if request.run_key:
            tags[RUN_KEY_TAG] = request.run_key
        started = time.perf_counter()
        result = in_own_context(
            job.execute_in_process,
            run_config=request.run_config or None, instance=self.instance, tags=tags,
            asset_selection=list(request.asset_selection) if request.asset_selection else None,
            raise_on_error=False,
        )  # fmt: skip
        return self._follow(
            defs, self.instance.get_run_by_id(result.run_id), why, time.perf_counter() - started
        )

    def _record(self, run: dg.DagsterRun, why: str, seconds: float) -> Run:
        failed = (
            _failed_steps(self.instance, run.run_id)
            if run.status == dg.DagsterRunStatus.FAILURE
            else []
        )
        return Run(
            run.run_id,
            run.job_name,
            why,
            _days_of(dict(run.tags)),
            run.status.value,
            failed,
            seconds,
        )

    def _follow(
        self, defs: dg.Definitions, run: dg.DagsterRun, why: str, seconds: float
    ) -> list[Run]:
        """The run, then what the daemon does after it: its retries, the sensor's runs."""
        runs = [self._record(run, why, seconds)]
        if run.status != dg.DagsterRunStatus.FAILURE:
            return runs
        runs += self._sense(defs, run)
        retry_number = int(run.tags.get(RETRY_NUMBER_TAG, "0")) + 1
        if retry_number <= int(run.tags.get(MAX_RETRIES_TAG, "0")):
            runs += self._retry(defs, run, retry_number)
        return runs

    def _retry(self, defs: dg.Definitions, parent: dg.DagsterRun, number: int) -> list[Run]:
        """A retry from the failure, tagged as the daemon's run retries tag it."""
        tags = {k: v for k, v in parent.tags.items() if not k.startswith(NOT_COPIED_TO_RETRY)}
        tags.update({RETRY_NUMBER_TAG: str(number), RESUME_RETRY_TAG: "true"})
        started = time.perf_counter()
        result = in_own_context(
            dg.execute_job,
            dg.reconstructable(RECONSTRUCTABLE[parent.job_name]), instance=self.instance, tags=tags,
            reexecution_options=dg.ReexecutionOptions.from_failure(parent.run_id, self.instance),
            raise_on_error=False,
        )  # fmt: skip
        run = self.instance.get_run_by_id(result.run_id)
        return self._follow(defs, run, f"retry {number}", time.perf_counter() - started)

    def _sense(self, defs: dg.Definitions, run: dg.DagsterRun) -> list[Run]:
        failures = self.instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        if not failures:
            return []
        sensor = defs.resolve_sensor_def(FAILURE_SENSOR)
        context = dg.build_run_status_sensor_context(
            sensor_name=FAILURE_SENSOR, dagster_event=failures[0].dagster_event,
            dagster_instance=self.instance, dagster_run=run,
        ).for_run_failure()  # fmt: skip
        result = sensor(context)
        requests_ = [
            r
            for r in (result if isinstance(result, list) else [result])
            if isinstance(r, dg.RunRequest)
        ]
        runs = []
        for request in requests_:
            if request.run_key in self.sensor_run_keys:
                continue  # the sensor daemon launches a run key once
            self.sensor_run_keys.add(request.run_key)
            origin = {SENSOR_NAME_TAG: FAILURE_SENSOR}
            runs += self.launch(defs, request, REFRESH_JOB_NAME, origin, "sensor")
        return runs

    def sense(self, defs: dg.Definitions) -> list[Run]:
        """Every other sensor (an asset sensor, say), evaluated with its cursor as the sensor
        daemon evaluates it between ticks, and the runs it asks for; again after those runs,
        until no sensor asks for one."""
        sensors = [s for s in defs.sensors or () if not isinstance(s, dg.RunStatusSensorDefinition)]
        runs: list[Run] = []
        for _ in range(SENSOR_ROUNDS):
            launched = []
            for sensor in sensors:
                context = dg.build_sensor_context(
                    instance=self.instance, cursor=self.cursors.get(sensor.name),
                    repository_def=defs.get_repository_def(),
                )  # fmt: skip
                data = sensor.evaluate_tick(context)
                self.cursors[sensor.name] = data.cursor
                for request in data.run_requests or ():
                    if request.run_key and request.run_key in self.sensor_run_keys:
                        continue
                    self.sensor_run_keys.add(request.run_key)
                    origin = {SENSOR_NAME_TAG: sensor.name}
                    launched += self.launch(
                        defs, request, sensor.job_name, origin, f"sensor {sensor.name}"
                    )
            runs += launched
            if not launched:
                break
        return runs


# --------------------------------------------------------------------------- what is loaded


def _table_days(con: duckdb.DuckDBPyConnection, table: str) -> set[dt.date]:
    try:
        column = "日期" if table == "stock_margin_account_info" else "trade_date"
        return {
            r[0]
            for r in con.execute(f'select distinct "{column}"::date from raw.{table}').fetchall()
        }
    except duckdb.Error:
        return set()


def loaded_days(db_path: Path) -> dict[str, set[dt.date]]:
    """The trading days each day dataset holds in the warehouse."""
    if not db_path.exists():
        return {d: set() for d in DAY_DATASETS}
    with duckdb.connect(str(db_path), read_only=True) as con:
        days = {d: _table_days(con, d) for d in DAY_DATASETS if d != "stock quotes"}
        days["stock quotes"] = set().union(*(_table_days(con, t) for t in STOCK_QUOTE_TABLES))
    return days


def published_freshness(publish_dir: Path) -> pd.DataFrame | None:
    """main.dataset_freshness of the published snapshot, or None (no snapshot, no table)."""
    path = publish_dir / "margin_warehouse.duckdb"
    if not path.exists():
        return None
    with duckdb.connect(str(path), read_only=True) as con:
        try:
            return con.execute("select * from main.dataset_freshness").df()
        except duckdb.Error:
            return None


def _named_stale(freshness: pd.DataFrame | None, dataset: str) -> tuple[bool, str]:
    if freshness is None:
        return False, "no published freshness"
    names = STOCK_QUOTE_TABLES if dataset == "stock quotes" else (dataset,)
    rows = freshness[freshness["dataset"].astype(str).str.removeprefix("raw.").isin(names)]
    if rows.empty:
        return False, "not listed"
    stale = (
        rows[rows["is_stale"].fillna(False).astype(bool)] if "is_stale" in rows else rows.iloc[0:0]
    )
    if stale.empty:
        return False, "listed as fresh"
    since = stale["stale_since"].iloc[0] if "stale_since" in stale else None
    return True, f"stale since {since}"


def lags(calendar: Sequence[dt.date], due: dt.date | None, loaded: dict[str, set[dt.date]],
         freshness: pd.DataFrame | None) -> list[Lag]:  # fmt: skip
    """Each day dataset missing a trading day up to `due`, and whether the publication says so."""
    if due is None:
        return []
    expected = [d for d in calendar if HISTORY_START <= d <= due]
    out = []
    for dataset in DAY_DATASETS:
        missing = [d for d in expected if d not in loaded[dataset]]
        if missing:
            visible, said = _named_stale(freshness, dataset)
            out.append(Lag(dataset, missing[0], len(missing), visible, said))
    return out


# --------------------------------------------------------------------------- the season


@dataclass
class SeasonRecord:
    faults: Faults
    settings: Settings
    market: DemoMarket
    setup: str  # the initial refresh: "ok" or its error
    ticks: list[Tick]
    calls: list[Call]
    snapshots_in_session: list[dt.datetime]
    seconds: float

    @property
    def calls_up(self) -> list[Call]:
        return [c for c in self.calls if not c.host_down]


def season_env(root: Path) -> dict[str, str]:
    return {
        "MARGIN_WH_SOURCE": "akshare",
        "MARGIN_WH_HOME": str(root),
        "MARGIN_WH_HISTORY_START": HISTORY_START.isoformat(),
        "DAGSTER_HOME": str(root / "dagster"),
    }


@contextlib.contextmanager
def season_world(root: Path, faults: Faults, market: DemoMarket, setup_at: dt.datetime
                 ) -> Iterator[tuple[Any, SeasonSites, Settings]]:  # fmt: skip
    """The environment, the fake clock at `setup_at`, the sites, and the live source on them."""
    sites = SeasonSites(market, faults)
    source = live_source()
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.dict(os.environ, season_env(root)))
        settings = Settings.from_env()
        settings.ensure_dirs()
        traveller = stack.enter_context(time_machine.travel(setup_at, tick=True))
        stack.enter_context(AkshareSites(sites.frames, outage=sites.down))
        stack.enter_context(mock.patch("margin_wh.sources._akshare_source", lambda: source))
        yield traveller, sites, settings


def run_tick(
    daemon: Daemon, settings: Settings, sites: SeasonSites, at: dt.datetime, name: str
) -> Tick:
    calendar = sites.days
    defs = build_definitions(settings)
    schedule = defs.resolve_schedule_def(name)
    tick = Tick(at, name, at.date() in calendar, [], None)
    try:
        context = dg.build_schedule_context(
            instance=daemon.instance,
            scheduled_execution_time=at,
            repository_def=defs.get_repository_def(),
        )
        data = schedule.evaluate_tick(context)
    except Exception as error:  # noqa: BLE001 - the tick's failure is what the daemon records
        tick.error = f"{type(error).__name__}: {error}"
        return tick
    tick.skip_message = data.skip_message
    origin = {SCHEDULE_NAME_TAG: name, SCHEDULED_TIME_TAG: at.astimezone(dt.UTC).isoformat()}
    for request in data.run_requests:
        tags = {
            **request.tags,
            **({PARTITION_TAG: request.partition_key} if request.partition_key else {}),
        }
        tick.requested.append(_days_of(tags))
        tick.runs += daemon.launch(defs, request, schedule.job_name, origin, "schedule")
    tick.runs += daemon.sense(defs)
    return tick


def observe(tick: Tick, settings: Settings, sites: SeasonSites) -> None:
    tick.due = due_day(sites.days, tick.at)
    tick.lags = lags(sites.days, tick.due, loaded_days(settings.db_path),
                     published_freshness(settings.publish_dir))  # fmt: skip


_INSTANCES_KEPT: list[dg.DagsterInstance] = []


def run_season(
    root: Path,
    faults: Faults = SEASON_FAULTS,
    setup_at: dt.datetime = SETUP_AT,
    first: dt.datetime = FIRST_TICK,
    last: dt.datetime = LAST_TICK,
    report: Callable[[str], None] | None = None,
) -> SeasonRecord:
    """At `setup_at`, the initial refresh (`margin-wh refresh`'s path) from HISTORY_START to
    the trading day before; then every tick in [first, last]; `report` gets a line per tick
    as it happens."""
    from orchestration.runner import RefreshError, refresh

    started = time.perf_counter()
    market = season_market()
    record_ticks: list[Tick] = []
    with season_world(root, faults, market, setup_at) as (traveller, sites, settings):
        instance = instance_at(settings.dagster_home)
        # Dagster keeps the state storage of the last instance it loaded definitions with
        # (a weak reference): later tests in this process would find it dead
        _INSTANCES_KEPT.append(instance)
        daemon = Daemon(instance)
        setup_last = previous_trading_day(sites.days, setup_at.date())
        try:
            refresh(settings, HISTORY_START, setup_last, instance)
            setup = "ok"
        except RefreshError as error:
            setup = str(error)
        for at, name in ticks(first, last):
            traveller.move_to(at)
            before = len(sites.log)
            tick_started = time.perf_counter()
            tick = run_tick(daemon, settings, sites, at, name)
            observe(tick, settings, sites)
            tick.calls_up = sum(not c.host_down for c in sites.log[before:])
            tick.calls_down = len(sites.log) - before - tick.calls_up
            tick.seconds = time.perf_counter() - tick_started
            record_ticks.append(tick)
            if report:
                report(tick_line(tick))
        return SeasonRecord(faults, settings, market, setup, record_ticks, list(sites.log),
                            list(sites.snapshots_in_session), time.perf_counter() - started)  # fmt: skip


# --------------------------------------------------------------------------- the report


def tick_line(tick: Tick) -> str:
    runs = "; ".join(r.line() for r in tick.runs)
    lagging = ", ".join(
        f"{lag.dataset} from {lag.first_missing} ({lag.missing}d, {'shown' if lag.visible else 'NOT SHOWN: ' + lag.published_as})"
        for lag in tick.lags
    )  # fmt: skip
    return (
        f"{tick.at:%Y-%m-%d %a %H:%M} {tick.schedule:<16} {tick.decision()}"
        + (f" | runs: {runs}" if runs else "")
        + f" | due {tick.due or '-'}; lags: {lagging or 'none'}"
        + f" | calls {tick.calls_up}"
        + (f" (+{tick.calls_down} to hosts down)" if tick.calls_down else "")
        + f" | {tick.seconds:.0f}s"
    )


def summary(record: SeasonRecord) -> str:
    lines = [
        f"setup (initial refresh {HISTORY_START}..): {record.setup.splitlines()[0] if record.setup else '-'}"
    ]
    lines += [tick_line(t) for t in record.ticks]
    lines.append(
        f"calls answered by hosts that were up: {len(record.calls_up)}; to hosts down: "
        f"{len(record.calls) - len(record.calls_up)}; wall time {record.seconds:.0f}s"
    )
    return "\n".join(lines)


# --------------------------------------------------------------------------- the checks


def season_days(
    market: DemoMarket, first: dt.date = SEASON_FIRST, last: dt.date = SEASON_LAST
) -> list[dt.date]:
    return [d for d in market.trading_days if first <= d <= last]


def missing_days(record: SeasonRecord, days: Sequence[dt.date]) -> list[str]:
    """Per day dataset, the season days its raw table lacks at the end."""
    loaded = loaded_days(record.settings.db_path)
    problems = []
    for dataset in DAY_DATASETS:
        missing = [d for d in days if d not in loaded[dataset]]
        if missing:
            problems.append(
                f"{dataset}: {len(missing)} day(s) missing, e.g. {[str(d) for d in missing[:4]]}"
            )
    return problems


PUBLISHED_MART = "marts.fct_market_short_daily"  # one row per trading day the marts hold


def unpublished_days(record: SeasonRecord, days: Sequence[dt.date]) -> list[str]:
    """The days the published snapshot's marts lack at the end (a day loaded into raw but
    never built or published is not there for its readers)."""
    path = record.settings.publish_dir / "margin_warehouse.duckdb"
    if not path.exists():
        return ["no published snapshot"]
    with duckdb.connect(str(path), read_only=True) as con:
        published = {d for (d,) in _rows(con, f"select distinct trade_date from {PUBLISHED_MART}")}
    missing = [str(d) for d in days if d not in published]
    return [f"{PUBLISHED_MART} in the published snapshot lacks {missing}"] if missing else []


def listed_codes(market: DemoMarket, day: dt.date) -> set[str]:
    """The securities on the three exchanges' margin lists on `day` (their detail)."""
    columns = {"stock_margin_detail_sse": "标的证券代码"}
    return {
        str(code)
        for function in MARGIN_DETAIL_FUNCTIONS
        for code in market.call(function, date=_yyyymmdd(day))[columns.get(function, "证券代码")]
    }


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> set[tuple]:
    try:
        return set(con.execute(sql).fetchall())
    except duckdb.Error:
        return set()


def _mentions(con: duckdb.DuckDBPyConnection, needle: str) -> bool:
    """Whether meta.missing_symbols has a row naming `needle` (in any column)."""
    try:
        frame = con.execute("select * from meta.missing_symbols").df()
    except duckdb.Error:
        return False
    return bool(
        frame.astype(str).apply(lambda column: column.str.contains(needle)).to_numpy().any()
    )


def missing_quotes(record: SeasonRecord, days: Sequence[dt.date]) -> list[str]:
    """Every security on the lists of a season day has that day's quote (unless suspended
    that day); the unknown fund is excepted but must be named in meta.missing_symbols."""
    market, unknown = record.market, record.faults.unknown_fund
    index = {code: i for i, code in enumerate(market.codes)}
    problems = []
    with duckdb.connect(str(record.settings.db_path), read_only=True) as con:
        have = _rows(con, f"select symbol, trade_date from raw.{STOCK_QUOTES}")
        have |= {
            (sina_symbol(c), d)
            for c, d in _rows(con, f'select "代码", trade_date from raw.{SNAPSHOT_QUOTES}')
        }
        if _rows(con, "select table_name from information_schema.tables "
                      f"where table_schema = 'raw' and table_name = '{SINA_SNAPSHOT_QUOTES}'"):
            have |= _rows(con, f'select "代码", trade_date from raw.{SINA_SNAPSHOT_QUOTES}')  # fmt: skip
        have |= _rows(con, f"select symbol, trade_date from raw.{FUND_QUOTES}")
        unknown_named = _mentions(con, unknown[-6:]) if unknown else True
    for day in days:
        t = market.trading_days.index(day)
        lacking = [
            sina_symbol(code) for code in sorted(listed_codes(market, day))
            if not market.suspended[t, index[code]] and (sina_symbol(code), day) not in have
            and sina_symbol(code) != unknown
        ]  # fmt: skip
        if lacking:
            problems.append(f"{day}: no quote for {lacking}")
    if unknown and not unknown_named:
        problems.append(
            f"the fund Sina does not know ({unknown}) is not named in meta.missing_symbols"
        )
    return problems


def invisible_lags(record: SeasonRecord) -> list[str]:
    return [
        f"{t.at:%Y-%m-%d %H:%M} {t.schedule}: {lag.dataset} lacks {lag.missing} day(s) from "
        f"{lag.first_missing} (due {t.due}) but the published freshness says: {lag.published_as}"
        for t in record.ticks
        for lag in t.lags
        if not lag.visible
    ]


def wrong_skips(record: SeasonRecord) -> list[str]:
    """Weekends and holidays: both schedules skip, saying why."""
    return [
        f"{t.at:%Y-%m-%d %a %H:%M} {t.schedule}: {t.decision()}"
        for t in record.ticks
        if not t.trading_day and (t.requested or t.error or not t.skip_message)
    ]


def minimum_calls(fault_free: SeasonRecord, faults: Faults) -> tuple[int, str]:
    """The fewest calls to hosts that are up with which a season with `faults` can load what
    the fault-free season loads, by the same schedules: the fault-free season's calls,
    - less those it made to a host while `faults` has it down for good (`Outage.lost`:
      the evening snapshots and the account statistics Eastmoney refused; SZSE's files of
      its morning are owed later, so its calls stay),
    + Sina's paged snapshot for each close whose 15:40 snapshot tick fell in such an
      outage (the same run takes that close from Sina instead): akshare's stock_zh_a_spot
      asks for the count, then every page of 80 A-shares,
    + one "not published yet" answer per late publication (the 09:30 run cannot know).
    The calendar's horizon and the unknown fund add none: the runs that learn the new year
    ask SSE's totals as every run does, and the unknown fund is asked once a run as any."""
    market = fault_free.market
    lost = [
        c for c in fault_free.calls_up
        if any(o.lost and o.covers(c.function, c.at) for o in faults.outages)
    ]  # fmt: skip
    blocked_closes = [
        d for d in market.trading_days
        if any(o.lost and o.covers(SNAPSHOT_QUOTES, beijing(d, SNAPSHOT_AT)) for o in faults.outages)
        and fault_free.ticks and fault_free.ticks[0].at <= beijing(d, SNAPSHOT_AT) <= fault_free.ticks[-1].at
    ]  # fmt: skip
    sina = sum(
        1 + -(-len(market.snapshot(SNAPSHOT_QUOTES, d)) // SINA_SNAPSHOT_PAGE_ROWS)
        for d in blocked_closes
    )
    late = len(faults.late_sse_detail)
    minimum = len(fault_free.calls_up) - len(lost) + sina + late
    how = (
        f"{len(fault_free.calls_up)} fault-free - {len(lost)} refused for good + {sina} Sina snapshot "
        f"requests for {len(blocked_closes)} closes Eastmoney refused + {late} late publication = {minimum}"
    )
    return minimum, how
