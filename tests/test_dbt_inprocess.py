"""Housekeeping of the in-process dbt runner (orchestration/dbt_inprocess.py)."""

from __future__ import annotations

import os
from pathlib import Path

from orchestration.dbt_inprocess import prune_step_targets


def _step_dir(root, name, mtime):
    path = root / name
    path.mkdir()
    (path / "manifest.json").write_text("{}")
    os.utime(path, (mtime, mtime))
    return path


def test_prune_keeps_the_newest_targets_of_each_step_and_nothing_else(tmp_path):
    upstream = [_step_dir(tmp_path, f"dbt_upstream-{i:07x}-abcdef{i}", 1000 + i) for i in range(5)]
    marts = [_step_dir(tmp_path, f"dbt_daily_marts-{i:07x}", 2000 + i) for i in range(3)]
    # dbt's own artifacts and the in-process parse live beside them and must survive
    (tmp_path / "inprocess").mkdir()
    (tmp_path / "compiled").mkdir()
    (tmp_path / "manifest.json").write_text("{}")
    (tmp_path / "dbt_upstream-not-a-step").mkdir()

    removed = prune_step_targets(tmp_path, keep=2)

    assert sorted(removed) == sorted(upstream[:3] + marts[:1])
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(
        [p.name for p in upstream[3:] + marts[1:]]
        + ["inprocess", "compiled", "manifest.json", "dbt_upstream-not-a-step"]
    )


def test_prune_of_a_missing_target_directory_removes_nothing(tmp_path):
    assert prune_step_targets(tmp_path / "target", keep=3) == []


def test_each_dbt_step_leaves_its_run_results_and_log(warehouse):
    """dbt runs with --no-write-json (no manifest per step); run_results.json is written by
    stream_dbt instead: the benchmark and anyone debugging a step read it."""
    import json

    from orchestration.assets.dbt import DBT_PROJECT, DBT_STEPS

    root = Path(DBT_PROJECT.project_dir) / "target"
    runs = {run.run_id[:7] for run in warehouse.instance.get_runs()}  # this session's
    for step in DBT_STEPS:
        ours = [p for p in root.glob(f"{step}-*") if p.name.split("-")[1] in runs]
        assert ours, step
        newest = max(ours, key=lambda p: p.stat().st_mtime)
        results = json.loads((newest / "run_results.json").read_text())["results"]
        assert results, step
        assert not {r["status"] for r in results} & {"error", "fail", "skipped"}, step
        assert (newest / "dbt.log").stat().st_size > 0, step
        assert not (newest / "manifest.json").exists(), step


def test_debug_log_masks_secrets_and_leaves_out_cache_events(tmp_path, monkeypatch):
    from dbt.adapters.events.types import CacheAction
    from dbt_common.events.base_types import EventLevel, msg_from_base_event
    from dbt_common.events.types import Note

    from orchestration.dbt_inprocess import write_debug_log

    monkeypatch.setenv("DBT_ENV_SECRET_TOKEN", "s3cret")
    messages = [
        msg_from_base_event(Note(msg="attach 'md:?token=s3cret'"), level=EventLevel.DEBUG),
        msg_from_base_event(CacheAction(action="add_relation"), level=EventLevel.DEBUG),
        msg_from_base_event(Note(msg="1 of 2 OK created view"), level=EventLevel.INFO),
    ]
    log = tmp_path / "step" / "dbt.log"
    write_debug_log(log, messages)
    lines = log.read_text().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("[debug] [MainThread]: attach 'md:?token=*****'")
    assert lines[1].endswith("[info ] [MainThread]: 1 of 2 OK created view")
