"""The resources (orchestration/resources.py): the raw loads' DuckDB connections get the
settings dbt's get (profiles.yml) and let go of the warehouse when their step ends."""

from __future__ import annotations

import dagster as dg
import duckdb

from orchestration.resources import build_resources, dbt_duckdb_settings


def test_raw_connections_get_dbts_settings_and_close_with_their_step(settings_factory):
    settings = settings_factory()
    resources = build_resources(settings)
    seen = {}

    @dg.asset
    def writes(duckdb: dg.ConfigurableResource) -> None:
        with duckdb.get_connection() as con:
            con.execute("create table t as select 1 as x")
            seen["memory_limit"] = con.execute("select current_setting('memory_limit')").fetchone()[0]

    assert dg.materialize([writes], resources={"duckdb": resources["duckdb"]}).success
    with duckdb.connect() as plain, duckdb.connect() as default:
        plain.execute(f"set memory_limit = '{dbt_duckdb_settings()['memory_limit']}'")
        profile_limit = plain.execute("select current_setting('memory_limit')").fetchone()[0]
        default_limit = default.execute("select current_setting('memory_limit')").fetchone()[0]
    assert seen["memory_limit"] == profile_limit != default_limit
    # the step's end closed the file: a process with another configuration may open it
    with duckdb.connect(str(settings.db_path), read_only=True) as reader:
        assert reader.execute("select x from t").fetchall() == [(1,)]
