"""The dbt step's handling of its dbt process (orchestration/assets/dbt.py)."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest

from orchestration.assets.dbt import _dbt_stopped_on_error


def test_an_error_while_reading_dbts_events_stops_the_dbt_process():
    """Nobody reads a dbt left running after an error in the step: it would block on its
    full output pipe and hold the warehouse file for ever."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        with pytest.raises(KeyError), _dbt_stopped_on_error(SimpleNamespace(process=process)):
            raise KeyError("model.margin_warehouse.fct_x")  # e.g. dagster-dbt meeting a node it does not know
        assert process.poll() is not None
    finally:
        process.kill()


def test_a_dbt_that_ended_is_left_as_it_is():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    with _dbt_stopped_on_error(SimpleNamespace(process=process)):
        pass
    assert process.returncode == 0
