"""The project's view materialization (dbt_project/macros/materializations/view.sql):
one CREATE OR REPLACE VIEW in place of dbt's create-rename-drop, on real dbt and a copy
of the session's warehouse."""

from __future__ import annotations

import shutil

import duckdb
from conftest import make_settings

from margin_wh.config import DBT_PROJECT_DIR
from orchestration.dbt_inprocess import close_dbt_duckdb

MODEL = "stg_akshare__stock_spot"


def _relations(db_path) -> dict[str, str]:
    with duckdb.connect(str(db_path), read_only=True) as con:
        rows = con.execute(
            "select table_schema || '.' || table_name, table_type from information_schema.tables"
        ).fetchall()
    return dict(rows)


def test_a_build_leaves_views_and_no_intermediate_relations(warehouse):
    relations = _relations(warehouse.settings.db_path)
    assert relations[f"staging.{MODEL}"] == "VIEW"
    assert relations["intermediate.int_security_quotes_daily"] == "VIEW"
    leftovers = [name for name in relations if "__dbt_tmp" in name or "__dbt_backup" in name]
    assert leftovers == []


def test_a_view_replaces_itself_and_a_table_of_its_name(warehouse, tmp_path):
    from dbt.cli.main import dbtRunner

    settings = make_settings(tmp_path)
    shutil.copy(warehouse.settings.db_path, settings.db_path)
    with duckdb.connect(str(settings.db_path)) as con:
        expected = con.execute(f"select count(*) from staging.{MODEL}").fetchone()[0]
        # as if the model had been a table before: OR REPLACE alone cannot replace it
        con.execute(f"create table staging.{MODEL}_t as select * from staging.{MODEL}")
        con.execute(f"drop view staging.{MODEL}")
        con.execute(f"alter table staging.{MODEL}_t rename to {MODEL}")
    assert _relations(settings.db_path)[f"staging.{MODEL}"] == "BASE TABLE"

    target = tmp_path / "target"
    args = [
        "run", "--quiet", "--select", MODEL,
        "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(target), "--log-path", str(target),
    ]  # fmt: skip
    with settings.dbt_environ():
        for _ in range(2):  # over the table, then over its own view
            result = dbtRunner().invoke(args)
            close_dbt_duckdb()  # dbt-duckdb keeps the file open after an invocation
            assert result.success, result.exception
            relations = _relations(settings.db_path)
            assert relations[f"staging.{MODEL}"] == "VIEW"
            assert not [name for name in relations if MODEL in name and name != f"staging.{MODEL}"]
    with duckdb.connect(str(settings.db_path), read_only=True) as con:
        assert con.execute(f"select count(*) from staging.{MODEL}").fetchone()[0] == expected
