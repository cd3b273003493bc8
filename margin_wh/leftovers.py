"""What a process killed half-way leaves behind, and removing it.

Every temporary file is named with the process that writes it
(`.date=20240710.parquet.<pid>.pending` in the landing zone,
`.warehouse_snapshot.<pid>.tmp.duckdb` in the publication): once that process is gone,
nothing will finish or rename the file, and the next run removes it. Files without a
process in their name are removed once they are old enough not to belong to a run still
going.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

# ".<pid>.pending", ".<pid>.tmp", ".<pid>.tmp.duckdb", ".<pid>.tmp.duckdb.wal", ...
_OWNER = re.compile(r"\.(\d+)\.(?:pending|tmp)")


def owner_pid(path: Path) -> int | None:
    match = _OWNER.search(path.name)
    return int(match.group(1)) if match else None


def process_is_gone(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def remove_leftovers(directory: Path, pattern: str, older_than_s: float | None = None) -> int:
    """Delete the files or directories matching `pattern` in `directory` whose writing
    process is gone, or (without a process in the name) older than `older_than_s`."""
    removed = 0
    now = time.time()
    for leftover in Path(directory).glob(pattern):
        try:
            pid = owner_pid(leftover)
            if pid is not None:
                if not process_is_gone(pid):
                    continue
            elif older_than_s is None or now - leftover.stat().st_mtime < older_than_s:
                continue
            if leftover.is_dir():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
            removed += 1
        except FileNotFoundError:
            continue
    return removed
