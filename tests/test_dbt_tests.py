"""dbt's own tests, tested: compiled by dbt for a copy of the session's warehouse, run
here before and after a row is broken on purpose. A dbt test that passes on good data
must also fail on the bad row it exists for."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from conftest import make_settings

from margin_wh.config import DBT_PROJECT_DIR, Settings

JUNE = "{start_date: '2024-06-03', end_date: '2024-06-28'}"
BALANCE_TO_FLOAT = "assert_balance_to_float_matches_raw"
UNIFIED_KEY = "primary_key_int_margin_detail_unified_trade_date__security_code"


@dataclass
class DbtRun:
    success: bool
    output: str  # dbt's console output, for an assertion's message
    results: dict[str, dict]  # run_results.json's results by node name


def invoke_dbt(settings: Settings, target: Path, *args: str) -> DbtRun:
    """dbt as a process on `settings`' warehouse (as dagster-dbt runs it), with its own
    target and log directory."""
    dbt = Path(sys.executable).with_name("dbt")
    process = subprocess.run(
        [str(dbt), *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
         "--target-path", str(target), "--log-path", str(target)],  # fmt: skip
        cwd=DBT_PROJECT_DIR, env=settings.dbt_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    manifest = json.loads((target / "manifest.json").read_text())
    names = {
        unique_id: node["name"]
        for unique_id, node in {**manifest["nodes"], **manifest.get("unit_tests", {})}.items()
    }
    results = json.loads((target / "run_results.json").read_text())["results"]
    return DbtRun(
        process.returncode == 0,
        process.stdout[-3000:] + process.stderr[-2000:],
        {names[r["unique_id"]]: r for r in results},
    )


def compiled_failing_rows_sql(settings: Settings, tmp_path, tests: list[str], dbt_vars: str = "{}") -> dict[str, str]:
    """Each test's SQL as dbt compiles it for `settings`' warehouse (with `dbt_vars`, e.g.
    a run window): the query whose rows are the test's failures."""
    target = tmp_path / f"target_{abs(hash(dbt_vars))}"
    result = invoke_dbt(settings, target, "compile", "--quiet", "--select", *tests, "--vars", dbt_vars)
    assert result.success, result.output
    return {name: r["compiled_code"] for name, r in result.results.items()}


@pytest.fixture
def warehouse_copy(warehouse, tmp_path) -> Settings:
    copy = make_settings(tmp_path)
    shutil.copy(warehouse.settings.db_path, copy.db_path)
    return copy


def test_reconciliation_test_catches_a_wrong_carried_close(warehouse_copy, tmp_path):
    """assert_balance_to_float_matches_raw (its independent SQL is shared with the other
    assert_*_matches_raw tests): no failing row as built, both as a full build samples
    days (the last trading day of every month) and over a window of days (June); and
    exactly the changed row when one security's float market cap is wrong on a day it
    had no quote (its close carried forward from an earlier day)."""
    month_ends = compiled_failing_rows_sql(warehouse_copy, tmp_path, [BALANCE_TO_FLOAT])[BALANCE_TO_FLOAT]
    june = compiled_failing_rows_sql(warehouse_copy, tmp_path, [BALANCE_TO_FLOAT], JUNE)[BALANCE_TO_FLOAT]
    assert "group by date_trunc('month'" in month_ends and "date_trunc" not in june

    def failing(con, sql):
        return con.execute(f"select trade_date, security_code from ({sql}) order by all").fetchall()

    with duckdb.connect(str(warehouse_copy.db_path)) as con:
        assert failing(con, month_ends) == []
        assert failing(con, june) == []
        carried = con.execute(
            """select trade_date, security_code from marts.fct_balance_to_float
            where trade_date between date '2024-06-04' and date '2024-06-28'
                and close_trade_date < trade_date and float_market_cap_cny > 0
            order by trade_date, security_code limit 1"""
        ).fetchall()
        assert carried, "the demo market has a suspended security in June 2024"
        con.execute(
            """update marts.fct_balance_to_float set float_market_cap_cny = float_market_cap_cny * 1.01
            where trade_date = ? and security_code = ?""",
            list(carried[0]),
        )
        assert failing(con, june) == carried


