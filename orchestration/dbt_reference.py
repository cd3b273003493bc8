"""Reference nodes: the dbt seeds and whatever is built from them alone, with their tests.

The curated seeds (policy events, SW2021 industries), the models built only from them
and the tests on those give the same result every trading day until a project file
changes; a daily refresh changes data, not them. So each dbt step records in the
warehouse a fingerprint of its reference nodes' definitions after it has built them
all, and a run whose fingerprint still matches, and whose reference relations exist, is
started without them: `margin-wh refresh` and the daily schedule select the rest
(`reference_keys_to_leave_out` in orchestration/assets/dbt.py; a run launched from the
UI selects what the user picked). A changed seed file, model SQL,
config, test on them, project macro or dbt version changes the fingerprint, and the next
run builds and tests them again; so does a new warehouse file (no fingerprint in it), a
project file changed after the definitions were loaded, and `margin-wh dbt`, which
forgets the fingerprints (dbt run by hand may have built them from other definitions).

In a one-day refresh that is 34 of the project's 137 dbt nodes (4 models and seeds, 30
tests), each costing dbt's per-node work and two or three Dagster events (BENCHMARKS.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

STATE_SCHEMA = "meta"
STATE_TABLE = f"{STATE_SCHEMA}.dbt_reference_builds"
_BUILDABLE = ("model", "seed")


def _parents(node: Mapping[str, Any]) -> list[str]:
    return list((node.get("depends_on") or {}).get("nodes") or [])


def source_free(nodes: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """Ids of the models and seeds that no source feeds, directly or through other nodes."""
    memo: dict[str, bool] = {}

    def fed_by_source(uid: str) -> bool:
        if uid.startswith("source."):
            return True
        if uid not in memo:
            memo[uid] = False  # a cycle cannot occur in dbt; this only guards recursion
            memo[uid] = any(fed_by_source(p) for p in _parents(nodes.get(uid, {})))
        return memo[uid]

    return {
        uid
        for uid, node in nodes.items()
        if node.get("resource_type") in _BUILDABLE and not fed_by_source(uid)
    }


def reference_nodes(nodes: Mapping[str, Mapping[str, Any]], step_nodes: Iterable[str]) -> list[str]:
    """The step's reference models and seeds, sorted."""
    return sorted(set(step_nodes) & source_free(nodes))


def reference_tests(nodes: Mapping[str, Mapping[str, Any]], reference: Iterable[str]) -> list[str]:
    """Tests that read only reference nodes (they leave the build with them)."""
    closure = source_free(nodes)
    mine = set(reference)
    return sorted(
        uid
        for uid, node in nodes.items()
        if node.get("resource_type") == "test"
        and _parents(node)
        and set(_parents(node)) <= closure
        and set(_parents(node)) & mine
    )


