"""A console logger that shows a run as one line per step, materialization and failure.

Dagster's default console logger prints every engine event; on a long backfill an
operator wants to see which asset is running, what it wrote, and what failed.
"""


import logging

import dagster as dg
from dagster._core.log_manager import get_log_record_metadata, has_log_record_metadata
from rich.console import Console

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
