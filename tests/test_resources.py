"""The run-scoped DuckDB resource (orchestration/resources.py): one database instance per
run, shared with dbt, closed when the run ends."""

from __future__ import annotations

import dagster as dg
import duckdb
import pytest

from orchestration.resources import WarehouseDuckDB, dbt_duckdb_settings

# the assets below take the resource as `duckdb` (its resource key)
connect = duckdb.connect


def _marker_visible(con) -> bool:
    return con.execute(
        "select count(*) from duckdb_databases() where database_name = 'run_marker'"
    ).fetchone()[0] == 1


def test_a_run_opens_the_warehouse_once_and_dbt_joins_it(tmp_path):
    path = str(tmp_path / "warehouse.duckdb")
    seen = {}

    @dg.asset
    def first(duckdb: WarehouseDuckDB) -> None:
        with duckdb.get_connection() as con:
            # attached databases belong to the instance: every connection to it sees this
            con.execute("attach ':memory:' as run_marker")
            con.execute("create table t as select 1 as x")

    @dg.asset(deps=[first])
    def second(duckdb: WarehouseDuckDB) -> None:
        with duckdb.get_connection() as con:
            seen["step"] = _marker_visible(con)
            seen["memory_limit"] = con.execute("select current_setting('memory_limit')").fetchone()[0]
        # what dbt-duckdb does: duckdb.connect(path, read_only=False, config={})
        with connect(path, read_only=False, config={}) as dbt_con:
            seen["dbt"] = _marker_visible(dbt_con)
        duckdb.close_run_connection()
        with connect(path, read_only=True) as reader:  # the snapshot's way
            seen["after_close"] = reader.execute("select x from t").fetchall()
        with duckdb.get_connection() as con:  # opened again for the rest of the run
            seen["reopened"] = _marker_visible(con)

    result = dg.materialize([first, second], resources={"duckdb": WarehouseDuckDB(database=path)})
    assert result.success
    memory_limit = seen.pop("memory_limit")
    assert seen == {"step": True, "dbt": True, "after_close": [(1,)], "reopened": False}
    # dbt's settings (profiles.yml) apply to the run's instance, shown as DuckDB shows them
    with connect() as plain, connect() as default:
        plain.execute(f"set memory_limit = '{dbt_duckdb_settings()['memory_limit']}'")
        profile_limit = plain.execute("select current_setting('memory_limit')").fetchone()[0]
        default_limit = default.execute("select current_setting('memory_limit')").fetchone()[0]
    assert memory_limit == profile_limit != default_limit
    # the run's end closed the file: another configuration may open it now
    with duckdb.connect(path, read_only=True) as reader:
        assert reader.execute("select x from t").fetchall() == [(1,)]


def test_outside_a_run_each_connection_opens_and_closes_the_file(tmp_path):
    path = str(tmp_path / "warehouse.duckdb")
    resource = WarehouseDuckDB(database=path)
    with resource.get_connection() as con:
        con.execute("create table t as select 1 as x")
        with pytest.raises(duckdb.ConnectionException, match="different configuration"):
            duckdb.connect(path, read_only=True)
    with duckdb.connect(path, read_only=True) as reader:
        assert reader.execute("select x from t").fetchall() == [(1,)]
