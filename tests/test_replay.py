"""`margin-wh replay` on a warehouse the project's own refreshes built: every raw table
rebuilt from the landing zone row for row, or, when one cannot be, every table as it was."""

from __future__ import annotations

import shutil

import duckdb
import pytest
from conftest import TEST_DEMO_END, TEST_HISTORY_START, TEST_SECURITIES, sorted_table

from margin_wh import cli
from margin_wh.raw import landing
from margin_wh.sources.datasets import DATASETS


@pytest.fixture
def copy(warehouse, tmp_path, monkeypatch):
    """The session warehouse and its landing zone, copied, with the CLI's environment."""
    source = warehouse.settings
    shutil.copy2(source.db_path, tmp_path / "warehouse.duckdb")
    shutil.copytree(source.landing_dir, tmp_path / "landing")
    env = {
        "MARGIN_WH_DB": str(tmp_path / "warehouse.duckdb"),
        "MARGIN_WH_LANDING": str(tmp_path / "landing"),
        "MARGIN_WH_PUBLISH": str(tmp_path / "published"),
        "MARGIN_WH_SOURCE": "demo",
        "MARGIN_WH_HISTORY_START": TEST_HISTORY_START.isoformat(),
        "MARGIN_WH_DEMO_END": TEST_DEMO_END.isoformat(),
        "MARGIN_WH_DEMO_SECURITIES": str(TEST_SECURITIES),
        "DAGSTER_HOME": str(tmp_path / "dagster"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return tmp_path


def raw_tables(root) -> dict:
    return {f: sorted_table(root / "warehouse.duckdb", f"raw.{f}") for f in DATASETS}


def test_replay_rebuilds_every_raw_table_of_a_refreshed_warehouse_row_for_row(copy, capsys):
    before = raw_tables(copy)
    assert cli.main(["replay"]) == 0
    out = capsys.readouterr().out
    assert all(f"raw.{f}:" in out for f in DATASETS)
    after = raw_tables(copy)
    for function in DATASETS:
        assert after[function].equals(before[function]), function


def test_a_replay_that_cannot_rebuild_one_table_changes_none(copy):
    """One landed frame broken (a renamed column) refuses the replay: the tables it had
    already rebuilt are rolled back with it, and the error names the table."""
    before = raw_tables(copy)
    with duckdb.connect(str(copy / "warehouse.duckdb")) as con:  # a difference replay would undo
        con.execute('update raw.stock_margin_sse set "融资余额" = 0')
    before["stock_margin_sse"] = raw_tables(copy)["stock_margin_sse"]
    victim = landing.landed_files(copy / "landing", "stock_zh_index_daily")[0]
    frame = landing.read_landed(victim)
    landing.write_pending(copy / "landing", frame.function, frame.kwargs,
                          frame.frame.rename(columns={"close": "收盘"}), frame.source,
                          frame.fetched_at, frame.window, name=None)  # fmt: skip
    pending = next((copy / "landing" / frame.function).glob(".*.pending"))
    pending.replace(victim)

    with pytest.raises(Exception) as error:
        cli.main(["replay"])
    assert "raw.stock_zh_index_daily" in "".join(getattr(error.value, "__notes__", []))
    assert "every raw table is left as it was" in "".join(error.value.__notes__)
    after = raw_tables(copy)
    for function in DATASETS:
        assert after[function].equals(before[function]), function
