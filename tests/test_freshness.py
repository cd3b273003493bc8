"""Publication never breaks on a missing or stale mart, and the freshness tables cover every
dataset: the rules (margin_wh/publish/freshness.py) tested directly, then a copy of the
session's warehouse, built by the real pipeline, published through the real publish assets
with a mart never built, a mart behind, a dataset never loaded and symbols that could not
load, read back through the snapshot, the Parquet manifest, the report, margin_wh.read and
the MCP server's answer."""

from __future__ import annotations

import datetime as dt
import shutil

import dagster as dg
import duckdb
import pytest
from conftest import make_settings

from margin_wh import read
from margin_wh.publish.freshness import (
    RULES,
    DatasetFreshness,
    dataset_freshness,
    is_daily_series,
    mart_freshness,
    raw_datasets_read,
    tracked_datasets,
)
from margin_wh.publish.parquet import read_manifest
from margin_wh.publish.report import REPORT_NAME, VIEW_TITLES
from margin_wh.publish.snapshot import PublishError, publish_snapshot, snapshot_path
from margin_wh.raw.landed_calendar import load_calendar
from margin_wh.read import questions
from margin_wh.read.mcp_server import render_text, structured
from margin_wh.read.readonly import MartNotInSnapshot
from margin_wh.sources.datasets import DATASETS
from orchestration.assets.publish import PARQUET_KEY, REPORT_KEY, SNAPSHOT_KEY

D = dt.date
CALENDAR = [
    D(2024, 7, 1),
    D(2024, 7, 2),
    D(2024, 7, 3),
    D(2024, 7, 4),
    D(2024, 7, 5),
    D(2024, 7, 8),
]


# ---------------------------------------------------------------- the rules
def test_every_dataset_of_trading_days_is_tracked_with_a_rule():
    rules = tracked_datasets()
    partitioned = {name for name, d in DATASETS.items() if d.partitioned}
    assert partitioned <= set(rules)
    assert {"stock_zh_index_daily", "fund_etf_hist_sina", "stock_margin_account_info"} <= set(rules)
    assert "tool_trade_date_hist_sina" not in rules  # the yardstick, not a day's data
    assert "stock_industry_clf_hist_sw" not in rules  # spells of industries, not days
    assert rules["stock_zh_index_daily"] == "each_symbol_every_day"
    assert rules["fund_etf_hist_sina"] == "latest_symbol"
    assert rules["stock_zh_a_daily"] == rules["stock_zh_a_spot_em"] == "quotes_either_source"
    assert rules["stock_zh_a_spot"] == "quotes_either_source"  # the snapshot's fallback
    assert rules["stock_margin_detail_szse"] == "every_trading_day"
    assert set(rules.values()) <= set(RULES)


def _rows(last_days, **kwargs) -> dict[str, DatasetFreshness]:
    rules = {
        "stock_margin_detail_szse": "every_trading_day",
        "stock_margin_detail_bse": "every_trading_day",
        "stock_zh_a_daily": "quotes_either_source",
        "stock_zh_a_spot_em": "quotes_either_source",
        "stock_zh_index_daily": "each_symbol_every_day",
        "fund_etf_hist_sina": "latest_symbol",
    }
    kwargs.setdefault("warehouse_first_day", D(2024, 7, 1))
    return {r.dataset: r for r in dataset_freshness(rules, last_days, CALENDAR, **kwargs)}


