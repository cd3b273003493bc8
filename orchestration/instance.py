"""The Dagster instance the CLI and `dagster dev` share (DAGSTER_HOME)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg

from margin_wh.config import REPO_ROOT

INSTANCE_TEMPLATE = Path(__file__).with_name("dagster.yaml")


def dagster_home() -> Path:
    """DAGSTER_HOME, defaulting to .dagster_home in the repo, with our dagster.yaml."""
    home = Path(os.environ.get("DAGSTER_HOME") or REPO_ROOT / ".dagster_home").absolute()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(INSTANCE_TEMPLATE, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def get_instance() -> dg.DagsterInstance:
    dagster_home()
    return dg.DagsterInstance.get()
