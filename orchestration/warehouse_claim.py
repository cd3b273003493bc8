"""One writer of the warehouse at a time, for the whole length of a run, and the process
in the way named at once.

DuckDB lets one process write a file (or several read it), and only while it has the file
open: a run's steps open and close the warehouse one after another, so DuckDB's own lock
cannot keep a second run from writing between two steps of the first. A run therefore
claims the warehouse with an OS lock (`flock`) on a file beside it, `<warehouse>.claim`,
from its first step to its end. The OS drops the lock with the process that holds it,
however it ends (a kill, a power cut), so a claim is never left behind; the file keeps
who holds it (process, command line, run), for the message a second run gets.

A process that holds the warehouse file itself (a notebook, a BI tool, the dbt build of a
killed refresh, which finishes on its own) is named from DuckDB's lock error.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb


class WarehouseBusyError(RuntimeError):
    """Another process holds the warehouse (its claim, or the file itself)."""


def claim_path(db_path: Path) -> Path:
    return Path(db_path).with_name(Path(db_path).name + ".claim")


def _command_of(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip() or None
    except OSError:
        return None


def describe_holder(record: Mapping[str, object] | None) -> str:
    """Who holds a claim, from the record it wrote into the claim file."""
    if not record:
        return "a process that has not written its name yet (it has only just started)"
    run = f"run {record['run_id']} of " if record.get("run_id") else ""
    return (
        f"{run}process {record.get('pid')} on {record.get('host')} "
        f"({record.get('command')}), since {record.get('since')}"
    )


def busy_message(db_path: Path, record: Mapping[str, object] | None) -> str:
    return (
        f"the warehouse {db_path} is being written by {describe_holder(record)}: one run "
        "writes it at a time, from its first step to its last. Wait for that run to end (the "
        "Dagster UI's Runs page shows it), then start again"
    )


def _read_record(text: str) -> dict | None:
    try:
        record = json.loads(text)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


@dataclass
class _Claim:
    file: object
    depth: int
    record: dict


# The claims this process holds, by warehouse path: a process re-enters its own claim (a
# refresh's runs one after another, a run's steps), never waits on it.
_held: dict[str, _Claim] = {}
_guard = threading.Lock()


def _write_record(claim: _Claim) -> None:
    claim.file.seek(0)
    claim.file.truncate()
    claim.file.write(json.dumps(claim.record))
    claim.file.flush()


def holds_claim(db_path: Path) -> bool:
    """Whether this process already holds the warehouse's claim."""
    return str(Path(db_path).absolute()) in _held


@contextlib.contextmanager
def claim_warehouse(db_path: Path, run_id: str | None = None) -> Iterator[None]:
    """Hold the warehouse's claim within the block, or fail at once with
    WarehouseBusyError naming the run and process holding it. Re-entrant in one process;
    `run_id` names the run the claim is held for, while the block lasts."""
    key = str(Path(db_path).absolute())
    with _guard:
        claim = _held.get(key)
        if claim is None:
            # "a+": the holder's record is read, never truncated, before the lock is ours
            file = open(claim_path(db_path), "a+")  # noqa: SIM115 (held past this block)
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                file.seek(0)
                record = _read_record(file.read())
                file.close()
                raise WarehouseBusyError(busy_message(Path(db_path), record)) from None
            record = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "command": _command_of(os.getpid()) or " ".join(sys.argv),
                "run_id": None,
                "since": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            }
            claim = _held[key] = _Claim(file, 0, record)
        claim.depth += 1
        previous_run = claim.record["run_id"]
        if run_id:
            claim.record["run_id"] = run_id
            _write_record(claim)
        elif claim.depth == 1:
            _write_record(claim)
    try:
        yield
    finally:
        with _guard:
            claim.depth -= 1
            if claim.depth == 0:
                del _held[key]
                fcntl.flock(claim.file, fcntl.LOCK_UN)
                claim.file.close()
            elif run_id:
                claim.record["run_id"] = previous_run
                _write_record(claim)


_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")


def lock_holder(message: str) -> tuple[int, str] | None:
    """(PID, command line) of the process DuckDB names as holding the warehouse's lock."""
    match = _LOCK_HOLDER.search(message)
    if not match:
        return None
    pid = int(match["pid"])
    return pid, _command_of(pid) or match["program"]