def test_quotes_are_stale_only_when_neither_source_has_the_latest_day():
    days = {"stock_margin_detail_szse": D(2024, 7, 5), "stock_margin_detail_bse": D(2024, 7, 5),
            "stock_zh_index_daily": D(2024, 7, 5), "fund_etf_hist_sina": D(2024, 7, 5)}  # fmt: skip
    # the closing snapshot took the last day, Sina's history the days before: current
    rows = _rows({**days, "stock_zh_a_daily": D(2024, 7, 4), "stock_zh_a_spot_em": D(2024, 7, 5)})
    assert not any(r.is_stale for r in rows.values())
    # neither has it: both say so, since the first day they lack
    rows = _rows({**days, "stock_zh_a_daily": D(2024, 7, 3), "stock_zh_a_spot_em": D(2024, 7, 2)})
    assert {n: r.stale_since for n, r in rows.items() if r.is_stale} == {
        "stock_zh_a_daily": D(2024, 7, 4), "stock_zh_a_spot_em": D(2024, 7, 4),
    }  # fmt: skip
    # an evening snapshot of the next day, before the exchanges publish it, makes no
    # margin dataset stale
    rows = _rows({**days, "stock_zh_a_daily": D(2024, 7, 5), "stock_zh_a_spot_em": D(2024, 7, 8)})
    assert not any(r.is_stale for r in rows.values())


def test_a_dataset_never_loaded_is_stale_since_the_warehouse_began_or_its_source_did():
    days = {"stock_margin_detail_szse": D(2024, 7, 5), "stock_zh_a_daily": D(2024, 7, 5),
            "stock_zh_index_daily": D(2024, 7, 3), "fund_etf_hist_sina": D(2024, 7, 5)}  # fmt: skip
    rows = _rows(days, missing_symbols={"fund_etf_hist_sina": ["sz159915", "sh510300"]})
    assert (rows["stock_margin_detail_bse"].is_stale, rows["stock_margin_detail_bse"].stale_since) == (
        True, D(2024, 7, 1))  # fmt: skip
    assert rows["stock_zh_index_daily"].stale_since == D(2024, 7, 4)
    assert rows["fund_etf_hist_sina"].missing_symbols == ("sh510300", "sz159915")
    assert not rows["fund_etf_hist_sina"].is_stale  # symbols missing, days not
    # a source that publishes from a later day than the market's latest is not stale yet
    later = _rows(days, first_days={"stock_margin_detail_bse": D(2024, 8, 1)})
    assert not later["stock_margin_detail_bse"].is_stale


@pytest.mark.parametrize(
    ("grain", "daily"),
    [
        ("trade_date", True),
        ("trade_date x security_code", True),
        ("trade_date x industry_level x industry_code", True),
        ("trade_date x security_code x signal_type", False),
        ("trade_date x security_code x event_type", False),
        ("event_id x offset_trading_days", False),
        ("security_code x valid_from", False),
        (None, False),
    ],
)
def test_a_mart_is_measured_by_its_own_last_day_only_with_a_row_every_day(grain, daily):
    assert is_daily_series(grain) is daily


def test_the_raw_datasets_a_mart_reads_come_through_every_model_between():
    manifest = {
        "nodes": {
            "model.p.fct_a": {"resource_type": "model", "schema": "marts", "name": "fct_a"},
            "model.p.int_b": {"resource_type": "model", "schema": "intermediate", "name": "int_b"},
            "model.p.stg_c": {"resource_type": "model", "schema": "staging", "name": "stg_c"},
        },
        "sources": {
            "source.p.raw.x": {
                "schema": "raw",
                "identifier": "stock_margin_detail_sse",
                "name": "x",
            },
            "source.p.raw.y": {"schema": "raw", "identifier": "stock_zh_index_daily", "name": "y"},
            "source.p.other.z": {"schema": "reference", "identifier": "z", "name": "z"},
        },
        "parent_map": {
            "model.p.fct_a": ["model.p.int_b", "source.p.raw.y"],
            "model.p.int_b": ["model.p.stg_c", "source.p.other.z"],
            "model.p.stg_c": ["source.p.raw.x"],
        },
    }
    assert raw_datasets_read(manifest) == {
        "fct_a": ("stock_margin_detail_sse", "stock_zh_index_daily")
    }
    assert raw_datasets_read({}) == {}


