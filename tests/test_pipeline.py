"""The whole pipeline through the real Dagster definitions, on a temporary DuckDB file."""

from __future__ import annotations

import csv
import datetime as dt
import os
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
from conftest import sorted_table

from margin_wh.raw.landed_calendar import load_calendar
from orchestration.partitions import TRADING_DAYS, partition_keys_to_add, window_days
from orchestration.runner import refresh
from orchestration.schedules import (
    REFRESH_JOB_NAME,
    SNAPSHOT_JOB_NAME,
    daily_run_request,
    snapshot_run_request,
)

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_keys.txt"
MARTS = (
    "fct_balance_to_float",
    "fct_short_concentration_by_industry",
    "fct_market_margin_daily",
    "fct_market_short_daily",
    "fct_index_futures_basis",
    "dim_policy_event",
    "fct_policy_event_window",
    "fct_policy_event_window_by_industry",
    "dim_margin_eligibility",
    "fct_margin_eligibility_event",
    "fct_margin_signal",
    "fct_market_leverage_daily",
)


def _query(warehouse, sql: str, params=()):
    with duckdb.connect(str(warehouse.settings.db_path), read_only=True) as con:
        return con.execute(sql, params).fetchall()


def test_definitions_load_and_asset_keys_match_snapshot(warehouse):
    graph = warehouse.defs.resolve_asset_graph()
    keys = sorted(k.to_user_string() for k in graph.get_all_asset_keys())
    assert warehouse.defs.resolve_job_def(REFRESH_JOB_NAME)
    # One lineage graph: every mart is downstream of a raw asset.
    for mart in ("marts/fct_balance_to_float", "marts/fct_index_futures_basis"):
        upstream = graph.get(dg.AssetKey.from_user_string(mart))
        assert upstream.parent_keys, mart
    expected = SNAPSHOT.read_text().split() if SNAPSHOT.exists() else None
    if expected is None:  # first run writes it; review it like code
        SNAPSHOT.write_text("\n".join(keys) + "\n")
        pytest.fail(f"wrote a new asset-key snapshot to {SNAPSHOT}; commit it")
    assert keys == expected, "asset keys changed: update tests/snapshots/asset_keys.txt if intended"


def test_runs_from_the_schedule_and_the_ui_execute_their_steps_in_one_process(warehouse):
    # `margin-wh refresh` and these tests use execute_in_process, which ignores a job's
    # executor; the daemon and the UI do not. A process per step made a scheduled day
    # seven times slower (orchestration/definitions.py).
    defs = warehouse.defs
    implicit = defs.resolve_implicit_global_asset_job_def()
    for job in (defs.resolve_job_def(REFRESH_JOB_NAME), defs.resolve_job_def(SNAPSHOT_JOB_NAME), implicit):
        assert job.executor_def is dg.in_process_executor, job.name


def test_a_daily_run_rebuilds_seeds_and_views_leaves_the_warehouse_free_and_publishes(
    warehouse, day_refreshed_again
):
    """Seeds and views are rebuilt by every run, so a changed seed or view definition is
    in place after the next run without any state of ours. The raw steps' connections
    close with their step, and dbt runs as its own process: after a run nothing holds
    the warehouse, and the snapshot has the run's day."""
    day, result = day_refreshed_again.day, day_refreshed_again.result
    assert result.first_day == result.last_day == day
    assert {
        "reference/policy_events",
        "reference/sw2021_industries",
        "staging/stg_reference__policy_events",
        "staging/stg_akshare__stock_daily",
        "marts/fct_balance_to_float",
        "publish/warehouse_snapshot",
    } <= _materialized(warehouse.instance, result.run_ids[-1])
    # (rows of the run's day, the last day): the same in the warehouse and the snapshot
    days_sql = "select count(*) filter (where trade_date = ?), max(trade_date) from marts.fct_balance_to_float"
    with duckdb.connect(str(warehouse.settings.db_path), config={"threads": 1}) as con:
        built = con.execute(days_sql, [day]).fetchone()
    published = warehouse.settings.publish_dir / "margin_warehouse.duckdb"
    with duckdb.connect(str(published), read_only=True) as con:
        assert con.execute(days_sql, [day]).fetchone() == built
    assert built[0] > 0 and built[1] == warehouse.last_day


