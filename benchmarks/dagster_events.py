"""What one Dagster event costs to write, by instance storage.

    python -m benchmarks.dagster_events
    python -m benchmarks.dagster_events --postgres-url postgresql+psycopg2:///dagster_bench

A one-day refresh writes about 430 run events (a planned, an output and an evaluation
event per dbt test; two or three per model; step starts and ends), so their cost bounds
how fast a day can be (BENCHMARKS.md). This writes `--events` of two kinds through
`DagsterInstance` and prints the milliseconds each:
  - an engine event (a run-scoped log line: one row in the run's event log);
  - an asset materialization (also indexed across runs: the asset and its tags).
Stores: in memory, Dagster's default SQLite storage as `margin-wh` and `dagster dev` use
it (`orchestration.instance.instance_at`: our dagster.yaml), and PostgreSQL when
`--postgres-url` is given (needs dagster-postgres: the `team` extra, docs/deploy.md;
the database should be empty or a scratch one: the run and its events stay in it).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")

import dagster as dg  # noqa: E402


def _instance(home: Path, storage_yaml: str = "") -> dg.DagsterInstance:
    """An instance in `home` with this storage setting (none: Dagster's default SQLite)."""
    from dagster._core.instance.ref import InstanceRef

    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text(storage_yaml + "telemetry:\n  enabled: false\n")
    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))


def _per_event_ms(write: Callable[[int], None], count: int) -> float:
    write(-1)  # the first write creates tables and connections: not counted
    start = time.perf_counter()
    for i in range(count):
        write(i)
    return (time.perf_counter() - start) / count * 1000


def measure(instance: dg.DagsterInstance, count: int) -> tuple[float, float]:
    """Milliseconds per engine event and per asset materialization on `instance`."""

    @dg.asset(name="benchmark_events_asset")
    def asset() -> None: ...

    job = dg.Definitions(assets=[asset]).resolve_implicit_global_asset_job_def()
    run = instance.create_run_for_job(job_def=job)
    engine = _per_event_ms(lambda i: instance.report_engine_event(f"event {i}", run), count)
    materialization = _per_event_ms(
        lambda i: instance.report_runless_asset_event(dg.AssetMaterialization("benchmark_events_asset")),
        count,
    )
    return engine, materialization


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=300, help="events of each kind (default 300)")
    parser.add_argument("--postgres-url", help="also measure Dagster's PostgreSQL storage at this URL")
    args = parser.parse_args(argv)

    from orchestration.instance import instance_at

    with tempfile.TemporaryDirectory(prefix="dagster_events_") as tmp:
        stores: list[tuple[str, Callable[[], dg.DagsterInstance]]] = [
            ("in memory", dg.DagsterInstance.ephemeral),
            ("SQLite (margin-wh, dagster dev)", lambda: instance_at(Path(tmp) / "sqlite")),
        ]
        if args.postgres_url:
            postgres = f"storage:\n  postgres:\n    postgres_url: {args.postgres_url}\n"
            stores.append(("PostgreSQL", lambda: _instance(Path(tmp) / "postgres", postgres)))
        print(f"{'store':34s} {'engine event':>14s} {'materialization':>16s}   ({args.events} of each)")
        for label, make in stores:
            with make() as instance:
                engine, materialization = measure(instance, args.events)
            print(f"{label:34s} {engine:11.2f} ms {materialization:13.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