def test_mart_freshness_from_its_own_days_its_datasets_and_the_previous_snapshot():
    lagging = DatasetFreshness(
        "futures_hist_daily_cffex", "every_trading_day", D(2024, 7, 3), True, D(2024, 7, 4)
    )
    rows = {
        m.mart: m
        for m in mart_freshness(
            ["fct_daily", "fct_events", "fct_basis", "fct_gone", "fct_never"],
            {"fct_daily": D(2024, 7, 4), "fct_events": D(2024, 7, 2), "fct_basis": D(2024, 7, 5)},
            daily={"fct_daily", "fct_basis", "fct_gone", "fct_never"},
            reads={"fct_basis": ["futures_hist_daily_cffex"], "fct_never": ["futures_hist_daily_cffex"]},
            datasets=[lagging], latest=D(2024, 7, 5), calendar=CALENDAR,
            previous={"fct_gone": (False, D(2024, 7, 2), None)},
        )
    }  # fmt: skip
    assert (rows["fct_daily"].is_stale, rows["fct_daily"].stale_since) == (True, D(2024, 7, 5))
    assert not rows["fct_events"].is_stale  # a quiet day has no event: not a lag
    # the basis mart's last day is the market's, but a dataset it reads lags
    assert (rows["fct_basis"].is_stale, rows["fct_basis"].stale_since) == (True, D(2024, 7, 4))
    assert rows["fct_gone"].is_missing and rows["fct_gone"].stale_since == D(2024, 7, 3)
    assert rows["fct_never"].is_missing and rows["fct_never"].lagging_datasets == (
        "futures_hist_daily_cffex",
    )
    assert (
        "futures_hist_daily_cffex" in rows["fct_never"].why
        and "2024-07-04" in rows["fct_never"].why
    )


def test_a_malformed_missing_symbols_table_is_refused_and_the_snapshot_kept(tmp_path):
    db = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create schema marts; create schema meta")
        con.execute(
            "create table marts.fct_market_short_daily as select date '2024-07-01' as trade_date"
        )
    publish = tmp_path / "published"
    publish_snapshot(db, publish, source="demo")
    before = snapshot_path(publish).read_bytes()
    with duckdb.connect(str(db)) as con:
        con.execute("create table meta.missing_symbols (dataset varchar, ticker varchar)")
    with pytest.raises(
        PublishError,
        match="lacks the column.*symbol.*expected dataset, symbol.*got dataset, ticker",
    ):
        publish_snapshot(db, publish, source="demo")
    assert snapshot_path(publish).read_bytes() == before


# ---------------------------------------------------------------- end to end
MISSING = [  # fund and index symbols a Sina outage left out
    ("fund_etf_hist_sina", "sh510300", D(2024, 7, 30), D(2024, 7, 31), "HTTP 456 from Sina", 3),
    ("fund_etf_hist_sina", "sz159915", D(2024, 7, 31), D(2024, 7, 31), "timed out", 1),
    ("stock_zh_index_daily", "sh000852", D(2024, 7, 31), D(2024, 7, 31), "timed out", 2),
]
BASIS_CUT = D(2024, 7, 26)  # fct_index_futures_basis keeps its days up to here


@pytest.fixture(scope="module")
def broken(warehouse, tmp_path_factory):
    """A copy of the session warehouse (and its published files) where the account
    statistics were refused from the start (no raw table, no leverage mart), the basis mart
    lost its last days, and three symbols could not load; published through the real
    publish assets."""
    from orchestration.definitions import build_definitions

    root = tmp_path_factory.mktemp("broken")
    source = warehouse.settings
    shutil.copy2(source.db_path, root / "warehouse.duckdb")
    wal = source.db_path.with_name(source.db_path.name + ".wal")
    if wal.exists():
        shutil.copy2(wal, root / "warehouse.duckdb.wal")
    shutil.copytree(source.landing_dir, root / "landing")
    shutil.copytree(source.publish_dir, root / "published", symlinks=True)
    settings = make_settings(root)
    with duckdb.connect(str(settings.db_path)) as con:
        con.execute("drop table marts.fct_market_leverage_daily")
        con.execute("drop table raw.stock_margin_account_info")
        con.execute("delete from marts.fct_index_futures_basis where trade_date > ?", [BASIS_CUT])
        con.execute("create schema if not exists meta")
        con.execute("drop table if exists meta.missing_symbols")
        con.execute(
            "create table meta.missing_symbols (dataset varchar, symbol varchar, "
            "first_missing_day date, last_missing_day date, reason varchar, attempts integer, "
            "last_attempt_at timestamp)"
        )
        con.executemany(
            "insert into meta.missing_symbols values (?, ?, ?, ?, ?, ?, timestamp '2024-08-01 09:31:00')",
            [list(row) for row in MISSING],
        )
    instance = dg.DagsterInstance.ephemeral()
    defs = build_definitions(settings)
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance, asset_selection=[SNAPSHOT_KEY, PARQUET_KEY, REPORT_KEY]
    )
    calendar = load_calendar(settings.landing_dir)
    return settings, instance, result, calendar, warehouse