def test_a_range_plans_its_days_in_one_event_per_asset_and_a_day_per_day(warehouse, day_refreshed_again):
    """A run over many days writes one planned event per asset with the range (Dagster's
    DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS, set by the runner for ranges only);
    a one-day run plans its day as Dagster does by default, so a failed day shows failed."""
    from orchestration.runner import RANGE_PLANNED_EVENTS_ENV

    def planned(run_id):
        return [
            e.dagster_event.event_specific_data
            for e in warehouse.instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED)
        ]

    ranged = planned(warehouse.run_ids[-1])
    calendar = load_calendar(warehouse.settings.landing_dir)
    range_days = {d.isoformat() for d in calendar if warehouse.first_day <= d <= warehouse.last_day}
    by_asset = {}
    for data in ranged:
        by_asset.setdefault(data.asset_key, []).append(data)
    assert by_asset and all(len(events) == 1 for events in by_asset.values())
    subsets = [d.partitions_subset for d in ranged if d.partitions_subset is not None]
    assert len(subsets) > 10 and all(set(s.get_partition_keys()) == range_days for s in subsets)
    one_day = planned(day_refreshed_again.result.run_ids[-1])
    assert one_day and all(d.partitions_subset is None for d in one_day)
    assert {d.partition for d in one_day} == {None, day_refreshed_again.day.isoformat()}
    assert RANGE_PLANNED_EVENTS_ENV not in os.environ  # set for the run's creation only


def test_cli_runs_are_the_refresh_jobs_runs_with_their_process(warehouse):
    """A CLI run is a run of the refresh job, started the way `dagster asset materialize`
    starts one: the run records the job's code origin (what rebuilds it), and it
    names the process that runs it (a killed one is marked failed by the next refresh)."""
    import os

    from orchestration.runner import HOST_TAG, PID_TAG

    runs = warehouse.instance.get_runs(filters=dg.RunsFilter(job_name=REFRESH_JOB_NAME))
    assert {r.run_id for r in runs} >= set(warehouse.run_ids)
    for run in runs:
        assert run.job_code_origin.job_name == REFRESH_JOB_NAME
        assert run.tags[PID_TAG] == str(os.getpid()) and HOST_TAG in run.tags