def holder_writes(db_path: Path) -> bool | None:
    """Whether the process holding the warehouse holds it read-write: DuckDB lets readers
    share the file with other readers, never with a writer, so a read-only open that
    succeeds says the holder only reads. None when it cannot tell (no such file)."""
    if not Path(db_path).exists():
        return None
    try:
        duckdb.connect(str(db_path), read_only=True).close()
        return False
    except duckdb.IOException as error:
        return True if lock_holder(str(error)) else None


def holder_advice(command: str, snapshot: Path, writes: bool | None = None) -> str:
    """What the process holding the warehouse is, from its command line and whether it
    holds the file read-write (`writes`, holder_writes), and what to do (`snapshot`: the
    published snapshot readers should open instead)."""
    words = command.split()
    programs = {Path(word).name for word in words[:2]}  # `dbt …` or `python …/bin/dbt …`
    if "dbt" in programs:
        return (
            "a dbt build, of a refresh's dbt step (it finishes even when the refresh's own "
            "process was killed) or of `margin-wh dbt`: wait for it to finish"
        )
    if any(name in command for name in ("margin-wh", "margin_wh", "dagster")):
        return "another refresh (or the Dagster UI running one): wait for it to finish"
    if writes:
        return (
            "a process with a read-write connection to it (a notebook or a script, not a "
            "read-only reader): close that connection; to read, open the published snapshot "
            f"{snapshot}, which never blocks a refresh, or the warehouse with read_only=True "
            "between refreshes"
        )
    return (
        "a reader, e.g. a BI tool or a notebook: readers should open the published "
        f"snapshot {snapshot}, which never blocks a refresh; close it on the warehouse"
    )


def held_message(db_path: Path, holder: tuple[int, str], snapshot: Path, then: str) -> str:
    pid, command = holder
    advice = holder_advice(command, snapshot, holder_writes(db_path))
    return f"the warehouse {db_path} is held by process {pid} ({command}): {advice}, {then}"


# A reader that opens the warehouse for a moment (a query, a schema listing) is let go
# by itself; one that keeps it open is named when this has passed.
HOLDER_GRACE_S = 2.0


def open_warehouse(
    db_path: Path,
    snapshot: Path,
    config: Mapping[str, object] | None = None,
    grace_s: float = HOLDER_GRACE_S,
) -> duckdb.DuckDBPyConnection:
    """A read-write connection to the warehouse, or WarehouseBusyError naming the process
    that holds the file and what to do, once `grace_s` has passed (not after a long
    silent retry ending in DuckDB's bare lock error)."""
    deadline = time.monotonic() + grace_s
    while True:
        try:
            return duckdb.connect(str(db_path), config=dict(config or {}))
        except duckdb.IOException as error:
            holder = lock_holder(str(error))
            if holder is None:
                raise
            if time.monotonic() >= deadline:
                raise WarehouseBusyError(
                    held_message(db_path, holder, snapshot, "then run the step again")
                ) from None
            time.sleep(0.1)


# A killed refresh's dbt step finishes on its own, usually within minutes: a run started
# meanwhile waits for it (saying so) this long before giving up.
WAIT_FOR_DBT_S = 900


def wait_for_warehouse(db_path: Path, snapshot: Path, wait_for_dbt_s: float = WAIT_FOR_DBT_S, say=print) -> None:
    """Fail at once, naming the holder, when another process holds the warehouse file. A
    dbt build holding it (the dbt step of a killed refresh) is waited for, with a
    message, up to `wait_for_dbt_s`."""
    if not Path(db_path).exists():
        return
    deadline = time.monotonic() + wait_for_dbt_s
    said = None
    while True:
        try:
            duckdb.connect(str(db_path)).close()
            return
        except duckdb.IOException as error:
            holder = lock_holder(str(error))
            if holder is None:
                raise
            pid, command = holder
            what = holder_advice(command, snapshot, holder_writes(db_path))
            if not what.startswith("a dbt build") or time.monotonic() > deadline:
                raise WarehouseBusyError(
                    held_message(db_path, holder, snapshot, "then run the refresh again")
                ) from None
            if said != pid:
                say(f"waiting for process {pid} ({command}), {what} (at most {wait_for_dbt_s / 60:.0f} min)")
                said = pid
            time.sleep(1)