def test_a_mart_never_built_publishes_the_rest_and_the_snapshot_says_why(broken):
    settings, _, result, calendar, warehouse = broken
    assert result.success
    path = snapshot_path(settings.publish_dir)
    next_day = min(d for d in calendar if d > warehouse.last_day)
    with duckdb.connect(str(path), read_only=True) as con:
        marts = {r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'").fetchall()}  # fmt: skip
        freshness = {r[0]: r[1:] for r in con.execute(
            "select mart, is_missing, is_stale, last_trade_date, stale_since, lagging_datasets "
            "from main.mart_freshness").fetchall()}  # fmt: skip
        datasets = {r[0]: r[1:] for r in con.execute(
            "select dataset, last_trade_date, is_stale, stale_since, missing_symbol_count, "
            "missing_symbols, freshness_rule from main.dataset_freshness").fetchall()}  # fmt: skip
        missing = con.execute(
            "select dataset, symbol, first_missing_day, last_missing_day, reason, attempts "
            "from main.missing_symbols order by dataset, symbol").fetchall()  # fmt: skip
        (last,) = con.execute("select last_trade_date from main.snapshot_info").fetchone()
    assert "fct_market_leverage_daily" not in marts and "fct_balance_to_float" in marts
    assert last == warehouse.last_day  # the rest is published to the market's latest day
    first_day = warehouse.first_day
    # the leverage mart: not built, because its only source never loaded
    assert freshness["fct_market_leverage_daily"] == (
        True, True, None, first_day, "stock_margin_account_info")  # fmt: skip
    # the basis mart: built, but its last days are gone
    after_cut = min(d for d in calendar if d > BASIS_CUT)
    assert freshness["fct_index_futures_basis"] == (False, True, BASIS_CUT, after_cut, "")
    assert not any(row[1] for mart, row in freshness.items()
                   if mart not in ("fct_market_leverage_daily", "fct_index_futures_basis"))  # fmt: skip
    # every dataset of trading days, the Sina histories included
    assert set(datasets) == set(tracked_datasets())
    assert datasets["stock_margin_account_info"][:3] == (None, True, first_day)
    assert datasets["fund_etf_hist_sina"][3:] == (2, "sh510300, sz159915", "latest_symbol")
    assert datasets["stock_zh_index_daily"][3:] == (1, "sh000852", "each_symbol_every_day")
    assert datasets["stock_zh_index_daily"][:2] == (warehouse.last_day, False)
    assert [r[0] for r in missing] == [r[0] for r in MISSING] and [tuple(r) for r in missing] == [
        r[:6] for r in MISSING
    ]
    assert next_day > warehouse.last_day  # the calendar runs on; nothing is stale for it


def test_parquet_and_report_are_written_and_say_what_is_missing_and_stale(broken):
    settings, instance, result, _, _ = broken
    manifest = read_manifest(settings.publish_dir)
    assert "fct_market_leverage_daily" not in {m["mart"] for m in manifest["marts"]}
    assert "fct_balance_to_float" in {m["mart"] for m in manifest["marts"]}
    stale = {m["mart"]: m for m in manifest["freshness"]["marts"] if m["is_stale"]}
    assert set(stale) == {"fct_market_leverage_daily", "fct_index_futures_basis"}
    assert stale["fct_market_leverage_daily"]["is_missing"] is True
    assert len(manifest["freshness"]["missing_symbols"]) == len(MISSING)

    page = (settings.publish_dir / REPORT_NAME).read_text(encoding="utf-8")
    for title in VIEW_TITLES.values():  # every view has its heading, drawn or explained
        assert title.split(" ")[0] in page
    leverage = page[page.index("id='leverage'") : page.index("id='freshness'")]
    assert "Not shown" in leverage and "marts.fct_market_leverage_daily" in leverage
    assert "stock_margin_account_info" in leverage
    assert "平均维持担保比例 Average maintenance ratio" not in page  # its table is not drawn
    basis = page[page.index("id='basis'") : page.index("id='event-windows'")]
    assert f"Stale: <code>marts.fct_index_futures_basis</code> ends {BASIS_CUT}" in basis
    assert page.count("<div class='figure'>") == 6  # every chart but the leverage one
    assert "Symbols that could not load: fund_etf_hist_sina: sh510300, sz159915" in page
    assert "stock_zh_index_daily: sh000852" in page
    assert "Stale data: stock_margin_account_info since" in page
    table = page[page.index("id='freshness'") :]
    assert "fund_etf_hist_sina" in table and "stock_zh_index_daily" in table
    assert "2: sh510300, sz159915" in table
    # the run's log names them too
    messages = [e.user_message for e in instance.all_logs(result.run_id)]
    assert any("marts.fct_market_leverage_daily: not built" in m for m in messages)
    assert any(
        "fund_etf_hist_sina: 2 symbol(s) could not load: sh510300, sz159915" in m for m in messages
    )
    report = instance.get_latest_materialization_event(REPORT_KEY).asset_materialization
    assert report.metadata["views_missing"].value == ["leverage"]


def test_every_answer_names_the_missing_symbols_and_marts(broken):
    settings, *_ = broken
    path = snapshot_path(settings.publish_dir)
    note = read.snapshot_info(path).note
    assert (
        "Symbols that could not load: fund_etf_hist_sina 2 (sh510300, sz159915; missing since 2024-07-30)"
        in note
    )
    assert "stock_zh_index_daily 1 (sh000852" in note
    assert (
        "Not in this snapshot: marts.fct_market_leverage_daily, not built in the warehouse" in note
    )
    assert f"marts.fct_index_futures_basis ends {BASIS_CUT}" in note
    assert "Lagging: stock_margin_account_info" in note
    frame = read.top_short_to_float(snapshot=path)
    assert frame.attrs["data_note"] == note
    assert [m["dataset"] for m in frame.attrs["snapshot"]["missing_symbols"]] == [
        "fund_etf_hist_sina", "stock_zh_index_daily"]  # fmt: skip
    text = render_text(structured(questions.top_short_to_float(limit=2, snapshot=path)))
    assert "sh510300" in text and "fct_market_leverage_daily" in text
    with pytest.raises(MartNotInSnapshot, match="has not built it.*stock_margin_account_info"):
        read.describe_mart("fct_market_leverage_daily", snapshot=path)


def test_a_snapshot_from_before_the_freshness_tables_still_answers(broken, tmp_path):
    settings, *_ = broken
    older = tmp_path / "older.duckdb"
    shutil.copyfile(snapshot_path(settings.publish_dir), older)
    with duckdb.connect(str(older)) as con:
        con.execute("drop table main.mart_freshness")
        con.execute("drop table main.missing_symbols")
        con.execute("checkpoint")
    info = read.snapshot_info(older)
    assert info.missing_symbols == () and info.stale_marts == ()
    assert "Symbols that could not load" not in info.note
    with pytest.raises(MartNotInSnapshot) as error:
        read.describe_mart("fct_market_leverage_daily", snapshot=older)
    assert "has not built it" not in str(error.value)  # nothing recorded: no reason made up
