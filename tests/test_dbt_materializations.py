"""dbt's own materializations on the session's warehouse: views are views, and nothing
of dbt's create-rename-drop of a view is left behind."""

from __future__ import annotations

import duckdb

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