def test_each_marts_latest_materialization_says_the_ranges_last_trading_day(warehouse):
    """The marts are unpartitioned: the range's run materializes each once, saying the
    data's last trading day, its rows and the days it changed; the latest materialization
    of each (whatever ran since) says the range's last trading day."""
    graph = warehouse.defs.resolve_asset_graph()
    marts = {k for k in graph.get_all_asset_keys() if k.path[0] == "marts"}
    assert marts and all(graph.get(k).partitions_def is None for k in marts)
    records = warehouse.instance.get_records_for_run(
        warehouse.run_ids[-1], of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    in_range_run = {}
    for record in records:
        key = record.event_log_entry.dagster_event.asset_key
        if key in marts:
            assert key not in in_range_run, f"{key} materialized twice"
            in_range_run[key] = record.asset_materialization.metadata
    assert set(in_range_run) == marts  # once each, not once per day of the range
    last_day = warehouse.last_day.isoformat()
    # rows of events, list changes and signals: their last trade date is their last event's
    events = {dg.AssetKey(["marts", name]) for name in ("fct_margin_eligibility_event", "fct_margin_signal")}
    for key, metadata in in_range_run.items():
        assert metadata["days_changed"].value == f"{warehouse.first_day}..{last_day}", key
        assert metadata["rows"].value > 0, key
        if key in events:
            assert metadata["last_trade_date"].value <= last_day, key
        elif "last_trade_date" in metadata:
            assert metadata["last_trade_date"].value == last_day, key
            latest = warehouse.instance.get_latest_materialization_event(key).asset_materialization
            assert latest.metadata["last_trade_date"].value == last_day, key  # whatever ran since


def test_refresh_builds_raw_tables_and_marts(warehouse):
    raw = {r[0] for r in _query(warehouse, "select table_name from information_schema.tables where table_schema='raw'")}
    assert {"stock_margin_detail_sse", "stock_margin_detail_szse", "stock_zh_a_daily", "futures_hist_daily_cffex"} <= raw
    for mart in MARTS:
        (n,) = _query(warehouse, f"select count(*) from marts.{mart}")[0]
        assert n > 0, mart
    days = _query(warehouse, "select min(trade_date), max(trade_date), count(distinct trade_date) from marts.fct_balance_to_float")[0]
    assert days[0] == warehouse.first_day and days[1] == warehouse.last_day
    calendar = load_calendar(warehouse.settings.landing_dir)
    assert days[2] == len([d for d in calendar if warehouse.first_day <= d <= warehouse.last_day])


def test_balance_to_float_names_each_industry_as_the_seed_does(warehouse):
    # int_margin_detail_unified carries the industry codes only; the mart joins the names
    seed = Path(__file__).parents[1] / "seeds" / "sw2021_industries.csv"
    expected = {
        (int(row["industry_level"]), row["industry_code"].zfill(6)): row["industry_name_zh"]
        for row in csv.DictReader(seed.open(encoding="utf-8"))
    }
    pairs = _query(
        warehouse,
        "select distinct 1, sw_l1_code, sw_l1_name from marts.fct_balance_to_float "
        "where sw_l1_code is not null union all "
        "select distinct 2, sw_l2_code, sw_l2_name from marts.fct_balance_to_float "
        "where sw_l2_code is not null",
    )
    assert {level for level, _, _ in pairs} == {1, 2}
    assert all(name == expected[(level, code)] for level, code, name in pairs), pairs


def test_the_last_day_is_priced_by_the_closing_snapshot_like_sina_would(warehouse):
    """A run snapshots its last day (one call) instead of asking Sina per security; the
    close and float shares it gives are the ones Sina's history has for that day."""
    from margin_wh.sources import get_source
    from margin_wh.sources.datasets import sina_symbol

    day = warehouse.last_day
    sources = _query(
        warehouse,
        "select quote_source, count(*) from intermediate.int_security_quotes_daily "
        "where trade_date = ? group by 1",
        [day],
    )
    assert sorted(s for s, _ in sources) == ["fund_etf_hist_sina", "stock_zh_a_spot_em"]
    assert _query(warehouse, "select count(*) from raw.stock_zh_a_daily where trade_date = ?", [day]) == [(0,)]
    priced = _query(
        warehouse,
        "select security_code, close_cny, float_shares from intermediate.int_margin_detail_unified "
        "where trade_date = ? and close_trade_date = trade_date order by security_code limit 8",
        [day],
    )
    assert len(priced) == 8
    source = get_source(warehouse.settings)
    for code, close, float_shares in priced:
        bars = source.call(
            "stock_zh_a_daily", symbol=sina_symbol(code), start_date=day.strftime("%Y%m%d"),
            end_date=day.strftime("%Y%m%d"), adjust="",
        )  # fmt: skip
        assert (close, float_shares) == (bars["close"].iloc[0], bars["outstanding_share"].iloc[0])


def test_only_trading_days_are_partitions(warehouse):
    keys = warehouse.instance.get_dynamic_partitions(TRADING_DAYS.name)
    calendar = set(load_calendar(warehouse.settings.landing_dir))
    assert keys == sorted(keys)
    assert all(dt.date.fromisoformat(k) in calendar for k in keys)
    assert "2024-05-02" not in keys and "2024-05-06" in keys  # Labour Day holiday, then Monday
    assert all(dt.date.fromisoformat(k).weekday() < 5 for k in keys)


def test_rematerializing_a_partition_changes_nothing(warehouse, day_refreshed_again):
    before = day_refreshed_again.before
    for name in ("marts.fct_balance_to_float", "raw.stock_margin_detail_szse"):
        exclude = ("_fetched_at",) if name.startswith("raw.") else ()
        after = sorted_table(warehouse.settings.db_path, name, exclude)
        pd.testing.assert_frame_equal(after, before[name], check_exact=False, rtol=1e-12, obj=name)
    (rows, keys) = _query(warehouse, "select count(*), count(distinct (trade_date, security_code)) from marts.fct_balance_to_float")[0]
    assert rows == keys, "duplicated (trade_date, security_code) rows"


def _materialized(instance, run_id) -> set[str]:
    events = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    return {e.dagster_event.asset_key.to_user_string() for e in events}


FIRST_DAY, NEXT_DAY = dt.date(2024, 8, 12), dt.date(2024, 8, 13)


@pytest.fixture(scope="module")
def new_warehouse(tmp_path_factory):
    """A new warehouse whose first refresh is one day, 2024-08-12, a day an SSE security of
    the test market (603233) does not trade: (settings, instance,
    defs, that refresh's result)."""
    from conftest import make_settings

    from orchestration.definitions import build_definitions

    settings = make_settings(tmp_path_factory.mktemp("new_warehouse"))
    instance = dg.DagsterInstance.ephemeral()
    defs = build_definitions(settings)
    first = refresh(settings, FIRST_DAY, FIRST_DAY, instance, defs=defs)
    return settings, instance, defs, first


def test_a_first_day_with_a_suspended_security_reconciles(new_warehouse):
    """The new warehouse's first day finds an SSE security suspended: no close of it is
    loaded yet (no trade that day, nothing loaded before), so its short balance cannot
    be valued. The mart says how many such securities there are; the detail's margin
    total still counts their financing balance and reconciles with SSE's published
    total; the short-balance reconciliation, partial that day, is not run; the refresh
    succeeds."""
    settings, _, _, first = new_warehouse
    with duckdb.connect(str(settings.db_path), read_only=True) as con:
        unknown, financing = con.execute(
            """select count(*), sum(financing_balance_cny) from intermediate.int_margin_detail_unified
            where trade_date = ? and exchange = 'SSE' and short_balance_cny is null""",
            [first.first_day],
        ).fetchone()
        counted, margin_total, parts, published = con.execute(
            """select securities_with_unknown_short_balance_count, detail_margin_total_cny,
                detail_financing_balance_cny + detail_short_balance_cny, published_margin_total_cny
            from marts.fct_market_margin_daily where trade_date = ? and exchange = 'SSE'""",
            [first.first_day],
        ).fetchone()
    assert unknown > 0 and financing > 0.02 * published  # the case: beyond the test's tolerance
    assert counted == unknown
    assert margin_total == pytest.approx(parts, rel=1e-12)
    assert margin_total == pytest.approx(published, rel=0.02)


def test_two_consecutive_partitions_extend_the_marts(new_warehouse):
    """Materialize one partition, then the next: the marts hold both days, once each."""
    settings, instance, defs, first = new_warehouse
    second = refresh(settings, NEXT_DAY, NEXT_DAY, instance, defs=defs)
    with duckdb.connect(str(settings.db_path), read_only=True) as con:
        rows = con.execute(
            "select trade_date, count(*), count(distinct security_code) from marts.fct_balance_to_float group by 1 order by 1"
        ).fetchall()
        unknown = con.execute(
            """select trade_date, securities_with_unknown_short_balance_count
            from marts.fct_market_margin_daily where exchange = 'SSE' order by 1"""
        ).fetchall()
    assert [r[0] for r in rows] == [first.first_day, second.first_day]
    assert unknown[0][1] > 0 and unknown[1][1] == 0  # the suspended security trades again
    assert all(n == distinct and n > 0 for _, n, distinct in rows)
    # a new warehouse fetches the calendar in a run of its own first (it defines the
    # partitions); the next day is in the calendar already: one run, which refetches it
    assert (len(first.run_ids), len(second.run_ids)) == (2, 1)
    calendar_fetches = instance.fetch_materializations(
        dg.AssetKey(["raw", "tool_trade_date_hist_sina"]), limit=100
    ).records
    assert {r.event_log_entry.run_id for r in calendar_fetches} == {first.run_ids[0], second.run_ids[0]}
    # Daily runs price the market with one snapshot each: not one Sina call per security.
    assert not (settings.landing_dir / "stock_zh_a_daily").exists()
    assert len(list((settings.landing_dir / "stock_zh_a_spot_em").glob("*.parquet"))) == 2


def test_a_mart_row_breaking_a_constraint_fails_the_run_and_keeps_the_day(new_warehouse):
    """Column rules are DuckDB constraints on the marts: a violating row (here a financing
    balance above the float market cap, consistent with its own margin total, so no
    earlier check objects) fails the dbt step, and the day's rows stay as they were."""
    from orchestration.runner import RefreshError, _execute

    settings, instance, defs, first = new_warehouse
    day = first.first_day  # the raw row changed below stays changed: the warehouse's last use
    before_sql = "select count(*), sum(financing_balance_cny) from marts.fct_balance_to_float where trade_date = ?"
    with duckdb.connect(str(settings.db_path)) as con:
        before = con.execute(before_sql, [day]).fetchall()
        con.execute(
            """update raw.stock_margin_detail_szse
            set "融资余额" = "融资余额" + 1e15, "融资融券余额" = "融资融券余额" + 1e15
            where rowid = (select min(rowid) from raw.stock_margin_detail_szse where trade_date = ?)""",
            [day],
        )
    marts = [
        dg.AssetKey(["intermediate", "int_margin_detail_unified"]),
        dg.AssetKey(["marts", "fct_balance_to_float"]),
    ]
    with pytest.raises(RefreshError, match=r"CHECK constraint failed.*financing_to_float_ratio <= 1"):
        _execute(
            settings,
            instance,
            asset_selection=marts,
            tags={"dagster/partition": day.isoformat()},
        )
    with duckdb.connect(str(settings.db_path), read_only=True) as con:
        assert con.execute(before_sql, [day]).fetchall() == before
        not_null = con.execute(
            """select count(*) from duckdb_constraints()
            where table_name = 'fct_balance_to_float' and constraint_type = 'NOT NULL'"""
        ).fetchall()
    assert not_null == [(4,)]  # trade_date, security_code, exchange, security_type


def test_window_days_and_partition_order():
    calendar = [dt.date(2024, 9, 30), dt.date(2024, 10, 8), dt.date(2024, 10, 9)]
    assert window_days(dg.PartitionKeyRange("2024-09-30", "2024-10-08"), calendar) == calendar[:2]
    with pytest.raises(ValueError, match="no trading day"):
        window_days(dg.PartitionKeyRange("2024-10-01", "2024-10-07"), calendar)
    assert partition_keys_to_add(["2024-09-30"], calendar) == ["2024-10-08", "2024-10-09"]
    with pytest.raises(ValueError, match="history can only grow forward"):
        partition_keys_to_add(["2024-10-08"], calendar)


def test_schedule_runs_on_trading_days_and_skips_holidays(warehouse, tmp_path_factory):
    calendar = load_calendar(warehouse.settings.landing_dir)
    trading_monday = next(d for d in calendar if d.weekday() == 0 and d > dt.date(2024, 7, 1))
    request = daily_run_request(calendar, trading_monday)
    assert isinstance(request, dg.RunRequest)
    expected = max(d for d in calendar if d < trading_monday)
    assert request.partition_key == expected.isoformat() and expected.weekday() == 4
    assert isinstance(daily_run_request(calendar, dt.date(2024, 10, 1)), dg.SkipReason)  # National Day
    assert isinstance(daily_run_request(calendar, dt.date(2024, 7, 6)), dg.SkipReason)  # Saturday

    schedule = warehouse.defs.resolve_schedule_def("daily_refresh")
    shanghai = dt.timezone(dt.timedelta(hours=8))
    # Schedule evaluation needs a persistent instance; its directory outlives the test
    # because Dagster keeps a reference to the last instance it loaded definitions with.
    home = tmp_path_factory.mktemp("schedule_instance")
    with dg.DagsterInstance.local_temp(str(home)) as instance:
        for when, loads in ((dt.datetime(2024, 7, 8, 9, 30), "2024-07-05"), (dt.datetime(2024, 10, 1, 9, 30), None)):
            context = dg.build_schedule_context(
                instance=instance,
                scheduled_execution_time=when.replace(tzinfo=shanghai),
                repository_def=warehouse.defs.get_repository_def(),
            )
            result = schedule.evaluate_tick(context)
            if loads:
                assert [r.partition_key for r in result.run_requests] == [loads]
                assert result.run_requests[0].asset_selection is None  # the whole job
                assert result.run_requests[0].tags["dagster/max_retries"] == "2"
                # the partition is registered with the run, so the run can start
                assert instance.get_dynamic_partitions(TRADING_DAYS.name) == [loads]
            else:
                assert not result.run_requests
                assert "not a trading day" in result.skip_message


def test_closing_snapshot_schedule_takes_todays_close_on_trading_days(warehouse):
    calendar = load_calendar(warehouse.settings.landing_dir)
    request = snapshot_run_request(calendar, dt.date(2024, 7, 8))
    assert isinstance(request, dg.RunRequest) and request.partition_key == "2024-07-08"
    assert isinstance(snapshot_run_request(calendar, dt.date(2024, 7, 6)), dg.SkipReason)  # Saturday
    assert isinstance(snapshot_run_request([], dt.date(2024, 7, 8)), dg.SkipReason)

    job = warehouse.defs.resolve_job_def(SNAPSHOT_JOB_NAME)
    # Eastmoney's snapshot, and Sina's paged snapshot for a close Eastmoney refuses
    assert sorted(k.to_user_string() for k in job.asset_layer.selected_asset_keys) == [
        "raw/stock_zh_a_spot", "raw/stock_zh_a_spot_em"]
    # Evaluated like daily_refresh (same registration helper, tested above); a second
    # temporary instance here would leave Dagster a dead reference for later tests.
    schedule = warehouse.defs.resolve_schedule_def("closing_snapshot")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("40 15 * * *", "Asia/Shanghai")
    assert schedule.job_name == SNAPSHOT_JOB_NAME
