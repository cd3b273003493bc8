"""A console logger that shows a run as one line per step, materialization and failure.

Dagster's default console logger prints every engine event; on a long backfill an
operator wants to see which asset is running, what it wrote, and what failed.
"""


from __future__ import annotations

import logging
import time

import dagster as dg
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
    """A line when a step starts; a line per raw dataset it wrote; one line for a dbt step
    (what it built and tested, the marts' last day); failures in full; a warning once."""

    def __init__(self) -> None:
        super().__init__()
        self._shown: set[tuple[str, str]] = set()  # a ranged run reports each partition
        self._warned: set[str] = set()
        self._dbt: dict[str, list] = {}  # dbt step -> [assets built, checks, failed checks, last day]

    def emit(self, record: logging.LogRecord) -> None:
        # A custom logger receives Dagster's structured facts of each record (its run,
        # step and event) as the record's `dagster_meta` attribute.
        meta = getattr(record, "dagster_meta", None)
        if not isinstance(meta, dict):
            return
        event = meta.get("dagster_event")
        step = meta.get("step_key") or ""
        if event is None:
            # dbt's own log lines (one per model and test) stay in the run's logs in the
            # UI; here a dbt step shows its summary, and warnings, each once.
            threshold = logging.WARNING if step.startswith("dbt_") else logging.INFO
            message = str(meta.get("orig_message", ""))
            if record.levelno >= threshold and step and message not in self._warned:
                self._warned.add(message)
                _console.print(f"  [dim]{step}[/]: {message}", soft_wrap=True)
            return
        kind = event.event_type_value
        dbt = self._dbt.setdefault(step, [0, 0, 0, None]) if step.startswith("dbt_") else None
        if kind == "STEP_START":
            _console.print(f"[bold]▶ {step}[/]")
        elif kind == "ASSET_MATERIALIZATION":
            mat = event.step_materialization_data.materialization
            seen = (meta.get("run_id") or "", mat.asset_key.to_user_string())
            if seen in self._shown:
                return
            self._shown.add(seen)
            md = mat.metadata
            if dbt is not None:
                dbt[0] += 1
                if "last_trade_date" in md:
                    dbt[3] = max(dbt[3] or "", md["last_trade_date"].value)
                return
            facts = [f"{k}={md[k].value}" for k in ("rows_written", "date_range", "calls") if k in md]
            _console.print(f"  [green]✓[/] {seen[1]} {' '.join(facts)}", soft_wrap=True)
        elif kind == "ASSET_CHECK_EVALUATION":
            data = event.event_specific_data
            if dbt is not None:
                dbt[1] += 1
                dbt[2] += not data.passed
            if not data.passed:
                _console.print(
                    f"  [red]✗ check {data.asset_key.to_user_string()}:{data.check_name} failed[/]",
                    soft_wrap=True,
                )
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE") and dbt is not None and dbt[0] + dbt[1]:
            built, checks, failed, last = self._dbt.pop(step)
            to = f"; marts to {last}" if last else ""
            mark = "[green]✓[/]" if kind == "STEP_SUCCESS" else "[red]·[/]"
            _console.print(f"  {mark} {step}: {built} models and seeds built, {checks - failed} of "
                           f"{checks} tests passed{to}", soft_wrap=True)  # fmt: skip
        if kind == "STEP_FAILURE":
            _console.print(f"[red]✗ {step} failed[/]: {event.event_specific_data.error.message.strip()}",
                           soft_wrap=True)  # fmt: skip
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