def test_a_duplicate_in_an_exchange_view_stops_the_build_at_the_unified_grain_test(warehouse_copy, tmp_path):
    """The exchanges' staging views carry no grain test of their own: every row of them
    is a row of int_margin_detail_unified, whose primary_key test (macros/tests/
    primary_key.sql) fails with one row per bad key and why, before any mart reads it."""
    day = "2024-06-12"
    window = f"{{start_date: '{day}', end_date: '{day}'}}"
    sql = compiled_failing_rows_sql(warehouse_copy, tmp_path, [UNIFIED_KEY], window)[UNIFIED_KEY]

    def failing(con):
        return con.execute(
            f"select trade_date, security_code, row_count, failure_reason from ({sql}) order by all"
        ).fetchall()

    with duckdb.connect(str(warehouse_copy.db_path)) as con:
        assert failing(con) == []
        code = con.execute(
            """select "标的证券代码" from raw.stock_margin_detail_sse
            where trade_date = ? order by 1 limit 1""",
            [day],
        ).fetchone()[0]
        duplicate = """insert into raw.stock_margin_detail_sse
            select * from raw.stock_margin_detail_sse where trade_date = ? and "标的证券代码" = ?"""
        con.execute(duplicate, [day, code])
        null_key = duplicate.replace("select *", 'select * replace (null as "标的证券代码")') + " limit 1"
        con.execute(null_key, [day, code])

    result = invoke_dbt(
        warehouse_copy, tmp_path / "target_build", "build", "--select", "int_margin_detail_unified+", "--vars", window
    )
    status = {name: r["status"] for name, r in result.results.items()}
    assert not result.success
    assert status[UNIFIED_KEY] == "fail"
    assert status["fct_balance_to_float"] == "skipped"

    with duckdb.connect(str(warehouse_copy.db_path)) as con:
        assert failing(con) == [
            (dt.date.fromisoformat(day), code, 2, "duplicate key"),
            (dt.date.fromisoformat(day), None, 1, "null key column"),
        ]


def test_not_null_columns_names_each_null_column_of_a_row(warehouse_copy, tmp_path):
    """The one not-null test of a seed (macros/tests/not_null_columns.sql) passes as
    seeded and fails with one row per incomplete row, naming its null columns."""
    compiled = compiled_failing_rows_sql(warehouse_copy, tmp_path, ["test_name:not_null_columns,policy_events"])
    [sql] = compiled.values()
    with duckdb.connect(str(warehouse_copy.db_path)) as con:
        assert con.execute(f"select count(*) from ({sql})").fetchone() == (0,)
        [(schema,)] = con.execute(
            "select schema_name from duckdb_tables() where table_name = 'policy_events'"
        ).fetchall()
        relation = f"{schema}.policy_events"
        event = con.execute(f"select min(event_id) from {relation}").fetchone()[0]
        con.execute(f"update {relation} set issuer = null, source = null where event_id = ?", [event])
        assert con.execute(f"select event_id, null_columns from ({sql})").fetchall() == [(event, "issuer, source")]


def test_reconciliation_test_finds_the_close_before_a_long_suspension(warehouse_copy, tmp_path):
    """A one-day check reads the quotes of the 40 days before it, and older ones only for
    securities without a quote in them (macros/testing/independent_margin_detail.sql).
    Here a SZSE security's quotes of the 40 days before 2024-07-31 are removed from the
    raw frames, and its mart row set to what its last quote before them gives: the
    check agrees with that row, and no longer with the row as it was built."""
    day = "2024-07-31"
    sql = compiled_failing_rows_sql(
        warehouse_copy, tmp_path, [BALANCE_TO_FLOAT], f"{{start_date: '{day}', end_date: '{day}'}}"
    )[BALANCE_TO_FLOAT]

    def failing(con):
        return con.execute(f"select trade_date, security_code from ({sql}) order by all").fetchall()

    with duckdb.connect(str(warehouse_copy.db_path)) as con:
        assert failing(con) == []
        code = con.execute(
            """select security_code from marts.fct_balance_to_float
            where trade_date = ? and exchange = 'SZSE' and short_balance_cny > 0
            order by security_code limit 1""",
            [day],
        ).fetchone()[0]
        built = con.execute(
            "select * from marts.fct_balance_to_float where trade_date = ? and security_code = ?", [day, code]
        ).df()
        suspension_start = "2024-06-21"  # 40 days before the day
        con.execute(
            "delete from raw.stock_zh_a_daily where substr(symbol, 3) = ? and date >= ?", [code, suspension_start]
        )
        con.execute(
            'delete from raw.stock_zh_a_spot_em where "代码" = ? and trade_date >= ?', [code, suspension_start]
        )
        last_close, last_shares = con.execute(
            """select arg_max(close, date), arg_max(outstanding_share, date) from raw.stock_zh_a_daily
            where substr(symbol, 3) = ?""",
            [code],
        ).fetchone()
        assert last_close is not None and last_close * last_shares != built["float_market_cap_cny"][0]
        assert failing(con) == [(built["trade_date"][0].date(), code)]  # the row as built disagrees now

        con.execute(
            """update marts.fct_balance_to_float
            set float_market_cap_cny = ? * ?, short_to_float_ratio = short_balance_cny / (? * ?)
            where trade_date = ? and security_code = ?""",
            [last_close, last_shares, last_close, last_shares, day, code],
        )
        assert failing(con) == []
