"""Backfills that survive outages: they commit as they go, resume without refetching,
say what they will cost, and keep the rest of the warehouse fresh when one source is
down. Real Definitions and real dbt, on the demo source behind a wrapper that counts
the calls and fails the ones a test chooses."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

import dagster as dg
import duckdb
import pandas as pd
import pytest
from conftest import make_settings

from benchmarks.backfill import CountingSource
from margin_wh.raw.universe import plan_fetch
from margin_wh.sources import get_source
from margin_wh.sources.datasets import BSE_MARGIN_START, DATASETS
from orchestration.definitions import build_definitions
from orchestration.partitions import run_partition_keys
from orchestration.runner import RefreshError, estimate_refresh, refresh

START, END = dt.date(2024, 6, 24), dt.date(2024, 7, 5)  # two weeks, across a month's end
PER_SECURITY = ("stock_zh_a_daily", "fund_etf_hist_sina", "stock_zh_index_daily")
# the datasets every run fetches whole again (the calendar, the industries, the account
# statistics): what a re-run may ask for beyond the calls its outage lost
STATIC_CALLS = sum(d.call == "static" for d in DATASETS.values())


def calls_allowed(uninterrupted_calls: int, outages: int, reruns: int) -> int:
    """An uninterrupted refresh's calls, plus the one call in flight each outage lost,
    plus the static datasets again for each re-run: nothing already fetched is asked again."""
    return uninterrupted_calls + outages + reruns * STATIC_CALLS


def run(settings, source: CountingSource, monkeypatch, start=START, end=END, **kwargs):
    monkeypatch.setattr("margin_wh.sources._demo_source", lambda *a: source)
    return refresh(settings, start, end, dg.DagsterInstance.ephemeral(), publish=False,
                   defs=build_definitions(settings), **kwargs)  # fmt: skip


def tables(settings, names) -> dict[str, pd.DataFrame]:
    out = {}
    with duckdb.connect(str(settings.db_path), read_only=True) as con:
        for name in names:
            exclude = " exclude (_fetched_at)" if name.startswith("raw.") else ""
            frame = con.execute(f"select *{exclude} from {name}").df()
            out[name] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return out


RAW = [f"raw.{f}" for f in DATASETS]
MARTS = ["marts.fct_balance_to_float", "marts.fct_short_concentration_by_industry",
         "marts.fct_market_short_daily", "marts.fct_market_margin_daily",
         "marts.fct_index_futures_basis"]  # fmt: skip


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("uninterrupted"))
    source = CountingSource(get_source(settings))
    with pytest.MonkeyPatch.context() as patch:
        run(settings, source, patch)
    return settings, source.calls, tables(settings, RAW + MARTS)


def test_outages_at_chosen_calls_then_reruns_build_the_same_warehouse(
    uninterrupted, tmp_path, monkeypatch
):
    _, clean_calls, clean = uninterrupted
    settings = make_settings(tmp_path)
    demo = get_source(settings)
    # an outage in the margin detail, one in the middle of Sina's histories, one at the end
    n = len(clean_calls)
    outages = [n // 5, n // 2, n - 3]
    made, runs = 0, 0
    while True:
        runs += 1
        source = CountingSource(demo, fail_at=[k - made for k in outages if k > made])
        try:
            run(settings, source, monkeypatch)
            made += len(source.calls)
            break
        except RefreshError as error:
            made += len(source.calls)
            # the cause, then what is stale ("stale since …", or "nothing loaded yet"
            # when the outage came before the dataset's first day was loaded)
            assert "injected outage" in str(error) and "stale datasets" in str(error)
        assert runs < 6
    assert 2 <= runs <= 4  # three outages (some may fall in one run), then a clean run
    got = tables(settings, RAW + MARTS)
    for name in RAW + MARTS:
        pd.testing.assert_frame_equal(got[name], clean[name], check_exact=False, rtol=1e-9, atol=0.05,
                                      obj=name)  # fmt: skip
    assert made <= calls_allowed(n, len(outages), runs - 1), (made, n, runs)


def test_outages_at_random_calls_lose_only_the_call_in_flight(uninterrupted, tmp_path, monkeypatch):
    _, clean_calls, clean = uninterrupted
    settings = make_settings(tmp_path)
    demo = get_source(settings)
    n = len(clean_calls)
    outages = sorted(random.Random(20240711).sample(range(10, n - 1), 3))
    made, runs, done = 0, 0, False
    while not done and runs < 6:
        runs += 1
        source = CountingSource(demo, fail_at=[k - made for k in outages if k > made])
        try:
            run(settings, source, monkeypatch, raw_only=True)
            made += len(source.calls)
            done = True
        except RefreshError as error:
            made += len(source.calls)
            assert "injected outage" in str(error)
    assert done
    got = tables(settings, RAW)
    for name in RAW:
        pd.testing.assert_frame_equal(got[name], clean[name], check_exact=False, rtol=1e-9, atol=0.05,
                                      obj=name)  # fmt: skip
    assert made <= calls_allowed(n, len(outages), runs - 1), (made, n, runs)


@dataclass
class FuturesOutage:
    settings: object
    instance: dg.DagsterInstance
    defs: dg.Definitions
    message: str


FIRST_END, OUTAGE_FROM = dt.date(2024, 6, 28), dt.date(2024, 7, 1)


@pytest.fixture(scope="module")
def futures_outage(tmp_path_factory) -> FuturesOutage:
    """A refresh to FIRST_END, then one from the next trading day to END while CFFEX is down
    (published both times)."""
    settings = make_settings(tmp_path_factory.mktemp("futures_outage"))
    demo = get_source(settings)
    instance, defs = dg.DagsterInstance.ephemeral(), build_definitions(settings)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("margin_wh.sources._demo_source", lambda *a: demo)
        refresh(settings, START, FIRST_END, instance, defs=defs)
        down = CountingSource(demo, fail_function="futures_hist_daily_cffex")
        patch.setattr("margin_wh.sources._demo_source", lambda *a: down)
        with pytest.raises(RefreshError) as error:
            refresh(settings, OUTAGE_FROM, END, instance, defs=defs)
    return FuturesOutage(settings, instance, defs, str(error.value))


def test_a_futures_outage_leaves_the_margin_marts_current_and_says_what_is_stale(futures_outage):
    settings, instance, defs = futures_outage.settings, futures_outage.instance, futures_outage.defs
    message = futures_outage.message
    assert "futures_hist_daily_cffex: stale since 2024-07-01 (last day loaded: 2024-06-28)" in message
    # the cause first, then Dagster's wrapping of it
    step = message.index("raw__futures_hist_daily_cffex:")
    assert step < message.index("injected outage", step) < message.index("raised in:", step), message
    with duckdb.connect(str(settings.db_path), read_only=True) as con:
        def last(table: str) -> dt.date:
            return con.execute(f"select max(trade_date) from marts.{table}").fetchone()[0]

        assert last("fct_balance_to_float") == END  # the margin marts are current
        assert last("fct_market_short_daily") == END
        assert last("fct_index_futures_basis") == FIRST_END  # kept its last good state

    # A scheduled run has no second run of its own: the failure sensor asks for it.
    failed = next(r for r in instance.get_runs() if r.status == dg.DagsterRunStatus.FAILURE)
    event = instance.all_logs(failed.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)[0]
    context = dg.build_run_status_sensor_context(
        sensor_name="report_failed_refresh", dagster_event=event.dagster_event,
        dagster_instance=instance, dagster_run=failed,
    ).for_run_failure()  # fmt: skip
    request = defs.resolve_sensor_def("report_failed_refresh")(context)
    keys = {k.to_user_string() for k in request.asset_selection}
    assert {"marts/fct_balance_to_float", "marts/fct_market_short_daily"} <= keys
    assert not {k for k in keys if k.startswith("raw/")}
    assert "marts/fct_index_futures_basis" not in keys
    assert request.tags["dagster/asset_partition_range_end"] == END.isoformat()


def test_the_report_says_which_dataset_is_stale_and_since_when(futures_outage):
    settings = futures_outage.settings
    snapshot = settings.publish_dir / "margin_warehouse.duckdb"
    with duckdb.connect(str(snapshot), read_only=True) as con:
        stale = con.execute(
            "select dataset, last_trade_date, stale_since from main.dataset_freshness where is_stale"
        ).fetchall()
        published_to = con.execute("select last_trade_date from main.snapshot_info").fetchone()[0]
    assert stale == [("futures_hist_daily_cffex", FIRST_END, OUTAGE_FROM)]
    assert published_to == END  # the rest was published
    report = (settings.publish_dir / "report.html").read_text()
    assert "Stale data: futures_hist_daily_cffex since 2024-07-01 (last day loaded 2024-06-28)" in report


def test_the_dry_run_counts_the_calls_a_refresh_makes(uninterrupted, monkeypatch):
    settings, clean_calls, _ = uninterrupted
    # everything is landed: only the static datasets would be fetched again
    costs, _ = estimate_refresh(settings, START, END)
    assert {c.function: c.to_fetch for c in costs if c.to_fetch} == {
        "tool_trade_date_hist_sina": 1, "stock_industry_clf_hist_sw": 1,
        "stock_margin_account_info": 1,
    }  # fmt: skip
    # forced fresh calls: the estimate is the calls made, dataset by dataset
    costs, notes = estimate_refresh(settings, START, END, refetch=True)
    assert not notes
    source = CountingSource(get_source(settings))  # before run() patches the source
    run(settings, source, monkeypatch, refetch=True, raw_only=True)  # the calls are the raw steps'
    made = pd.Series(source.calls).value_counts().to_dict()
    assert {c.function: c.to_fetch for c in costs if c.to_fetch} == made
    assert sum(c.to_fetch for c in costs) == len(clean_calls)


def test_bse_is_not_asked_for_before_its_margin_trading_began():
    days = [dt.date(2023, 2, 9), dt.date(2023, 2, 10), BSE_MARGIN_START, dt.date(2023, 2, 14)]
    with duckdb.connect() as con:
        for function in ("stock_margin_detail_bse", "stock_margin_bse"):
            plan = plan_fetch(DATASETS[function], con, days, None, days)
            assert plan.days == days[2:]
        assert plan_fetch(DATASETS["stock_margin_bse"], con, days[:2], None, days).days == []
        assert plan_fetch(DATASETS["stock_margin_detail_sse"], con, days, None, days).days == days


def test_a_refresh_that_cannot_get_the_warehouse_says_at_once_who_holds_it(tmp_path):
    """DuckDB has one writer per file: a notebook holding the warehouse open makes a
    refresh fail at once, naming the process and what to do (not after a silent wait)."""
    import subprocess
    import sys
    import time

    settings = make_settings(tmp_path)
    duckdb.connect(str(settings.db_path)).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
         "print('open', flush=True); sys.stdin.readline()", str(settings.db_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "open"
        started = time.monotonic()
        with pytest.raises(RefreshError) as error:
            refresh(settings, START, END, dg.DagsterInstance.ephemeral())
        assert time.monotonic() - started < 5
        message = str(error.value)
        assert f"held by process {holder.pid}" in message
        # held read-write (a notebook's connection): it is told to close it, not called a reader
        assert "read_only=True" in message and "margin_warehouse.duckdb" in message
    finally:
        holder.communicate("\n")


def test_the_holder_of_the_warehouse_is_named_for_what_it_is(tmp_path):
    from orchestration.runner import holder_advice

    settings = make_settings(tmp_path)
    # a refresh's dbt step outlives a killed refresh: the command line dagster-dbt starts
    dbt_step = "/srv/wh/.venv/bin/python /srv/wh/.venv/bin/dbt build --exclude config.materialized:incremental"
    assert holder_advice(dbt_step, settings).startswith("a dbt build")
    assert holder_advice("/usr/local/bin/dbt run", settings).startswith("a dbt build")
    assert holder_advice("/srv/wh/.venv/bin/python /srv/wh/.venv/bin/margin-wh refresh --start 2024-07-01",
                         settings).startswith("another refresh")  # fmt: skip
    assert holder_advice("/usr/bin/python3 -m jupyter lab", settings).startswith("a reader")


def test_a_refresh_killed_mid_run_blocks_nothing_and_a_plain_rerun_completes(tmp_path):
    """kill -9 of `margin-wh refresh` during a raw load leaves its run STARTED holding the
    duckdb_writer pool's slot; the next refresh marks it failed, frees the slot, and
    completes, with the raw tables of an uninterrupted load."""
    import os
    import signal
    import subprocess
    import sys

    from orchestration.instance import instance_at

    home = tmp_path / "home"
    env = {**os.environ, "MARGIN_WH_HOME": str(home), "MARGIN_WH_HISTORY_START": "2024-06-03",
           "MARGIN_WH_DEMO_END": "2024-07-31", "MARGIN_WH_DEMO_SECURITIES": "60"}  # fmt: skip
    env.pop("DAGSTER_HOME", None)
    command = [sys.executable, "-m", "margin_wh.cli", "load-raw", "--start", "2024-06-03",
               "--end", "2024-06-21"]  # fmt: skip
    first = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    for line in first.stderr:  # kill it in the middle of a raw load
        if "raw__stock_margin_detail_szse" in line:
            break
    first.send_signal(signal.SIGKILL)
    first.wait()
    instance = instance_at(home / "dagster")
    assert any(r.status == dg.DagsterRunStatus.STARTED for r in instance.get_runs())

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "marked failed" in second.stdout
    instance = instance_at(home / "dagster")
    assert not any(r.status == dg.DagsterRunStatus.STARTED for r in instance.get_runs())
    assert not list((home / "landing").rglob("*.pending"))
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        days = con.execute(
            "select count(distinct trade_date) from raw.stock_margin_detail_szse"
        ).fetchone()[0]
    assert days == 15  # 2024-06-03 .. 2024-06-21 on the demo calendar


def _comparable(db_path, table: str) -> pd.DataFrame:
    with duckdb.connect(str(db_path), read_only=True) as con:
        frame = con.execute(f"select * from {table}").df()
    frame = frame[[c for c in frame.columns if not c.endswith("_at")]]  # load times
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def test_a_refresh_killed_inside_dbt_and_during_publication_then_rerun_equals_an_uninterrupted_one(
    uninterrupted, tmp_path
):
    """kill -9 of `margin-wh refresh` while a dbt step runs (the dbt process finishes on
    its own; the next refresh waits for it) and while the snapshot is written: plain
    re-runs complete, leave no temporary file, and the marts and the snapshot equal those
    of an uninterrupted refresh of the same days and market."""
    import os
    import signal
    import subprocess
    import sys

    from conftest import TEST_DEMO_END, TEST_HISTORY_START, TEST_SECURITIES

    home = tmp_path / "home"
    env = {**os.environ, "MARGIN_WH_HOME": str(home),
           "MARGIN_WH_HISTORY_START": TEST_HISTORY_START.isoformat(),
           "MARGIN_WH_DEMO_END": TEST_DEMO_END.isoformat(),
           "MARGIN_WH_DEMO_SECURITIES": str(TEST_SECURITIES)}  # fmt: skip
    env.pop("DAGSTER_HOME", None)
    command = [sys.executable, "-m", "margin_wh.cli", "refresh", "--start", START.isoformat(),
               "--end", END.isoformat()]  # fmt: skip
    reference = uninterrupted[0].db_path
    for step in ("▶ dbt_models", "▶ publish__warehouse_snapshot"):
        run = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        for line in run.stderr:
            if line.startswith(step):
                break
        run.send_signal(signal.SIGKILL)
        run.wait()
    final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr[-3000:]
    assert "marked failed" in final.stdout
    # stdout and stderr are pipes: no terminal escape code, and dbt's log (a line per node)
    # in dbt.log, not here: the dbt step is one line
    assert "\x1b[" not in final.stdout + final.stderr
    assert "START sql" not in final.stdout and "dbt_models: " in final.stderr, final.stderr[-3000:]
    published = home / "published"
    assert not [p for p in published.iterdir() if ".tmp" in p.name]
    for table in MARTS + ["marts.fct_index_futures_basis", "marts.fct_policy_event_window"]:
        pd.testing.assert_frame_equal(
            _comparable(home / "warehouse.duckdb", table),
            _comparable(reference, table), obj=table,
        )  # fmt: skip
        pd.testing.assert_frame_equal(
            _comparable(published / "margin_warehouse.duckdb", table),
            _comparable(reference, table), obj=f"published {table}",
        )  # fmt: skip


def test_replay_after_overlapping_refreshes_rebuilds_every_raw_table(tmp_path, monkeypatch):
    """Overlapping refreshes, the later forcing fresh calls, on the demo market
    (funds and spot indices: full histories per call), then `margin-wh replay` into a
    fresh warehouse beside the same landing zone: every raw table equal, row for row."""
    from margin_wh.raw.landed_calendar import load_calendar
    from margin_wh.raw.load import replay

    settings = make_settings(tmp_path)
    source = CountingSource(get_source(settings))
    for start, end, refetch in ((dt.date(2024, 7, 1), dt.date(2024, 7, 10), False),
                                (dt.date(2024, 7, 8), dt.date(2024, 7, 12), True)):  # fmt: skip
        run(settings, source, monkeypatch, start, end, raw_only=True, refetch=refetch)
    with duckdb.connect(str(settings.db_path), read_only=True) as con:
        original = {f: con.execute(f"select * from raw.{f}").df() for f in DATASETS}
    calls = len(source.calls)

    calendar = load_calendar(settings.landing_dir)
    with duckdb.connect(str(tmp_path / "replayed.duckdb")) as con:
        for dataset in DATASETS.values():
            replay(con, dataset, calendar, settings.landing_dir)
        rebuilt = {f: con.execute(f"select * from raw.{f}").df() for f in DATASETS}
    assert len(source.calls) == calls  # replay made no call
    assert len(original["stock_zh_index_daily"]) == 4 * 10  # 07-01 .. 07-12, four indices
    assert len(original["fund_etf_hist_sina"])
    for function in DATASETS:
        def rows(frame):
            return frame.sort_values(list(frame.columns)).reset_index(drop=True)

        pd.testing.assert_frame_equal(rows(rebuilt[function]), rows(original[function]), obj=function)


class ExpiredContractRow:
    """The demo source, whose CFFEX file of `day` carries one row more: IF2406 trading
    after its expiry (the third Friday of June 2024, 06-21). The raw checks know no
    expiry and accept it; fct_index_futures_basis's contract refuses it
    (`days_to_expiry >= 0`)."""

    def __init__(self, inner, day: dt.date):
        self.inner, self.name, self.date = inner, inner.name, day.strftime("%Y%m%d")

    def call(self, function, **kwargs):
        frame = self.inner.call(function, **kwargs)
        if function == "futures_hist_daily_cffex" and kwargs.get("date") == self.date:
            expired = frame[frame["variety"] == "IF"].iloc[[0]].assign(symbol="IF2406")
            frame = pd.concat([frame, expired], ignore_index=True)
        return frame

    def can_snapshot(self, day, calendar):
        return self.inner.can_snapshot(day, calendar)

    def snapshot(self, function, day):
        return self.inner.snapshot(function, day)


GOOD_WEEK = (dt.date(2024, 7, 1), dt.date(2024, 7, 5))
BAD_WEEK = (dt.date(2024, 7, 8), dt.date(2024, 7, 10))  # 07-09 carries the expired contract


@dataclass
class BadFuturesRow:
    settings: object
    instance: dg.DagsterInstance
    defs: dg.Definitions
    message: str
    run_ids: list[str]  # the failing refresh's runs


@pytest.fixture(scope="module")
def bad_futures_row(tmp_path_factory) -> BadFuturesRow:
    """A published refresh of a good week, then one of the next days whose CFFEX file
    has a contract past its expiry."""
    settings = make_settings(tmp_path_factory.mktemp("bad_futures_row"))
    demo = get_source(settings)
    instance, defs = dg.DagsterInstance.ephemeral(), build_definitions(settings)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("margin_wh.sources._demo_source", lambda *a: demo)
        refresh(settings, *GOOD_WEEK, instance, defs=defs)
        before = {r.run_id for r in instance.get_runs()}
        patch.setattr("margin_wh.sources._demo_source", lambda *a: ExpiredContractRow(demo, dt.date(2024, 7, 9)))
        with pytest.raises(RefreshError) as error:
            refresh(settings, *BAD_WEEK, instance, defs=defs)
    runs = [r.run_id for r in reversed(instance.get_runs()) if r.run_id not in before]
    return BadFuturesRow(settings, instance, defs, str(error.value), runs)


def test_a_failing_model_keeps_its_last_good_state_while_the_rest_is_built_and_published(bad_futures_row):
    settings, message = bad_futures_row.settings, bad_futures_row.message
    # the model and dbt's reason come first, before Dagster's and dagster-dbt's wording
    first_failure = message.splitlines()[1]
    assert first_failure.startswith("dbt_models: fct_index_futures_basis: "), message
    assert "CHECK constraint failed" in first_failure and "days_to_expiry >= 0" in first_failure, message
    assert message.index("fct_index_futures_basis") < message.index("The dbt CLI process with command")
    assert "marts.fct_index_futures_basis: last day 2024-07-05" in message
    assert len(bad_futures_row.run_ids) == 2  # the failed run, then the run of the rest

    with duckdb.connect(str(settings.db_path), read_only=True) as con:
        def last(table: str) -> dt.date:
            return con.execute(f"select max(trade_date) from marts.{table}").fetchone()[0]

        assert last("fct_index_futures_basis") == GOOD_WEEK[1]  # its last good state
        assert last("fct_balance_to_float") == BAD_WEEK[1]  # the independent marts are current
        assert last("fct_market_margin_daily") == BAD_WEEK[1]
    snapshot = settings.publish_dir / "margin_warehouse.duckdb"
    with duckdb.connect(str(snapshot), read_only=True) as con:
        published_to = con.execute("select max(trade_date) from marts.fct_balance_to_float").fetchone()[0]
        basis_to = con.execute("select max(trade_date) from marts.fct_index_futures_basis").fetchone()[0]
    assert (published_to, basis_to) == (BAD_WEEK[1], GOOD_WEEK[1])  # published, basis as it was


def test_the_failure_sensor_asks_for_what_a_failed_model_spares(bad_futures_row):
    """A scheduled run has no second run of its own: the failure sensor asks for the
    models the failed one does not feed and its dbt step did not build (dbt built every
    model the failed one does not feed, so none here), and the publication."""
    instance, defs = bad_futures_row.instance, bad_futures_row.defs
    failed = instance.get_run_by_id(bad_futures_row.run_ids[0])
    assert failed.status == dg.DagsterRunStatus.FAILURE
    event = instance.all_logs(failed.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)[0]
    context = dg.build_run_status_sensor_context(
        sensor_name="report_failed_refresh", dagster_event=event.dagster_event,
        dagster_instance=instance, dagster_run=failed,
    ).for_run_failure()  # fmt: skip
    request = defs.resolve_sensor_def("report_failed_refresh")(context)
    keys = {k.to_user_string() for k in request.asset_selection}
    assert "marts/fct_index_futures_basis" not in keys
    assert "marts/fct_balance_to_float" not in keys  # built by the failed run's dbt step
    assert "marts/fct_policy_event_window" not in keys
    assert "publish/warehouse_snapshot" in keys
    assert not {k for k in keys if k.startswith("raw/")}
    # only unpartitioned assets left: Dagster's daemon refuses a partition key for them
    # ("All selected assets must have the same or no partitions definition"), so the
    # failed run's days reach dbt as a range
    assert request.partition_key is None
    window = (request.tags["dagster/asset_partition_range_start"], request.tags["dagster/asset_partition_range_end"])
    assert window == run_partition_keys(failed.tags)


def test_two_refreshes_started_together_one_fails_at_once_naming_the_other(uninterrupted, tmp_path):
    """A second `margin-wh refresh` (or a run the UI or a schedule launches) while the
    first is in its dbt steps fails at once naming the first's run and process, and
    does not touch the warehouse: the first completes as if alone."""
    import os
    import subprocess
    import sys
    import time

    from conftest import TEST_DEMO_END, TEST_HISTORY_START, TEST_SECURITIES

    from orchestration.assets.raw import raw_key

    home = tmp_path / "home"
    env = {**os.environ, "MARGIN_WH_HOME": str(home),
           "MARGIN_WH_HISTORY_START": TEST_HISTORY_START.isoformat(),
           "MARGIN_WH_DEMO_END": TEST_DEMO_END.isoformat(),
           "MARGIN_WH_DEMO_SECURITIES": str(TEST_SECURITIES)}  # fmt: skip
    env.pop("DAGSTER_HOME", None)
    command = [sys.executable, "-m", "margin_wh.cli", "refresh", "--start", START.isoformat(),
               "--end", END.isoformat()]  # fmt: skip
    first = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    for line in first.stderr:
        if line.startswith("▶ dbt_models"):
            break
    settings = make_settings(home)
    started = time.monotonic()
    with pytest.raises(RefreshError) as error:
        refresh(settings, START, END, dg.DagsterInstance.ephemeral())
    assert time.monotonic() - started < 5
    message = str(error.value)
    assert f"of process {first.pid}" in message and "is being written by run " in message, message
    # a run launched as the UI or the daemon launches one gets the same answer
    defs = build_definitions(settings)
    other = defs.resolve_job_def("refresh_warehouse").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), asset_selection=[raw_key("tool_trade_date_hist_sina")],
        raise_on_error=False,
    )  # fmt: skip
    assert not other.success
    assert any(f"of process {first.pid}" in str(e.event_specific_data) for e in other.all_events
               if e.event_type_value in ("RUN_FAILURE", "ENGINE_EVENT", "RESOURCE_INIT_FAILURE"))  # fmt: skip
    rest = first.stderr.read()
    assert first.wait(timeout=600) == 0, rest[-3000:]

    reference = uninterrupted[0].db_path
    published = home / "published" / "margin_warehouse.duckdb"
    for table in MARTS + ["marts.fct_policy_event_window"]:
        pd.testing.assert_frame_equal(_comparable(home / "warehouse.duckdb", table),
                                      _comparable(reference, table), obj=table)  # fmt: skip
        pd.testing.assert_frame_equal(_comparable(published, table),
                                      _comparable(reference, table), obj=f"published {table}")  # fmt: skip
