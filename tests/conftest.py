"""Shared fixtures: a small demo warehouse built once per session through the real
Definitions, in a temporary directory (never the user's data/)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from margin_wh.config import Settings

# Fixtures that build a warehouse through real refreshes (each refresh costs its dbt
# processes): under pytest-xdist (`-n 2`, pyproject.toml) the tests sharing one run on
# one worker, so each is built once, while everything else is spread over both.
# Module and session fixtures that several tests share, each its own group: built once,
# not once per worker. A test of a fixture built on one of them (`day_refreshed_again`
# on `warehouse`) names both, and joins the group of the first here.
SHARED_WAREHOUSES = ("uninterrupted", "futures_outage", "both", "new_warehouse", "own_warehouse",
                     "warehouse", "switched", "bad_futures_row", "loaded", "default_market")  # fmt: skip
# The groups that take longest, longest first: xdist hands out work in collection order,
# so they start at once and the short tests fill in around them (the deployment's
# daemon test mostly waits for its runs).
LONGEST_FIRST = ("uninterrupted", "deployment", "warehouse", "season", "both", "futures_outage",
                 "bad_futures_row")


def _group(item) -> str | None:
    marker = item.get_closest_marker("xdist_group")
    return (marker.args[0] if marker.args else marker.kwargs.get("name")) if marker else None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        shared = [name for name in SHARED_WAREHOUSES if name in item.fixturenames]
        if shared and _group(item) is None:
            item.add_marker(pytest.mark.xdist_group(shared[0]))
    rank = {group: i for i, group in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(_group(item), len(LONGEST_FIRST)))  # stable


@pytest.fixture(scope="module", autouse=True)
def _live_dagster_instance_per_module():
    """Each test module starts with a live Dagster instance as the current one. Dagster
    keeps the definitions-state storage of the instance last entered in a context
    variable, which `materialize` and the definitions' repository read: a module that
    let its instance go would leave the next modules on the same worker a dead one
    ("Attempted to resolve undefined DagsterInstance weakref")."""
    with dg.DagsterInstance.ephemeral():
        yield


# A window around the 2024-07-11 policy event, small enough to build in seconds.
TEST_HISTORY_START = dt.date(2024, 5, 1)
TEST_DEMO_END = dt.date(2024, 8, 30)
TEST_SECURITIES = 80


def make_settings(root: Path, **overrides: str) -> Settings:
    env = {
        "MARGIN_WH_DB": str(root / "warehouse.duckdb"),
        "MARGIN_WH_LANDING": str(root / "landing"),
        "MARGIN_WH_PUBLISH": str(root / "published"),
        "MARGIN_WH_SOURCE": "demo",
        "MARGIN_WH_HISTORY_START": TEST_HISTORY_START.isoformat(),
        "MARGIN_WH_DEMO_END": TEST_DEMO_END.isoformat(),
        "MARGIN_WH_DEMO_SECURITIES": str(TEST_SECURITIES),
        **overrides,
    }
    settings = Settings.from_env(env)
    settings.ensure_dirs()
    return settings


@pytest.fixture
def settings_factory(tmp_path):
    """Settings for a fresh demo warehouse under a temporary directory."""
    return lambda **overrides: make_settings(tmp_path, **overrides)


@dataclass
class Warehouse:
    settings: Settings
    instance: dg.DagsterInstance
    defs: dg.Definitions
    first_day: dt.date
    last_day: dt.date
    run_ids: tuple[str, ...]  # the fixture's refresh: its calendar run, then the range


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory) -> Warehouse:
    """Demo warehouse refreshed over July 2024 (raw + every dbt model), once."""
    from orchestration.definitions import build_definitions
    from orchestration.runner import refresh

    settings = make_settings(tmp_path_factory.mktemp("warehouse"))
    instance = dg.DagsterInstance.ephemeral()
    defs = build_definitions(settings)
    result = refresh(settings, dt.date(2024, 6, 3), dt.date(2024, 7, 31), instance, defs=defs)
    return Warehouse(settings, instance, defs, result.first_day, result.last_day, result.run_ids)


def sorted_table(db_path: Path, name: str, exclude: tuple[str, ...] = ()) -> pd.DataFrame:
    """A table's rows in a canonical order (every column sorted), `exclude` left out."""
    columns = f"* exclude ({', '.join(exclude)})" if exclude else "*"
    with duckdb.connect(str(db_path), read_only=True) as con:
        frame = con.execute(f"select {columns} from {name}").df()
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


@dataclass
class DayRefreshedAgain:
    """A day inside the session warehouse's window (the trading day before its last)
    refreshed again as a one-day run, publication included, as an operator re-runs a
    day: with every mart and one raw table as they were before."""

    day: dt.date
    result: object  # orchestration.runner.RefreshResult
    before: dict[str, pd.DataFrame]


@pytest.fixture(scope="session")
def day_refreshed_again(warehouse) -> DayRefreshedAgain:
    """One daily run on the session warehouse, shared by the tests of what a daily run
    rebuilds and what it must leave as it was (each such run costs its dbt processes)."""
    from margin_wh.raw.landed_calendar import load_calendar
    from orchestration.runner import refresh

    with duckdb.connect(str(warehouse.settings.db_path), read_only=True) as con:
        marts = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'"
        ).fetchall()]  # fmt: skip
    names = [f"marts.{m}" for m in marts] + ["raw.stock_margin_detail_szse"]
    before = {
        name: sorted_table(warehouse.settings.db_path, name, ("_fetched_at",) if name.startswith("raw.") else ())
        for name in names
    }  # fmt: skip
    # a day with a later day after it: rebuilding it must leave the later day alone
    day = max(d for d in load_calendar(warehouse.settings.landing_dir) if d < warehouse.last_day)
    result = refresh(warehouse.settings, day, day, warehouse.instance, defs=warehouse.defs)
    return DayRefreshedAgain(day, result, before)
