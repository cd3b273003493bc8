"""dbt run inside the Dagster process, on a manifest parsed once per process.

dagster-dbt's `DbtCliResource.cli` starts a `dbt` subprocess for every invocation: a new
interpreter that imports dbt and re-parses the project (in full when `--vars` changed,
which the run window does every day). At ten years of full-market history that was
~2.5 s of start-up and up to 2.8 s of parse for each of the three dbt steps of a one-day
refresh (BENCHMARKS.md). Here dbt's own programmatic entry point, `dbtRunner`, runs in
the step's process with the parsed `Manifest` passed in, so dbt neither starts nor parses
again; its structured events go through dagster-dbt's own translation
(`DbtCoreCliEventMessage.to_default_asset_events`), so the assets, checks and metadata
are the same as with the subprocess.

dbt's run-time state is global: one invocation at a time per process. The writer pool
(`duckdb_writer`, limit 1) already guarantees that for everything that writes.

dbt's own loggers and artifacts cost the daily-marts step about half a second on the
benchmark's tiny market (2.33 -> 2.00 s for the file log, ~0.2 s more for the rest;
BENCHMARKS.md): its
console logger formatted and scrubbed every event even under `--quiet`, only to drop it;
its file logger did the same again and flushed each line to disk; and every step wrote
the 6 MB manifest.json again. So dbt runs with both loggers off and `--no-write-json`;
the step's callback keeps every event and writes dbt.log (the same debug lines, once, at
the end) and run_results.json into the step's target directory. Errors reach Dagster
through the same callback.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DbtProject
from dagster_dbt.asset_utils import (
    extract_runtime_selection_from_args,
    get_manifest_and_translator_from_dbt_assets,
    get_updated_cli_invocation_params_for_context,
)
from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage

_LOCK = threading.Lock()
_MANIFESTS: dict[tuple[str, str, float], Any] = {}
_RESULT_EVENTS = {"LogSeedResult", "LogModelResult", "LogSnapshotResult", "LogTestResult"}
# Each dbt step writes its artifacts (run_results, compiled SQL, dbt.log) to a directory
# of its own; the newest few per step are kept for debugging, so a daily schedule does not
# fill the disk (three steps a day were ~5 GB a year, when each wrote a manifest too).
KEEP_STEP_TARGETS = 10
RUN_RESULTS = "run_results.json"
DBT_LOG = "dbt.log"
_NOT_IN_LOG = {"CacheAction", "CacheDumpGraph"}  # left out of dbt's own file log too
_STEP_TARGET = re.compile(r"^(?P<step>dbt_[a-z0-9_]+)-[0-9a-f]{7}(?:-[0-9a-f]{7})?$")


class DbtInvocationError(RuntimeError):
    pass


def _project_args(project: DbtProject, target_path: Path) -> list[str]:
    return [
        "--project-dir", str(project.project_dir),
        "--profiles-dir", str(project.profiles_dir),
        "--target-path", str(target_path),
        "--log-path", str(target_path),
    ]  # fmt: skip


def parsed_manifest(project: DbtProject, sources_mtime: float) -> Any:
    """dbt's `Manifest` for the warehouse in MARGIN_WH_DB, parsed once per process and
    again only when a project file changed (relation names carry the database's name)."""
    from dbt.cli.main import dbtRunner

    key = (str(project.project_dir), os.environ.get("MARGIN_WH_DB", ""), sources_mtime)
    with _LOCK:
        if key not in _MANIFESTS:
            target = Path(project.project_dir) / "target" / "inprocess"
            _seed_partial_parse(Path(project.project_dir) / "target", target)
            result = dbtRunner().invoke(["parse", "--quiet", *_project_args(project, target)])
            close_dbt_duckdb()
            if not result.success:
                raise DbtInvocationError(f"dbt parse failed: {result.exception}")
            _MANIFESTS.clear()  # one warehouse per process at a time; drop stale ones
            _MANIFESTS[key] = result.result
        return _MANIFESTS[key]


def _seed_partial_parse(cli_target: Path, target: Path) -> None:
    """Start from the CLI's partial-parse state (`ensure_manifest`, `margin-wh dbt`) when
    it is newer than ours, as dagster-dbt does for its per-invocation targets."""
    source, destination = cli_target / "partial_parse.msgpack", target / "partial_parse.msgpack"
    if source.exists() and (
        not destination.exists() or destination.stat().st_mtime < source.stat().st_mtime
    ):
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, destination)


