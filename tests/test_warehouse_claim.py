"""One writer of the warehouse for the whole length of a run (orchestration/
warehouse_claim.py), the process in the way named at once, and the failed steps named by
what failed and why."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
import threading
import time

import dagster as dg
import duckdb
import pytest
from conftest import make_settings

from margin_wh.sources import get_source
from orchestration.assets.dbt import failed_nodes
from orchestration.definitions import build_definitions
from orchestration.runner import RefreshError, refresh
from orchestration.warehouse_claim import WarehouseBusyError, claim_warehouse

HOLD_CLAIM = (
    "import sys\n"
    "from orchestration.warehouse_claim import claim_warehouse\n"
    "with claim_warehouse(sys.argv[1], run_id='run-of-the-other-process'):\n"
    "    print('claimed', flush=True)\n"
    "    sys.stdin.readline()\n"
)


def test_the_claim_is_one_process_at_a_time_reentrant_in_it_and_dies_with_its_holder(tmp_path):
    db_path = tmp_path / "warehouse.duckdb"
    other = subprocess.Popen([sys.executable, "-c", HOLD_CLAIM, str(db_path)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert other.stdout.readline().strip() == "claimed"
        started = time.monotonic()
        with pytest.raises(WarehouseBusyError) as error:
            with claim_warehouse(db_path):
                pass
        assert time.monotonic() - started < 1
        assert f"run run-of-the-other-process of process {other.pid}" in str(error.value)
        assert "Wait for that run to end" in str(error.value)
    finally:
        other.send_signal(signal.SIGKILL)  # no clean exit: the OS drops its lock
        other.wait()
    with claim_warehouse(db_path, run_id="first"):
        with claim_warehouse(db_path, run_id="second"):  # this process's next run
            assert '"run_id": "second"' in (tmp_path / "warehouse.duckdb.claim").read_text()
        assert '"run_id": "first"' in (tmp_path / "warehouse.duckdb.claim").read_text()
        probe = subprocess.run([sys.executable, "-c", HOLD_CLAIM, str(db_path)], input="\n",
                               capture_output=True, text=True, timeout=60)  # fmt: skip
        assert probe.returncode != 0 and "WarehouseBusyError" in probe.stderr
    probe = subprocess.run([sys.executable, "-c", HOLD_CLAIM, str(db_path)], input="\n",
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert probe.returncode == 0, probe.stderr  # released when the outer block ended


# Polls until the run lets go of the warehouse between two steps, then keeps it open
# read-only, as a BI tool pointed at the warehouse instead of the snapshot does.
READER = (
    "import duckdb, sys, time\n"
    "while True:\n"
    "    try:\n"
    "        con = duckdb.connect(sys.argv[1], read_only=True)\n"
    "        break\n"
    "    except duckdb.IOException:\n"
    "        time.sleep(0.01)\n"
    "print('open', flush=True)\n"
    "sys.stdin.readline()\n"
)


class ReaderArrives:
    """The demo source; at the first call of `function` (inside its raw step, the
    warehouse open) a reader process starts, and opens the warehouse as soon as the
    step closes it."""

    def __init__(self, inner, db_path, function: str):
        self.inner, self.name, self.db_path, self.function = inner, inner.name, db_path, function
        self.reader: subprocess.Popen | None = None
        self.opened_at: float | None = None

    def _watch(self) -> None:
        if self.reader.stdout.readline().strip() == "open":
            self.opened_at = time.monotonic()

    def call(self, function, **kwargs):
        if function == self.function and self.reader is None:
            self.reader = subprocess.Popen([sys.executable, "-c", READER, str(self.db_path)],
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
            threading.Thread(target=self._watch, daemon=True).start()
        return self.inner.call(function, **kwargs)

    def can_snapshot(self, day, calendar):
        return self.inner.can_snapshot(day, calendar)

    def snapshot(self, function, day):
        return self.inner.snapshot(function, day)


def test_a_reader_opening_the_warehouse_mid_run_is_named_within_seconds(tmp_path, monkeypatch):
    settings = make_settings(tmp_path)
    source = ReaderArrives(get_source(settings), settings.db_path, "futures_hist_daily_cffex")
    monkeypatch.setattr("margin_wh.sources._demo_source", lambda *a: source)
    try:
        with pytest.raises(RefreshError) as error:
            refresh(settings, dt.date(2024, 7, 8), dt.date(2024, 7, 9), dg.DagsterInstance.ephemeral(),
                    defs=build_definitions(settings), publish=False)  # fmt: skip
        named_after_s = time.monotonic() - source.opened_at
    finally:
        if source.reader is not None:
            source.reader.communicate("\n", timeout=60)
    message = str(error.value)
    assert f"held by process {source.reader.pid}" in message, message
    assert "a reader" in message and "margin_warehouse.duckdb" in message
    # named by the step that could not open it, at once: not after a silent retry of
    # about a hundred seconds (dagster-duckdb's), nor once per later step
    assert named_after_s < 15, named_after_s
    assert message.count("held by process") == 1


def test_dbts_failed_nodes_are_named_by_the_model_they_concern():
    manifest = {"nodes": {
        "model.p.fct_basis": {"name": "fct_basis", "resource_type": "model"},
        "model.p.fct_flow": {"name": "fct_flow", "resource_type": "model"},
        "test.p.grain": {"name": "primary_key_fct_flow", "resource_type": "test",
                         "attached_node": "model.p.fct_flow"},
        "test.p.range": {"name": "accepted_range_fct_flow", "resource_type": "test",
                         "attached_node": "model.p.fct_flow"},
        "model.p.fct_on_flow": {"name": "fct_on_flow", "resource_type": "model"},
    }}  # fmt: skip
    results = {"results": [
        {"unique_id": "model.p.fct_basis", "status": "error",
         "message": "Runtime Error in model fct_basis\n  Constraint Error: CHECK constraint failed"},
        {"unique_id": "model.p.fct_flow", "status": "success", "message": "OK"},
        {"unique_id": "test.p.grain", "status": "fail", "message": "Got 2 results, configured to fail if != 0"},
        {"unique_id": "test.p.range", "status": "warn", "message": "Got 1 result"},
        {"unique_id": "model.p.fct_on_flow", "status": "skipped", "message": None},
    ]}  # fmt: skip
    assert failed_nodes(results, manifest) == [
        "fct_basis: Runtime Error in model fct_basis Constraint Error: CHECK constraint failed",
        "fct_flow: test primary_key_fct_flow failed: Got 2 results, configured to fail if != 0",
        "(dbt skipped what depends on them: 1 model(s); skipped models keep their last good state)",
    ]
    assert failed_nodes({"results": [results["results"][1]]}, manifest) == []


# Opens the warehouse as argv[2] says (read-only or read-write, as a notebook would) and
# keeps it open until told.
HOLDER = (
    "import duckdb, sys\n"
    "con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == 'read_only')\n"
    "print('open', flush=True)\n"
    "sys.stdin.readline()\n"
)


@pytest.mark.parametrize("mode", ["read_only", "read_write"])
def test_the_holder_is_called_a_reader_only_when_it_reads(tmp_path, mode):
    from orchestration.warehouse_claim import wait_for_warehouse

    db_path = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(db_path)).close()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(db_path), mode],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(WarehouseBusyError) as error:
            wait_for_warehouse(db_path, tmp_path / "snapshot.duckdb", wait_for_dbt_s=0)
    finally:
        holder.communicate("\n", timeout=60)
    message = str(error.value)
    assert f"held by process {holder.pid}" in message
    if mode == "read_only":
        assert "a reader, e.g. a BI tool" in message and "read-write" not in message
    else:
        assert "a reader" not in message and "a read-write connection" in message
