"""dbt's unit tests (`unit_tests:` in the models' YAML), run: they check the SQL of the
rules against fixed inputs, so they run here rather than on every refresh (the
pipeline's builds exclude them)."""

from __future__ import annotations

import duckdb
import yaml
from conftest import make_settings
from test_dbt_tests import invoke_dbt

from margin_wh.config import REPO_ROOT


def declared_unit_tests() -> dict[str, str]:
    """The dbt unit tests the project's YAML declares: each one's name and model."""
    declared = {}
    for path in sorted((REPO_ROOT / "models").rglob("*.yml")):
        for unit_test in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("unit_tests") or ():
            declared[unit_test["name"]] = unit_test["model"]
    return declared


def test_dbt_unit_tests_pass(tmp_path):
    """Every declared unit test (the signal rules, the run window's macros, the repayment
    roll-forward) runs and passes, on a warehouse of empty raw tables: dbt reads each
    input's columns from the warehouse, so the tested models' ancestors are built first
    (empty, over empty raw tables), in the same `dbt build` that runs the unit tests
    before their models."""
    from margin_wh.raw.load import ensure_raw_table
    from margin_wh.sources.datasets import RAW_TABLES

    declared = declared_unit_tests()
    assert declared, "no dbt unit test declared under models/"
    settings = make_settings(tmp_path)
    with duckdb.connect(str(settings.db_path)) as con:
        for dataset in RAW_TABLES.values():
            ensure_raw_table(con, dataset)  # as the raw asset does before any load

    models = sorted({f"+{model}" for model in declared.values()})
    result = invoke_dbt(settings, tmp_path / "target", "build", "--select", *models,
                        "--exclude", "resource_type:test")  # fmt: skip
    statuses = {name: r["status"] for name, r in result.results.items() if name in declared}
    assert statuses == {name: "pass" for name in declared}, result.output
    assert result.success, result.output