def close_dbt_duckdb() -> None:
    """Close dbt-duckdb's database handle: it keeps one per process (a class attribute)
    after an invocation. Inside a run that handle is a connection to the run's DuckDB
    instance (resources.WarehouseDuckDB), which stays open; outside one (parse, tests)
    closing it frees the file for the next connection with another configuration.
    Drop dbt's adapter too: dbt resets adapters only when the next invocation starts, so
    between steps (and after the last) its relation cache kept DuckDB relation objects
    of the closed database alive."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    from dbt.adapters.factory import reset_adapters

    reset_adapters()
    with DuckDBConnectionManager._LOCK:
        environment = DuckDBConnectionManager._ENV
        DuckDBConnectionManager._ENV = None
    if environment is not None:
        environment.close()


def stream_dbt(
    context: dg.AssetExecutionContext,
    args: Sequence[str],
    project: DbtProject,
    manifest: Any,
    target_path: Path,
) -> Iterator[Any]:
    """Run `dbt <args>` for the assets the context selected; yield their Dagster events
    (outputs for models and seeds, check results for tests) as dagster-dbt would."""
    from dbt.cli.main import dbtRunner
    from dbt_common.events.functions import msg_to_dict

    manifest_json, translator, _ = get_manifest_and_translator_from_dbt_assets([context.assets_def])
    cleaned, selects, excludes = extract_runtime_selection_from_args(list(args))
    params = get_updated_cli_invocation_params_for_context(
        context=context,
        manifest=manifest_json,
        dagster_dbt_translator=translator,
        runtime_selects=selects,
        runtime_excludes=excludes,
    )
    if params.dbt_project and Path(params.dbt_project.project_dir) != Path(project.project_dir):
        # dagster-dbt copies the project to write a selector for very large subsets; the
        # parsed manifest knows no such selector: run such a subset from the CLI instead.
        raise DbtInvocationError(
            f"selection too large for an in-process run ({len(params.selection_args)} args)"
        )
    events: list[dict[str, Any]] = []
    errors: list[str] = []
    messages: list[Any] = []

    def collect(message) -> None:
        # every dbt event passes here (thousands a step): keep it for dbt.log as it is,
        # convert only the results
        messages.append(message)
        if message.info.level == "error":
            errors.append(message.info.msg)
        if message.info.name in _RESULT_EVENTS:
            events.append(msg_to_dict(message))

    invocation = [*cleaned, *_project_args(project, target_path), *params.selection_args]
    previous = os.environ.get("DBT_INDIRECT_SELECTION")
    if params.indirect_selection:
        os.environ["DBT_INDIRECT_SELECTION"] = params.indirect_selection
    try:
        with _LOCK:
            context.log.info(f"dbt (in-process) {' '.join(invocation)}")
            result = dbtRunner(manifest=manifest, callbacks=[collect]).invoke(
                [*invocation, "--log-level", "none", "--log-level-file", "none",
                 "--no-write-json"]
            )  # fmt: skip
            if hasattr(result.result, "write"):  # what --write-json would have written
                result.result.write(str(target_path / RUN_RESULTS))
    finally:
        write_debug_log(target_path / DBT_LOG, messages)
        close_dbt_duckdb()
        if previous is None:
            os.environ.pop("DBT_INDIRECT_SELECTION", None)
        else:
            os.environ["DBT_INDIRECT_SELECTION"] = previous
    for raw in events:
        event = DbtCoreCliEventMessage(raw_event=raw, event_history_metadata={})
        yield from event.to_default_asset_events(
            manifest=params.manifest,
            dagster_dbt_translator=params.dagster_dbt_translator,
            context=context,
            target_path=target_path,
            project=project,
        )
    if result.exception is not None or not result.success:
        detail = "\n".join(errors) or str(result.exception or "a node failed (see the log above)")
        raise DbtInvocationError(f"dbt {' '.join(cleaned)} failed:\n{detail}")


def write_debug_log(path: Path, messages: Sequence[Any]) -> None:
    """Append dbt's events to `path` in the lines of dbt's own debug file log (time, level,
    thread, message; secrets from DBT_ENV_SECRET_* variables masked), in one write."""
    from dbt_common.events.format import timestamp_to_datetime_string
    from dbt_common.exceptions.base import env_secrets, scrub_secrets

    secrets = env_secrets()
    lines = [
        f"{timestamp_to_datetime_string(m.info.ts)} [{m.info.level:<5}] "
        f"[{m.info.thread[:10]:<10}]: {scrub_secrets(m.info.msg, secrets)}\n"
        for m in messages
        if m.info.name not in _NOT_IN_LOG
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as log:
        log.writelines(lines)


def unique_target_path(project: DbtProject, context: dg.AssetExecutionContext) -> Path:
    """A target directory per step (artifacts of concurrent runs do not mix); older ones
    of the same step beyond the newest KEEP_STEP_TARGETS are removed."""
    name = f"{context.op_execution_context.op.name}-{context.run_id[:7]}-{uuid.uuid4().hex[:7]}"
    root = Path(project.project_dir) / "target"
    prune_step_targets(root, keep=KEEP_STEP_TARGETS - 1)  # room for the new one
    return root / name


def prune_step_targets(root: Path, keep: int) -> list[Path]:
    """Remove the per-step target directories under `root` (`<step>-<run>-<id>`) beyond
    the `keep` newest (by modification time) of each step; return what was removed.
    Anything else in `root` (dbt's own target, the in-process parse) is left alone."""
    by_step: dict[str, list[tuple[float, Path]]] = {}
    for entry in root.iterdir() if root.is_dir() else ():
        match = _STEP_TARGET.match(entry.name)
        if match is None or not entry.is_dir():
            continue
        try:
            mtime = entry.stat().st_mtime
        except FileNotFoundError:  # removed by a concurrent prune
            continue
        by_step.setdefault(match["step"], []).append((mtime, entry))
    removed = []
    for entries in by_step.values():
        entries.sort(key=lambda item: item[0], reverse=True)
        for _, old in entries[max(keep, 0) :]:
            shutil.rmtree(old, ignore_errors=True)
            removed.append(old)
    return removed