def _ancestors(nodes: Mapping[str, Mapping[str, Any]], start: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(start)
    while todo:
        uid = todo.pop()
        if uid in seen:
            continue
        seen.add(uid)
        todo.extend(_parents(nodes.get(uid, {})))
    return seen


_FIELDS = (
    "resource_type", "checksum", "config", "depends_on", "database", "schema", "alias",
    "raw_code", "test_metadata", "columns", "contract",
)  # fmt: skip


def fingerprint(
    nodes: Mapping[str, Mapping[str, Any]],
    macros: Mapping[str, Mapping[str, Any]],
    reference: Iterable[str],
    tests: Iterable[str],
    dbt_version: str,
) -> str:
    """A hash of everything that decides what the reference nodes and their tests are:
    their definitions and their ancestors', every macro of the project, dbt's version."""
    members = sorted(_ancestors(nodes, [*reference, *tests]))
    digest = hashlib.sha256(dbt_version.encode())
    for uid in members:
        node = nodes.get(uid, {})
        part = {field: node.get(field) for field in _FIELDS}
        digest.update(uid.encode())
        digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    for uid in sorted(macros):
        macro = macros[uid]
        if macro.get("package_name") == "dbt" or uid.startswith("macro.dbt."):
            continue  # dbt's own macros: covered by the version
        digest.update(uid.encode())
        digest.update(str(macro.get("macro_sql", "")).encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class StepReference:
    """One dbt step's reference nodes and the fingerprint of their definitions."""

    step: str
    asset_keys: frozenset  # the Dagster asset keys of the reference models and seeds
    relations: tuple[tuple[str, str], ...]  # their (schema, name) in the warehouse
    fingerprint: str


def step_reference(assets_def) -> StepReference:
    """The reference nodes of a `@dbt_assets` definition (one dbt step)."""
    from dagster_dbt.asset_utils import get_manifest_and_translator_from_dbt_assets
    from dbt.version import __version__ as dbt_version

    manifest, translator, _ = get_manifest_and_translator_from_dbt_assets([assets_def])
    # every asset of the step, also when `assets_def` is the subset a run selected
    nodes, step_keys = manifest["nodes"], set(assets_def.node_keys_by_output_name.values())
    step_nodes = [
        uid for uid, node in nodes.items()
        if node["resource_type"] in _BUILDABLE and translator.get_asset_key(node) in step_keys
    ]  # fmt: skip
    reference = reference_nodes(nodes, step_nodes)
    tests = reference_tests(nodes, reference)
    return StepReference(
        step=assets_def.node_def.name,
        asset_keys=frozenset(translator.get_asset_key(nodes[uid]) for uid in reference),
        relations=tuple((nodes[uid]["schema"], nodes[uid]["alias"]) for uid in reference),
        fingerprint=fingerprint(nodes, manifest.get("macros", {}), reference, tests, dbt_version),
    )


def is_current(
    reference: StepReference, stored: Mapping[str, str], existing: set[tuple[str, str]]
) -> bool:
    """Built with these very definitions, and still there."""
    return (
        bool(reference.asset_keys)
        and stored.get(reference.step) == reference.fingerprint
        and all(relation in existing for relation in reference.relations)
    )


def current_reference_keys(dbt_assets_defs, db_path: Path) -> set:
    """Asset keys of the reference nodes a run need not build again: those of every step
    whose fingerprint matches the one the warehouse stores (see the module's docstring)."""
    stored, existing = read_state(db_path)
    keys: set = set()
    for assets_def in dbt_assets_defs:
        reference = step_reference(assets_def)
        if is_current(reference, stored, existing):
            keys |= reference.asset_keys
    return keys


def read_state(db_path: Path) -> tuple[dict[str, str], set[tuple[str, str]]]:
    """The fingerprint stored per step, and every (schema, name) of the warehouse."""
    if not Path(db_path).exists():
        return {}, set()
    with duckdb.connect(str(db_path), read_only=True) as con:
        existing = {
            (schema, name)
            for schema, name in con.execute(
                "select table_schema, table_name from information_schema.tables"
            ).fetchall()
        }
        stored = {}
        if tuple(STATE_TABLE.split(".")) in existing:
            stored = dict(con.execute(f"select step, fingerprint from {STATE_TABLE}").fetchall())
    return stored, existing


def forget_state(db_path: Path) -> bool:
    """Drop every stored fingerprint, so the next run builds the reference nodes again
    (after dbt ran outside Dagster and may have built them from other definitions).
    False when there was nothing to forget."""
    if not Path(db_path).exists():
        return False
    with duckdb.connect(str(db_path)) as con:
        if not con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            STATE_TABLE.split("."),
        ).fetchone()[0]:
            return False
        con.execute(f"delete from {STATE_TABLE}")
    return True


def record_state(db_path: Path, step: str, fingerprint_: str) -> None:
    """Store that `step` built its reference nodes with these definitions."""
    with duckdb.connect(str(db_path)) as con:
        con.execute("begin")
        con.execute(f"create schema if not exists {STATE_SCHEMA}")
        con.execute(
            f"create table if not exists {STATE_TABLE} "
            "(step varchar not null, fingerprint varchar not null, built_at_utc timestamp not null)"
        )
        con.execute(f"delete from {STATE_TABLE} where step = ?", [step])
        con.execute(
            f"insert into {STATE_TABLE} values (?, ?, ?)",
            [step, fingerprint_, dt.datetime.now(dt.UTC).replace(tzinfo=None)],
        )
        con.execute("commit")
