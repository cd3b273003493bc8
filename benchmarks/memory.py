"""Peak resident memory of a process tree, sampled from /proc in a thread (no psutil).

`with TreeMemory(pid) as mem: ...` then `mem.peak_bytes`: the highest sum of the RSS of
`pid` and every descendant seen at one sample (every `interval` seconds). The sum counts
shared pages once per process, so it errs on the high side; a process that lives
shorter than the interval may be missed.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

_PAGE = os.sysconf("SC_PAGE_SIZE")


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses
        fields = stat[stat.rindex(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def tree_pids(root: int) -> list[int]:
    children = _children_map()
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(children.get(pid, []))
    return pids


def rss_bytes(pid: int) -> int:
    try:
        resident = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return resident * _PAGE


def tree_rss_bytes(root: int) -> int:
    return sum(rss_bytes(pid) for pid in tree_pids(root))


class TreeMemory:
    """Sample the RSS of a process tree until stopped; keep the peak and the start."""

    def __init__(self, root: int | None = None, interval: float = 0.1):
        self.root = root if root is not None else os.getpid()
        self.interval = interval
        self.start_bytes = 0
        self.peak_bytes = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def set_root(self, pid: int) -> None:
        self.root = pid

    def _sample(self) -> None:
        value = tree_rss_bytes(self.root)
        self.peak_bytes = max(self.peak_bytes, value)
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> TreeMemory:
        self.start_bytes = tree_rss_bytes(self.root)
        self.peak_bytes = self.start_bytes
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
