"""Shared fixtures: a small demo warehouse built once per session through the real
Definitions, in a temporary directory (never the user's data/)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from margin_wh.config import Settings

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


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory) -> Warehouse:
    """Demo warehouse refreshed over July 2024 (raw + every dbt model), once."""
    from orchestration.definitions import build_definitions
    from orchestration.runner import refresh

    settings = make_settings(tmp_path_factory.mktemp("warehouse"))
    instance = dg.DagsterInstance.ephemeral()
    defs = build_definitions(settings)
    result = refresh(settings, dt.date(2024, 6, 3), dt.date(2024, 7, 31), instance, defs=defs)
    return Warehouse(settings, instance, defs, result.first_day, result.last_day)
