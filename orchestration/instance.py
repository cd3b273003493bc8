"""The Dagster instance the CLI and `dagster dev` share (DAGSTER_HOME)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg
import yaml

from margin_wh.config import Settings

INSTANCE_TEMPLATE = Path(__file__).with_name("dagster.yaml")


STORAGE_KEYS = {"storage", "run_storage", "event_log_storage", "schedule_storage"}


def _ensure_config(home: Path) -> tuple[Path, dict]:
    """`home` with a dagster.yaml, and its settings: ours when it has none; one written
    before our storage setting (no storage configured: Dagster's default SQLite layout,
    which our storage reads as it is) gets that setting added, the rest left as it is."""
    home = Path(home).absolute()
    home.mkdir(parents=True, exist_ok=True)
    config_path = home / "dagster.yaml"
    if not config_path.exists():
        shutil.copy(INSTANCE_TEMPLATE, config_path)
    text = config_path.read_text()
    config = yaml.safe_load(text) or {}
    if not STORAGE_KEYS & set(config):
        config["storage"] = yaml.safe_load(INSTANCE_TEMPLATE.read_text())["storage"]
        note = "# storage added by margin-wh (orchestration/dagster.yaml)\n"
        storage = yaml.safe_dump({"storage": config["storage"]}, sort_keys=False)
        config_path.write_text(note + storage + text)
    return home, config


def dagster_home() -> Path:
    """DAGSTER_HOME, defaulting to the warehouse home's `dagster/` (MARGIN_WH_HOME), with
    our dagster.yaml: each warehouse keeps its own run history."""
    home, _ = _ensure_config(Settings.from_env().dagster_home)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def get_instance() -> dg.DagsterInstance:
    dagster_home()
    return dg.DagsterInstance.get()


def instance_at(home: Path) -> dg.DagsterInstance:
    """The persistent instance in `home` with our dagster.yaml, as `get_instance` makes it,
    without touching DAGSTER_HOME (the benchmark holds several)."""
    from dagster._core.instance.ref import InstanceRef

    home, config = _ensure_config(home)
    storage = (config.get("storage") or {}).get("custom")
    overrides = {}
    if storage and storage.get("config", {}).get("base_dir") == {"env": "DAGSTER_HOME"}:
        # the storage lives in this home, whatever DAGSTER_HOME says
        overrides["storage"] = {"custom": {**storage, "config": {"base_dir": str(home)}}}
    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home), overrides=overrides))
