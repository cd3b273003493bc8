"""A console logger that shows a run as one line per step, materialization and failure.

Dagster's default console logger prints every engine event; on a long backfill an
operator wants to see which asset is running, what it wrote, and what failed.
"""


from __future__ import annotations

import logging
import time

import dagster as dg
from dagster._core.log_manager import get_log_record_metadata, has_log_record_metadata
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from margin_wh.durations import format_duration

_console = Console(stderr=True, highlight=False)


class _ProgressHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self._shown: set[tuple[str, str]] = set()  # a ranged run reports each partition

    def emit(self, record: logging.LogRecord) -> None:
        if not has_log_record_metadata(record):
            return
        meta = get_log_record_metadata(record)
        event = meta.get("dagster_event")
        step = meta.get("step_key") or ""
        if event is None:
            # dbt's own log lines (one per model and test) stay in the run's logs in the
            # UI; here a dbt step shows its materializations, and warnings.
            threshold = logging.WARNING if step.startswith("dbt_") else logging.INFO
            if record.levelno >= threshold and step:
                _console.print(f"  [dim]{step}[/]: {meta['orig_message']}")
            return
        kind = event.event_type_value
        if kind == "STEP_START":
            _console.print(f"[bold]▶ {step}[/]")
        elif kind == "ASSET_MATERIALIZATION":
            mat = event.step_materialization_data.materialization
            seen = (meta.get("run_id") or "", mat.asset_key.to_user_string())
            if seen in self._shown:
                return
            self._shown.add(seen)
            md = mat.metadata
            facts = [f"{k}={md[k].value}" for k in ("rows_written", "date_range", "calls") if k in md]
            _console.print(f"  [green]✓[/] {seen[1]} {' '.join(facts)}", soft_wrap=True)
        elif kind == "ASSET_CHECK_EVALUATION":
            data = event.event_specific_data
            if not data.passed:
                _console.print(
                    f"  [red]✗ check {data.asset_key.to_user_string()}:{data.check_name} failed[/]"
                )
        elif kind == "STEP_FAILURE":
            _console.print(f"[red]✗ {step} failed[/]: {event.event_specific_data.error.message.strip()}")
        elif kind in ("RUN_SUCCESS", "RUN_FAILURE"):
            colour = "green" if kind == "RUN_SUCCESS" else "red"
            _console.print(f"[{colour}]{kind.replace('_', ' ').lower()}[/] ({meta.get('job_name')})")


@dg.logger(description="One line per step, materialization and failure (rich).")
def progress_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.getLogger("margin_wh.progress")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    if not logger.handlers:
        logger.addHandler(_ProgressHandler())
    return logger


QUIET_FOR_S = 30  # no progress line in the run's log before a dataset has run this long


class CallProgress:
    """One dataset's calls as they are made: a bar with the ETA on a terminal (rich), and a
    line in the run's log every tenth of the way, so the Dagster UI shows it too."""

    def __init__(self, log: logging.Logger | dg.DagsterLogManager, function: str, total: int):
        self._log, self._function, self._total = log, function, total
        self._done = 0
        self._started = time.monotonic()
        self._next_log = max(1, total // 10)
        self._bar: Progress | None = None
        self._task = None

    def __enter__(self) -> CallProgress:
        if self._total > 1 and _console.is_terminal:
            self._bar = Progress(
                TextColumn("  {task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                console=_console, transient=True,
            )  # fmt: skip
            self._bar.start()
            self._task = self._bar.add_task(self._function, total=self._total)
        return self

    def advance(self, _request: object = None) -> None:
        self._done += 1
        if self._bar is not None:
            self._bar.advance(self._task)
        if self._done >= self._next_log and self._done < self._total:
            self._next_log += max(1, self._total // 10)
            elapsed = time.monotonic() - self._started
            if elapsed < QUIET_FOR_S:
                return  # a quick load (the demo, a daily run) needs no progress lines
            eta = elapsed / self._done * (self._total - self._done)
            self._log.info(
                f"{self._function}: {self._done} of {self._total} calls made, "
                f"about {format_duration(eta)} left"
            )

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
