"""Housekeeping of the in-process dbt runner (orchestration/dbt_inprocess.py)."""

from __future__ import annotations

import os

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
