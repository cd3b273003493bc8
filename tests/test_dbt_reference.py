"""Reference nodes (seeds and what is built from them alone): which they are, and when
their fingerprint changes (orchestration/dbt_reference.py)."""

from __future__ import annotations

import copy

import dagster as dg

from orchestration.dbt_reference import (
    StepReference,
    fingerprint,
    is_current,
    reference_nodes,
    reference_tests,
    source_free,
)


def _node(kind: str, *parents: str, **extra) -> dict:
    return {"resource_type": kind, "depends_on": {"nodes": list(parents)}, "checksum": "x", **extra}


NODES = {
    "seed.p.industries": _node("seed", checksum="csv-v1"),
    "model.p.stg_industries": _node("model", "seed.p.industries", raw_code="select 1"),
    "model.p.stg_detail": _node("model", "source.p.raw.detail", raw_code="select 2"),
    "model.p.detail_with_industry": _node("model", "model.p.stg_detail", "model.p.stg_industries"),
    "test.p.unique_industry_code": _node(
        "test",
        "model.p.stg_industries",
        test_metadata={"name": "unique", "kwargs": {"column_name": "code"}},
    ),
    "test.p.not_null_detail": _node("test", "model.p.detail_with_industry"),
    "test.p.relationships_detail_industry": _node(
        "test", "model.p.stg_detail", "model.p.stg_industries"
    ),
}
MACROS = {
    "macro.p.run_window": {
        "package_name": "p",
        "macro_sql": "{% macro run_window() %}1{% endmacro %}",
    },
    "macro.dbt.run_query": {"package_name": "dbt", "macro_sql": "dbt's own"},
}
STEP = ["seed.p.industries", "model.p.stg_industries", "model.p.stg_detail"]


def _fingerprint(nodes=NODES, macros=MACROS, version="1.11.16") -> str:
    reference = reference_nodes(nodes, STEP)
    return fingerprint(nodes, macros, reference, reference_tests(nodes, reference), version)


def test_reference_nodes_are_the_ones_no_source_feeds():
    assert source_free(NODES) == {"seed.p.industries", "model.p.stg_industries"}
    assert reference_nodes(NODES, STEP) == ["model.p.stg_industries", "seed.p.industries"]
    # a model that also reads a source is data: it is built every day
    assert "model.p.detail_with_industry" not in source_free(NODES)


def test_only_tests_reading_reference_nodes_alone_leave_with_them():
    reference = reference_nodes(NODES, STEP)
    assert reference_tests(NODES, reference) == ["test.p.unique_industry_code"]


def test_the_fingerprint_follows_the_reference_definitions_and_nothing_else():
    base = _fingerprint()
    assert _fingerprint() == base  # stable

    changed_seed = copy.deepcopy(NODES)
    changed_seed["seed.p.industries"]["checksum"] = "csv-v2"
    changed_test = copy.deepcopy(NODES)
    changed_test["test.p.unique_industry_code"]["test_metadata"]["kwargs"]["column_name"] = "name"
    new_test = copy.deepcopy(NODES)
    new_test["test.p.not_null_industry_name"] = _node("test", "model.p.stg_industries")
    changed_macro = copy.deepcopy(MACROS)
    changed_macro["macro.p.run_window"]["macro_sql"] += " "
    for variant in (
        _fingerprint(nodes=changed_seed),
        _fingerprint(nodes=changed_test),
        _fingerprint(nodes=new_test),
        _fingerprint(macros=changed_macro),
        _fingerprint(version="1.11.17"),
    ):
        assert variant != base

    # data models and dbt's own macros are not part of it
    changed_data_model = copy.deepcopy(NODES)
    changed_data_model["model.p.stg_detail"]["raw_code"] = "select 3"
    dbt_macro = copy.deepcopy(MACROS)
    dbt_macro["macro.dbt.run_query"]["macro_sql"] = "changed"
    assert _fingerprint(nodes=changed_data_model) == base
    assert _fingerprint(macros=dbt_macro) == base


def test_current_means_same_fingerprint_and_every_relation_still_there():
    reference = StepReference(
        step="dbt_upstream",
        asset_keys=frozenset({dg.AssetKey(["reference", "industries"])}),
        relations=(("reference", "industries"), ("staging", "stg_industries")),
        fingerprint="abc",
    )
    existing = {("reference", "industries"), ("staging", "stg_industries"), ("raw", "detail")}
    assert is_current(reference, {"dbt_upstream": "abc"}, existing)
    assert not is_current(reference, {"dbt_upstream": "old"}, existing)
    assert not is_current(reference, {}, existing)  # a new warehouse file
    assert not is_current(
        reference, {"dbt_upstream": "abc"}, existing - {("staging", "stg_industries")}
    )
    nothing = StepReference("dbt_daily_marts", frozenset(), (), "abc")
    assert not is_current(nothing, {"dbt_daily_marts": "abc"}, existing)


def test_state_is_stored_per_step_and_can_be_forgotten(tmp_path):
    from orchestration.dbt_reference import forget_state, read_state, record_state

    db = tmp_path / "warehouse.duckdb"
    assert read_state(db) == ({}, set())  # no warehouse yet: nothing is current
    assert forget_state(db) is False
    record_state(db, "dbt_upstream", "abc")
    record_state(db, "dbt_upstream", "def")  # a rebuild replaces the step's row
    record_state(db, "dbt_history_marts", "xyz")
    stored, existing = read_state(db)
    assert stored == {"dbt_upstream": "def", "dbt_history_marts": "xyz"}
    assert ("meta", "dbt_reference_builds") in existing
    assert forget_state(db) is True
    assert read_state(db)[0] == {}


def test_nothing_is_left_out_when_the_project_changed_or_the_answer_is_unknown(
    monkeypatch, tmp_path
):
    from orchestration import dbt_reference
    from orchestration.assets import dbt as dbt_assets

    step = type(
        "Step",
        (),
        {"node_def": type("Op", (), {"tags": {dbt_assets.SOURCES_MTIME_TAG: "100.0"}})()},
    )()
    monkeypatch.setattr(
        dbt_reference, "current_reference_keys", lambda steps, db: {dg.AssetKey("seed")}
    )
    monkeypatch.setattr(dbt_assets, "_newest_source_mtime", lambda: 100.0)
    assert dbt_assets.reference_keys_to_leave_out([step], tmp_path / "w.duckdb") == {
        dg.AssetKey("seed")
    }
    # a seed edited after the definitions were loaded (a running `dagster dev`)
    monkeypatch.setattr(dbt_assets, "_newest_source_mtime", lambda: 101.0)
    assert dbt_assets.reference_keys_to_leave_out([step], tmp_path / "w.duckdb") == set()

    def locked(steps, db):
        raise OSError("Could not set lock on file")

    monkeypatch.setattr(dbt_assets, "_newest_source_mtime", lambda: 100.0)
    monkeypatch.setattr(dbt_reference, "current_reference_keys", locked)
    assert dbt_assets.reference_keys_to_leave_out([step], tmp_path / "w.duckdb") == set()
