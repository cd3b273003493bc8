"""Benchmark the warehouse on a generated demo market, in a temporary directory.

    python -m benchmarks.run --securities 4000 --years 10      # full market, ten years
    python -m benchmarks.run --securities 300 --years 1        # a quick run
    python -m benchmarks.run ... --output benchmarks/HISTORY.md   # append one row per run there

Never touches data/: every warehouse, landing zone and dbt target lives under --workdir
(a new temporary directory by default, removed at the end unless --keep).

What it measures, in one run (see BENCHMARKS.md for the budgets and the figures):
  1. raw load of the whole history through the real path, `refresh(..., raw_only=True)`
     (one call per day and dataset, one quote call per security, landing zone, validation),
     in rows/s; then `margin_wh.raw.load.replay` of the same landing zone;
  2. a full `dbt build --full-refresh` of every model from raw, run as
     `python -m margin_wh.cli dbt -- build --full-refresh` (the `margin-wh dbt` command) in a
     subprocess: seconds and the peak RSS of its process tree (sampled from /proc);
  3. one-day refreshes (`refresh(settings, day, day)`: raw + dbt through the Dagster
     definitions) on the day after the history, with the long history and with a short
     one (1 year), and their ratio; the next day again as a new `margin-wh refresh`
     process (end to end: interpreter, imports, definitions);
  4. the median latency of each example BI query in queries/*.sql on the published snapshot
     (or, when there is none, the warehouse file opened read-only);
  5. the same marts by a plain pandas script (benchmarks/pandas_baseline.py) on the same raw
     tables, and its time over ours;
  6. the models' compiled SQL run directly on DuckDB (a copy of the warehouse), without dbt;
  7. backfills (benchmarks/backfill.py): the dry run's estimate against the calls made, and
     a backfill interrupted three times against an uninterrupted one (`--backfill-only`
     runs this phase alone).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.memory import TreeMemory

os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
warnings.filterwarnings("ignore", message=".*is currently in beta.*")

from margin_wh.config import REPO_ROOT, Settings  # noqa: E402

HISTORY_END = dt.date(2025, 6, 30)  # the last day of the loaded history (then one-day refreshes)
QUERY_RUNS = 20
GIB = 1024**3


# The budgets, at ten-year full-market scale (4000 securities) on a 2-core machine; the
# figures and the reasons for each budget are in BENCHMARKS.md. Every other figure the
# benchmark prints is information, with no budget.
@dataclass(frozen=True)
class Budget:
    figure: str
    limit: float  # the measured value may equal it
    unit: str  # "s", "ms" or "GiB": the unit of both the limit and the measured value


BUDGETS: dict[str, Budget] = {
    "day_cli": Budget(
        "one-day refresh as a new margin-wh process, publication included", 60.0, "s"
    ),
    "build": Budget("full dbt build --full-refresh", 90.0, "s"),
    "build_memory": Budget("full build peak memory (process tree)", 4.0, "GiB"),
    "query_median": Budget("BI query, median of its runs", 50.0, "ms"),
}


def budget_limit(budget: Budget) -> str:
    """The budget column of the summary: '<= 60 s'."""
    return f"<= {budget.limit:g} {budget.unit}"


def budget_verdict(budget: Budget, measured: float | None) -> str:
    """The result column of the summary: 'within budget', or by how much it is over."""
    if measured is None:
        return "n/a"
    if measured <= budget.limit:
        return "within budget"
    over = measured - budget.limit
    return (
        f"OVER budget by {over:.2f} {budget.unit}"
        if budget.unit == "GiB"
        else (f"OVER budget by {over:.1f} {budget.unit}")
    )


STAND_IN_QUERIES = {
    # Used only when queries/ holds no .sql file yet; labelled as stand-ins in the output.
    "stand-in_market_short_latest": (
        "select trade_date, short_balance_cny, short_balance_ytd_change_ratio, "
        "short_balance_drawdown_ratio from marts.fct_market_short_daily "
        "order by trade_date desc limit 1"
    ),
    "stand-in_top20_short_to_float": (
        "select security_code, security_name, short_to_float_ratio from marts.fct_balance_to_float "
        "where trade_date = (select max(trade_date) from marts.fct_balance_to_float) "
        "order by short_to_float_ratio desc nulls last limit 20"
    ),
    "stand-in_industry_short_share_by_month": (
        "select date_trunc('month', trade_date) as month, industry_name, "
        "avg(share_of_market_short_ratio) as share from marts.fct_short_concentration_by_industry "
        "where industry_level = 1 group by all order by month, share desc"
    ),
    "stand-in_security_history": (
        "select trade_date, short_balance_cny, short_to_float_ratio from marts.fct_balance_to_float "
        "where security_code = (select min(security_code) from marts.fct_balance_to_float) "
        "order by trade_date"
    ),
}


# ---------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------


class Report:
    """Print a line and keep it (the lines of a run, for a caller that wants them)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, text: str = "") -> None:
        print(text, flush=True)
        self.lines.extend(text.splitlines() or [""])

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
        fmt = " | ".join(f"{{:{w}}}" for w in widths)
        self(fmt.format(*header))
        self("-+-".join("-" * w for w in widths))
        for row in rows:
            self(fmt.format(*[str(c) for c in row]))


def gib(n: float) -> str:
    return f"{n / GIB:.2f} GiB"


def secs(s: float | None) -> str:
    return "-" if s is None else f"{s:.2f} s"


def rate(n: float) -> str:
    return f"{n:,.0f}"


@contextlib.contextmanager
def phase(report: Report, title: str) -> Iterator[None]:
    load = os.getloadavg()[0]
    report()
    report(f"== {title}  [load avg at start {load:.2f}]")
    started = time.perf_counter()
    yield
    report(f"   ({title}: {time.perf_counter() - started:.1f} s wall for this phase)")


# ---------------------------------------------------------------------------------------
# Machine
# ---------------------------------------------------------------------------------------


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_lines() -> list[str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    versions = ", ".join(
        f"{d} {_version(d)}"
        for d in ("duckdb", "dbt-core", "dbt-duckdb", "dagster", "dagster-dbt", "pandas")
    )
    return [
        f"date:     {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"machine:  {cpu}, {os.cpu_count()} cores, {gib(mem)} RAM, {platform.platform()}",
        f"python:   {platform.python_version()} ({sys.executable})",
        f"packages: {versions}",
    ]


def calibration() -> dict[str, float]:
    """Two fixed workloads, best of a few runs: the same code on the same data every time,
    so their times say how fast the machine is right now. Runs on this kind of machine
    have differed by 1.6x and more from one day to the next (BENCHMARKS.md): read every
    other figure against these."""
    import timeit

    import duckdb

    python_s = min(timeit.repeat("sum(range(10_000_000))", number=1, repeat=5))
    with duckdb.connect(":memory:") as con:
        con.execute("set threads = 2")

        def query() -> None:
            con.execute(
                "select sum(hash(i) % 1000), count(distinct i % 100003) from range(20_000_000) t(i)"
            ).fetchall()

        duckdb_s = min(timeit.repeat(query, number=1, repeat=3))
    return {"python_ms": python_s * 1000, "duckdb_ms": duckdb_s * 1000}


def calibration_line(when: str, c: dict[str, float]) -> str:
    return (
        f"speed ({when}): python sum(range(10**7)) {c['python_ms']:.0f} ms, "
        f"DuckDB 20 M-row hash aggregate {c['duckdb_ms']:.0f} ms (best of 5 / 3)"
    )


# ---------------------------------------------------------------------------------------
# Warehouses
# ---------------------------------------------------------------------------------------


@dataclass
class Warehouse:
    label: str  # "10 years"
    root: Path
    settings: Settings
    start: dt.date
    end: dt.date
    trading_days: int
    instance: Any = None
    defs: Any = None
    results: dict[str, Any] = field(default_factory=dict)


def demo_calendar(first_year: int, last_year: int) -> list[dt.date]:
    from margin_wh.sources.demo import demo_trading_calendar

    return demo_trading_calendar(first_year, last_year)


def make_warehouse(root: Path, label: str, months: int, securities: int, seed: int) -> Warehouse:
    calendar = demo_calendar(HISTORY_END.year - months // 12 - 2, HISTORY_END.year + 1)
    end = max(d for d in calendar if d <= HISTORY_END)
    first = dt.date(end.year, end.month, 1)
    year, month = divmod(first.year * 12 + first.month - 1 - months + 1, 12)
    start = dt.date(year, month + 1, 1)
    demo_end = end + dt.timedelta(days=31)
    env = {
        "MARGIN_WH_DB": str(root / "warehouse.duckdb"),
        "MARGIN_WH_LANDING": str(root / "landing"),
        "MARGIN_WH_PUBLISH": str(root / "published"),
        "MARGIN_WH_SOURCE": "demo",
        "MARGIN_WH_HISTORY_START": start.isoformat(),
        "MARGIN_WH_DEMO_END": demo_end.isoformat(),
        "MARGIN_WH_DEMO_SECURITIES": str(securities),
        "MARGIN_WH_DEMO_SEED": str(seed),
    }
    settings = Settings.from_env(env)
    settings.ensure_dirs()
    days = len([d for d in calendar if start <= d <= end])
    return Warehouse(label, root, settings, start, end, days)


def next_trading_days(after: dt.date, n: int) -> list[dt.date]:
    calendar = demo_calendar(after.year, after.year + 1)
    return [d for d in calendar if d > after][:n]


def raw_row_counts(db: Path) -> dict[str, int]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'raw' order by 1"
            ).fetchall()
        ]
        return {t: con.execute(f"select count(*) from raw.{t}").fetchone()[0] for t in tables}
    finally:
        con.close()


def landing_counts(landing: Path) -> tuple[int, int]:
    files = [p for p in landing.rglob("*.parquet") if "_rejected" not in p.parts]
    return len(files), sum(p.stat().st_size for p in files)


def step_seconds(instance: Any, run_id: str) -> dict[str, float]:
    starts: dict[str, float] = {}
    out: dict[str, float] = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or not event.step_key:
            continue
        if event.event_type_value == "STEP_START":
            starts[event.step_key] = record.timestamp
        elif (
            event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and event.step_key in starts
        ):
            out[event.step_key] = record.timestamp - starts[event.step_key]
    return out


def _short_step(step: str) -> str:
    return step.replace("raw__", "raw/").replace("__", "/")


# ---------------------------------------------------------------------------------------
# 1. Raw load and replay
# ---------------------------------------------------------------------------------------


def load_raw(report: Report, wh: Warehouse) -> dict[str, Any]:
    from orchestration.definitions import build_definitions
    from orchestration.instance import instance_at
    from orchestration.runner import refresh

    # The persistent SQLite instance the CLI and the UI use: every Dagster event of a run
    # is a row written to it (~5 ms each here), which an in-memory instance would hide.
    wh.instance = instance_at(wh.root / "dagster_home")
    t = time.perf_counter()
    wh.defs = build_definitions(wh.settings)
    defs_s = time.perf_counter() - t
    with TreeMemory() as mem:
        t = time.perf_counter()
        result = refresh(wh.settings, wh.start, wh.end, wh.instance, raw_only=True, defs=wh.defs)
        seconds = time.perf_counter() - t
    rows = raw_row_counts(wh.settings.db_path)
    files, size = landing_counts(wh.settings.landing_dir)
    steps: dict[str, float] = {}
    for run_id in result.run_ids:
        steps.update(step_seconds(wh.instance, run_id))
    total = sum(rows.values())
    out = {
        "seconds": seconds, "rows": rows, "total_rows": total, "rows_per_s": total / seconds,
        "calls": files, "landing_bytes": size, "peak_bytes": mem.peak_bytes,
        "start_bytes": mem.start_bytes, "steps": steps, "defs_s": defs_s,
        "trading_days": result.trading_days,
    }  # fmt: skip
    report(f"   build_definitions: {defs_s:.2f} s (dbt manifest, assets)")
    report(
        f"   refresh(raw_only=True) {result.first_day} .. {result.last_day} "
        f"({result.trading_days} trading days): {seconds:.1f} s, {total:,} raw rows, "
        f"{rate(total / seconds)} rows/s"
    )
    report(
        f"   {files:,} calls landed ({size / 1e6:,.0f} MB of Parquet), "
        f"{seconds / max(files, 1) * 1000:.1f} ms per call on average; "
        f"peak RSS of the process {gib(mem.peak_bytes)} (at start {gib(mem.start_bytes)})"
    )
    report("   per step (Dagster event log), slowest first:")
    for step, s in sorted(steps.items(), key=lambda kv: -kv[1]):
        table = step.removeprefix("raw__")
        extra = f"  {rows[table]:>12,} rows" if table in rows else ""
        report(f"     {_short_step(step):45} {s:8.2f} s{extra}")
    return out


def replay_landing(report: Report, wh: Warehouse) -> dict[str, Any]:
    import duckdb

    from margin_wh.raw.landed_calendar import load_calendar
    from margin_wh.raw.load import replay
    from margin_wh.sources.datasets import DATASETS

    target = wh.root / "replay.duckdb"
    calendar = load_calendar(wh.settings.landing_dir)
    per: dict[str, tuple[float, int, int]] = {}
    with TreeMemory() as mem:
        t = time.perf_counter()
        con = duckdb.connect(str(target))
        try:
            for dataset in DATASETS.values():
                s = time.perf_counter()
                result = replay(con, dataset, calendar, wh.settings.landing_dir)
                per[dataset.function] = (time.perf_counter() - s, result.rows_written, result.files)
        finally:
            con.close()
        seconds = time.perf_counter() - t
    total = sum(v[1] for v in per.values())
    report(
        f"   replay of the landing zone into a new file: {seconds:.1f} s, {total:,} rows, "
        f"{rate(total / seconds)} rows/s; peak RSS {gib(mem.peak_bytes)} "
        f"(at start {gib(mem.start_bytes)})"
    )
    for function, (s, n, files) in sorted(per.items(), key=lambda kv: -kv[1][0])[:6]:
        report(f"     {function:32} {s:8.2f} s {n:>12,} rows {files:>6,} files")
    target.unlink(missing_ok=True)
    return {
        "seconds": seconds,
        "rows": total,
        "rows_per_s": total / seconds,
        "peak_bytes": mem.peak_bytes,
    }


# ---------------------------------------------------------------------------------------
# 2. Full dbt build
# ---------------------------------------------------------------------------------------


def run_measured(
    cmd: list[str], env: dict[str, str], log: Path, cwd: Path = REPO_ROOT
) -> tuple[float, int, int]:
    """Run a command; return (seconds, peak RSS of its process tree, return code)."""
    with open(log, "wb") as out:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        with TreeMemory(proc.pid, interval=0.05) as mem:
            code = proc.wait()
        seconds = time.perf_counter() - t
    return seconds, mem.peak_bytes, code


def _tail(log: Path, n: int = 25) -> str:
    lines = log.read_text(errors="replace").splitlines()
    return "\n".join(lines[-n:])


def margin_wh_dbt(wh: Warehouse, *dbt_args: str) -> list[str]:
    target = wh.root / "dbt_target"
    return [
        sys.executable, "-m", "margin_wh.cli", "dbt", "--", *dbt_args,
        "--target-path", str(target), "--log-path", str(wh.root / "dbt_logs"),
    ]  # fmt: skip


def node_times(run_results: Path) -> list[dict[str, Any]]:
    data = json.loads(run_results.read_text())
    return [
        {
            "id": r["unique_id"],
            "kind": r["unique_id"].split(".", 1)[0],
            "name": r["unique_id"].split(".")[-1]
            if not r["unique_id"].startswith("test.")
            else r["unique_id"].split(".")[2],
            "seconds": float(r.get("execution_time") or 0.0),
            "status": r.get("status"),
        }
        for r in data.get("results", [])
    ]


def summarize_nodes(nodes: list[dict[str, Any]]) -> dict[str, tuple[int, float]]:
    out: dict[str, tuple[int, float]] = {}
    for n in nodes:
        count, total = out.get(n["kind"], (0, 0.0))
        out[n["kind"]] = (count + 1, total + n["seconds"])
    return out


def dbt_full_build(report: Report, wh: Warehouse, verbose: bool = True) -> dict[str, Any]:
    env = wh.settings.dbt_env() | {"DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    log = wh.root / "dbt_parse.log"
    parse_s, _, code = run_measured(margin_wh_dbt(wh, "parse"), env, log)
    if code:
        raise RuntimeError(f"dbt parse failed:\n{_tail(log)}")
    log = wh.root / "dbt_build.log"
    # as a refresh builds: dbt's unit tests are the test suite's (tests/test_dbt_unit_tests.py)
    seconds, peak, code = run_measured(
        margin_wh_dbt(wh, "build", "--full-refresh", "--exclude", "resource_type:unit_test"), env, log
    )
    run_results = wh.root / "dbt_target" / "run_results.json"
    nodes = node_times(run_results) if run_results.exists() else []
    bad = [n for n in nodes if n["status"] not in ("success", "pass")]
    kinds = summarize_nodes(nodes)
    report(
        f"   margin-wh dbt -- build --full-refresh: {seconds:.1f} s wall, peak RSS of the "
        f"process tree {gib(peak)}, exit code {code} (dbt parse before it, not counted: {parse_s:.1f} s)"
    )
    report(
        "   inside dbt: "
        + ", ".join(
            f"{kind}s {count} in {total:.1f} s" for kind, (count, total) in sorted(kinds.items())
        )
        + " (summed over dbt's threads, so the sum can exceed the wall time)"
    )
    if bad:
        report(
            f"   {len(bad)} node(s) not passing: "
            + ", ".join(f"{n['name']}={n['status']}" for n in bad[:8])
        )
    if code and not bad:
        report("   dbt failed:\n" + _tail(log))
    if verbose:
        report("   slowest nodes:")
        for n in sorted(nodes, key=lambda n: -n["seconds"])[:12]:
            report(f"     {n['kind']:6} {n['name'][:70]:70} {n['seconds']:7.2f} s")
    return {
        "seconds": seconds, "peak_bytes": peak, "code": code, "parse_s": parse_s, "nodes": nodes,
        "kinds": kinds, "failed": bad,
    }  # fmt: skip


def first_publication(report: Report, wh: Warehouse) -> float:
    """Publish the freshly built warehouse once (snapshot file and Parquet), as the first
    refresh of a new warehouse does: a daily refresh then updates a publication that
    exists, which is the steady state the one-day figures measure."""
    from margin_wh.publish.parquet import export_parquet
    from margin_wh.publish.snapshot import publish_snapshot, snapshot_path

    t = time.perf_counter()
    settings = wh.settings
    publish_snapshot(settings.db_path, settings.publish_dir, source=settings.source,
                     manifest_path=wh.root / "dbt_target" / "manifest.json")  # fmt: skip
    export_parquet(
        snapshot_path(settings.publish_dir), settings.publish_dir, source=settings.source
    )
    seconds = time.perf_counter() - t
    report(
        f"   [{wh.label}] first publication (snapshot + Parquet), set-up, not counted: {seconds:.1f} s"
    )
    return seconds


def previous_morning(report: Report, wh: Warehouse) -> float:
    """The history's last day refreshed again through Dagster (idempotent), as the morning
    before the measured day. A warehouse that refreshes daily has had one: its dbt steps'
    partial-parse state is in place."""
    from orchestration.runner import refresh

    prime_partial_parse(wh)
    t = time.perf_counter()
    refresh(wh.settings, wh.end, wh.end, wh.instance, defs=wh.defs, publish=False)
    seconds = time.perf_counter() - t
    report(
        f"   [{wh.label}] the previous morning's run ({wh.end} again, raw + dbt), set-up, "
        f"not counted: {seconds:.1f} s"
    )
    return seconds


# ---------------------------------------------------------------------------------------
# 6. The same SQL directly on DuckDB
# ---------------------------------------------------------------------------------------


def direct_sql(report: Report, wh: Warehouse) -> dict[str, Any]:
    import duckdb

    manifest = json.loads((wh.root / "dbt_target" / "manifest.json").read_text())
    models = {
        uid: node for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "model" and node["config"].get("materialized") != "ephemeral"
    }  # fmt: skip
    order: list[str] = []
    seen: set[str] = set()

    def visit(uid: str) -> None:
        if uid in seen:
            return
        seen.add(uid)
        for dep in models[uid]["depends_on"]["nodes"]:
            if dep in models:
                visit(dep)
        order.append(uid)

    for uid in sorted(models):
        visit(uid)

    copy_dir = wh.root / "direct"
    copy_dir.mkdir(exist_ok=True)
    copy = copy_dir / wh.settings.db_path.name  # same file name: same catalog name in the SQL
    shutil.copy2(wh.settings.db_path, copy)
    per: list[tuple[str, str, float]] = []
    con = duckdb.connect(str(copy))
    try:
        t = time.perf_counter()
        for uid in order:
            node = models[uid]
            sql = node.get("compiled_code")
            if not sql:
                path = (
                    wh.root
                    / "dbt_target"
                    / "compiled"
                    / node["package_name"]
                    / node["original_file_path"]
                )
                sql = path.read_text()
            kind = "view" if node["config"]["materialized"] == "view" else "table"
            s = time.perf_counter()
            con.execute(f"create or replace {kind} {node['relation_name']} as {sql}")
            per.append((node["name"], kind, time.perf_counter() - s))
        seconds = time.perf_counter() - t
        floor = write_floor(con, [models[uid]["relation_name"] for uid in order
                                  if models[uid]["config"]["materialized"] != "view"])  # fmt: skip
    finally:
        con.close()
        shutil.rmtree(copy_dir, ignore_errors=True)
    report(f"   {len(order)} models' compiled SQL as CREATE OR REPLACE on a copy: {seconds:.1f} s")
    for name, kind, s in sorted(per, key=lambda p: -p[2])[:8]:
        report(f"     {kind:5} {name:45} {s:7.2f} s")
    report(
        f"   writing the {len(floor)} largest tables' rows again, no computation (a floor for "
        f"any build that stores them): {sum(floor.values()):.1f} s "
        f"({', '.join(f'{name} {s:.1f} s' for name, s in floor.items())})"
    )
    return {"seconds": seconds, "models": per, "write_floor": floor}


def write_floor(con: Any, relations: list[str], largest: int = 2) -> dict[str, float]:
    """Seconds to write the `largest` tables' rows into new tables of the same file, with
    nothing to compute: what storing them costs whatever the SQL that produces them."""
    rows = {r: con.execute(f"select count(*) from {r}").fetchall()[0][0] for r in relations}
    out: dict[str, float] = {}
    for relation in sorted(rows, key=lambda r: -rows[r])[:largest]:
        start = time.perf_counter()
        con.execute(
            f"create or replace table main.benchmark_write_floor as select * from {relation}"
        )
        con.execute("checkpoint")
        out[relation.split(".")[-1].strip('"')] = time.perf_counter() - start
        con.execute("drop table main.benchmark_write_floor")
    return out


# ---------------------------------------------------------------------------------------
# 5. The pandas baseline
# ---------------------------------------------------------------------------------------


def pandas_baseline(report: Report, wh: Warehouse) -> dict[str, Any]:
    out_json = wh.root / "pandas_result.json"
    cmd = [
        sys.executable, "-m", "benchmarks.pandas_baseline", "--db", str(wh.settings.db_path),
        "--out-dir", str(wh.root / "pandas_out"), "--json", str(out_json),
    ]  # fmt: skip
    log = wh.root / "pandas.log"
    seconds, peak, code = run_measured(cmd, dict(os.environ), log)
    if code:
        raise RuntimeError(f"pandas baseline failed:\n{_tail(log)}")
    result = json.loads(out_json.read_text())
    t = result["timings"]
    report(
        f"   pandas script: {seconds:.1f} s wall (read raw {t['read_raw_s']:.1f} s, compute "
        f"{t['compute_s']:.1f} s [balance_to_float {t['balance_to_float_s']:.1f}, industry "
        f"{t['concentration_by_industry_s']:.1f}, market {t['market_short_daily_s']:.1f}], write "
        f"Parquet {t['write_s']:.1f} s), peak RSS {gib(peak)}"
    )
    report("   rows: " + ", ".join(f"{k} {v:,}" for k, v in result["rows"].items()))
    shutil.rmtree(wh.root / "pandas_out", ignore_errors=True)
    return {"seconds": seconds, "peak_bytes": peak, **result}


# ---------------------------------------------------------------------------------------
# 4. BI queries
# ---------------------------------------------------------------------------------------


def find_snapshot(report: Report, wh: Warehouse) -> Path | None:
    """Publish the snapshot BI tools open (margin_wh.publish.snapshot) from the warehouse
    just built, timed; None when the publish module is not there (or fails)."""
    try:
        from margin_wh.publish.snapshot import publish_snapshot
    except ImportError:
        return None
    try:
        with TreeMemory() as mem:
            t = time.perf_counter()
            result = publish_snapshot(
                wh.settings.db_path, wh.settings.publish_dir, source=wh.settings.source,
                manifest_path=wh.root / "dbt_target" / "manifest.json",
            )  # fmt: skip
            seconds = time.perf_counter() - t
    except Exception as error:  # noqa: BLE001 - fall back to the warehouse file
        report(f"   publish_snapshot failed ({type(error).__name__}: {str(error).splitlines()[0]})")
        return None
    wh.results["publish"] = {"seconds": seconds, "bytes": result.size_bytes}
    report(
        f"   publish_snapshot of the whole history: {seconds:.1f} s, "
        f"{result.size_bytes / 1e6:,.0f} MB, peak RSS {gib(mem.peak_bytes)}"
    )
    return Path(result.path)


def bi_queries(report: Report, wh: Warehouse, runs: int = QUERY_RUNS) -> dict[str, Any]:
    import duckdb

    files = sorted((REPO_ROOT / "queries").glob("*.sql"))
    queries = {f.stem: f.read_text() for f in files}
    stand_in = not queries
    if stand_in:
        queries = dict(STAND_IN_QUERIES)
        report("   queries/ holds no .sql file yet: timing stand-in queries (named stand-in_*)")
    snapshot = find_snapshot(report, wh)
    target = snapshot or wh.settings.db_path
    where = (
        f"published snapshot {snapshot}"
        if snapshot
        else "the warehouse file opened read-only (no published snapshot found)"
    )
    report(f"   on {where}; median of {runs} runs after one warm-up, results fetched")
    con = duckdb.connect(str(target), read_only=True)
    medians: dict[str, float] = {}
    rows: dict[str, int] = {}
    errors: dict[str, str] = {}
    try:
        for name, sql in queries.items():
            try:
                rows[name] = len(con.execute(sql).fetchall())
                times = []
                for _ in range(runs):
                    t = time.perf_counter()
                    con.execute(sql).fetchall()
                    times.append(time.perf_counter() - t)
                medians[name] = statistics.median(times) * 1000
                report(
                    f"     {name:45} median {medians[name]:7.1f} ms  "
                    f"(min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f}) {rows[name]:>7,} rows"
                )
            except Exception as error:  # noqa: BLE001 - report and go on
                errors[name] = str(error).splitlines()[0]
                report(f"     {name:45} ERROR {errors[name]}")
    finally:
        con.close()
    return {
        "medians_ms": medians,
        "rows": rows,
        "errors": errors,
        "stand_in": stand_in,
        "snapshot": str(snapshot) if snapshot else None,
    }


# ---------------------------------------------------------------------------------------
# 3. One-day refresh
# ---------------------------------------------------------------------------------------


def dbt_step_nodes(
    wh: Warehouse,
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, Any]]]:
    """Per-node times and parse/run times of the latest invocation of the dbt step of
    this warehouse, from the step's target directory (orchestration/assets/dbt.py)."""
    from orchestration.assets.dbt import DBT_STEP, step_target_path

    nodes: dict[str, list[dict[str, Any]]] = {}
    info: dict[str, dict[str, Any]] = {}
    for step in (DBT_STEP,):
        folder = step_target_path(wh.settings, step)
        results = folder / "run_results.json"
        if results.exists():
            nodes[step] = node_times(results)
            info.setdefault(step, {})["run_s"] = json.loads(results.read_text()).get("elapsed_time")
        log = folder / "dbt.log"
        if log.exists():
            info.setdefault(step, {}).update(dbt_log_phases(log))
    return nodes, info


def dbt_log_phases(log: Path) -> dict[str, Any]:
    """From dbt's JSON log, its latest invocation: seconds from its first line to the end
    of parsing (FoundStats), from there to its last line, and why partial parsing was
    refused (a full parse)."""
    stamps: list[float] = []
    found: float | None = None
    reasons: list[str] = []
    records = []
    for line in log.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict):
                records.append(record)
    last = records[-1].get("info", {}).get("invocation_id") if records else None
    for record in records:
        info = record.get("info", {})
        if info.get("invocation_id") != last:
            continue
        with contextlib.suppress(KeyError, ValueError):
            ts = dt.datetime.fromisoformat(info["ts"].replace("Z", "+00:00")).timestamp()
            stamps.append(ts)
            if info.get("name") == "FoundStats" and found is None:
                found = ts
        if info.get("name") == "UnableToPartialParse":
            reasons.append(record.get("data", {}).get("reason", "?"))
    if not stamps or found is None:
        return {}
    return {
        "parse_s": found - stamps[0],
        "after_parse_s": stamps[-1] - found,
        "parse_kind": "full" if reasons else "partial",
        "parse_reasons": sorted(set(reasons)),
    }


def prime_partial_parse(wh: Warehouse) -> float:
    """Parse the dbt project into dbt_project/target for this warehouse, as the user's own
    `ensure_manifest` parse would be: dbt's partial parsing is keyed on the profile (the
    warehouse path), so without it every dbt step of a run would re-parse from scratch
    only because the benchmark's warehouse lives in a temporary directory."""
    env = wh.settings.dbt_env() | {"DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    cmd = [sys.executable, "-m", "margin_wh.cli", "dbt", "--", "parse", "--quiet"]
    seconds, _, code = run_measured(cmd, env, wh.root / "dbt_prime_parse.log")
    if code:
        raise RuntimeError(f"dbt parse failed:\n{_tail(wh.root / 'dbt_prime_parse.log')}")
    return seconds


def one_day(report: Report, wh: Warehouse, day: dt.date) -> dict[str, Any]:
    """The issue's one-day refresh (raw load + dbt) as one run of the real job, then the
    BI publication of that day (snapshot, Parquet, report) as a second run, timed apart."""
    from orchestration.runner import publish_run, refresh

    prime_s = prime_partial_parse(wh)
    with TreeMemory() as mem:
        t = time.perf_counter()
        result = refresh(wh.settings, day, day, wh.instance, defs=wh.defs, publish=False)
        seconds = time.perf_counter() - t
        t = time.perf_counter()
        publish_id = publish_run(wh.settings, wh.instance, defs=wh.defs)
        publish_s = time.perf_counter() - t
    result = dataclasses.replace(result, run_ids=(*result.run_ids, publish_id))
    steps: dict[str, float] = {}
    for run_id in result.run_ids:
        steps.update(step_seconds(wh.instance, run_id))
    dbt_nodes, dbt_info = dbt_step_nodes(wh)
    report(
        f"   [{wh.label}] refresh({day}, {day}, publish=False), raw load + dbt: {seconds:.2f} s end to "
        f"end in-process (SQLite Dagster instance, as the CLI's); then the BI publication of "
        f"the day: {publish_s:.2f} s; "
        f"peak RSS of the process tree {gib(mem.peak_bytes)} (at start {gib(mem.start_bytes)}: "
        f"the benchmark's own data); dbt project parsed for this warehouse just before "
        f"({prime_s:.1f} s, not counted)"
    )
    publish_steps = step_seconds(wh.instance, publish_id)
    in_steps = sum(v for k, v in steps.items() if k not in publish_steps)
    report(
        f"     raw + dbt steps {in_steps:.2f} s, Dagster run overhead ({len(result.run_ids) - 1} run(s)) "
        f"{seconds - in_steps:.2f} s; publication steps {sum(publish_steps.values()):.2f} s:"
    )
    for step, s in sorted(steps.items(), key=lambda kv: -kv[1]):
        inside = ""
        if step in dbt_nodes:
            kinds = summarize_nodes(dbt_nodes[step])
            inside = "  dbt: " + ", ".join(
                f"{k}s {c} in {t:.2f} s" for k, (c, t) in sorted(kinds.items())
            )
            info = dbt_info.get(step, {})
            if "parse_s" in info:
                inside += f"; {info['parse_kind']} parse {info['parse_s']:.2f} s"
                if info["parse_reasons"]:
                    inside += f" ({'; '.join(info['parse_reasons'])})"
                inside += f", after parse {info['after_parse_s']:.2f} s"
        report(f"       {_short_step(step):42} {s:7.2f} s{inside}")
    return {
        "seconds": seconds,
        "publish_s": publish_s,
        "steps": steps,
        "dbt_nodes": dbt_nodes,
        "dbt_info": dbt_info,
        "peak_bytes": mem.peak_bytes,
    }


def one_day_cli(report: Report, wh: Warehouse, day: dt.date) -> dict[str, Any]:
    env = {**os.environ, **wh.settings.as_env(), "DAGSTER_HOME": str(wh.root / "dagster_home")}
    cmd = [
        sys.executable,
        "-m",
        "margin_wh.cli",
        "refresh",
        "--start",
        day.isoformat(),
        "--end",
        day.isoformat(),
    ]
    log = wh.root / f"cli_refresh_{day}.log"
    earlier = {run.run_id for run in wh.instance.get_runs()}
    seconds, peak, code = run_measured(cmd, env, log)
    report(
        f"   [{wh.label}] margin-wh refresh --start {day} --end {day} (new process, the same "
        f"DAGSTER_HOME as the runs above): {seconds:.2f} s, peak RSS {gib(peak)}, exit code {code}"
    )
    if code:
        report(_tail(log))
    steps = cli_run_steps(wh.root / "dagster_home", exclude=earlier)
    if steps:
        report(
            f"     steps {sum(steps.values()):.2f} s; the rest is start-up (imports, definitions, instance):"
        )
        report(
            "       "
            + ", ".join(
                f"{_short_step(k)} {v:.2f} s"
                for k, v in sorted(steps.items(), key=lambda kv: -kv[1])[:6]
            )
        )
    return {"seconds": seconds, "peak_bytes": peak, "code": code, "steps": steps}


def one_day_in_memory(report: Report, wh: Warehouse, day: dt.date) -> dict[str, Any]:
    """The in-process one-day refresh again, on an in-memory Dagster instance: the same
    work, without the SQLite event log the CLI and UI write every run event to. The
    difference is what that storage costs a day's run."""
    import dagster as dg

    from margin_wh.calendar import shanghai_today
    from margin_wh.raw.landed_calendar import load_calendar
    from orchestration.partitions import publishable_days, sync_trading_days
    from orchestration.runner import refresh

    with dg.DagsterInstance.ephemeral() as instance:
        # the partitions a running instance already has: registered before the clock starts
        calendar = load_calendar(wh.settings.landing_dir)
        sync_trading_days(instance, publishable_days(calendar, wh.settings, shanghai_today()))
        t = time.perf_counter()
        result = refresh(wh.settings, day, day, instance, defs=wh.defs, publish=False)
        seconds = time.perf_counter() - t
        events = sum(len(instance.all_logs(run_id)) for run_id in result.run_ids)
    on_sqlite = wh.results.get("day", {}).get("seconds")
    report(
        f"   [{wh.label}] refresh({day}, {day}, publish=False) on an in-memory Dagster instance: "
        f"{seconds:.2f} s, {events} run events"
        + (f" (the SQLite instance's run above: {on_sqlite:.2f} s)" if on_sqlite else "")
    )
    return {"seconds": seconds, "events": events}


def cli_run_steps(home: Path, exclude: set[str] = frozenset()) -> dict[str, float]:
    """Step durations of the runs recorded in a DAGSTER_HOME but not in `exclude` (the
    CLI's runs)."""
    from orchestration.instance import instance_at

    out: dict[str, float] = {}
    with instance_at(home) as instance:
        for run in instance.get_runs():
            if run.run_id not in exclude:
                out.update(step_seconds(instance, run.run_id))
    return out


# ---------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------


def summary_rows(long: Warehouse, short: Warehouse) -> list[list[str]]:
    """The summary table's rows: figure, budget ('-' for information), measured, result."""
    r = long.results
    rows: list[list[str]] = []

    def info(figure: str, measured: str) -> None:
        rows.append([figure, "-", measured, "info"])

    def budgeted(key: str, figure: str, value: float | None, measured: str) -> None:
        rows.append(
            [figure, budget_limit(BUDGETS[key]), measured, budget_verdict(BUDGETS[key], value)]
        )

    if "raw" in r:
        info("raw load, whole history (refresh raw_only)",
             f"{r['raw']['seconds']:.1f} s, {rate(r['raw']['rows_per_s'])} rows/s")  # fmt: skip
    if "replay" in r:
        info("raw replay of the landing zone",
             f"{r['replay']['seconds']:.1f} s, {rate(r['replay']['rows_per_s'])} rows/s")  # fmt: skip
    if "build" in r:
        b = r["build"]
        if b["code"] == 0:
            budgeted("build", BUDGETS["build"].figure, b["seconds"], f"{b['seconds']:.1f} s")
        else:
            rows.append([BUDGETS["build"].figure, budget_limit(BUDGETS["build"]),
                         f"{b['seconds']:.1f} s", f"FAILED (exit code {b['code']})"])  # fmt: skip
        budgeted("build_memory", BUDGETS["build_memory"].figure, b["peak_bytes"] / GIB,
                 gib(b["peak_bytes"]))  # fmt: skip
    for wh in (long, short):
        if "day" in wh.results:
            s = wh.results["day"]["seconds"]
            p = wh.results["day"]["publish_s"]
            info(f"one-day refresh in-process (raw + dbt), {wh.label} of history", f"{s:.2f} s")
            info("  then the BI publication (snapshot, Parquet, report)",
                 f"{p:.2f} s (raw + dbt + publication {s + p:.2f} s)")  # fmt: skip
        if "day_memory" in wh.results:
            m = wh.results["day_memory"]
            info("  same work, in-memory Dagster instance (no SQLite event log)",
                 f"{m['seconds']:.2f} s ({m['events']} run events)")  # fmt: skip
        if "day_cli" in wh.results:
            s = wh.results["day_cli"]["seconds"]
            figure = f"one-day refresh as a new margin-wh process, {wh.label} of history"
            if wh is long:
                budgeted("day_cli", figure, s, f"{s:.2f} s")
            else:
                info(figure, f"{s:.2f} s")
    if "day" in long.results and "day" in short.results:
        ratio = long.results["day"]["seconds"] / short.results["day"]["seconds"]
        info(f"one-day refresh in-process, {long.label} / {short.label}", f"{ratio:.2f}")
    if "queries" in r:
        for name, ms in r["queries"]["medians_ms"].items():
            budgeted("query_median", f"BI query {name}, median", ms, f"{ms:.1f} ms")
        for name in r["queries"]["errors"]:
            rows.append([f"BI query {name}, median", budget_limit(BUDGETS["query_median"]),
                         "error", "FAILED"])  # fmt: skip
    if "pandas" in r and "build" in r:
        ratio = r["pandas"]["seconds"] / r["build"]["seconds"]
        info("pandas script time / dbt build time",
             f"{ratio:.2f}x ({r['pandas']['seconds']:.1f} s vs {r['build']['seconds']:.1f} s)")  # fmt: skip
        if "direct" in r:
            info("  pandas time / same SQL on DuckDB without dbt",
                 f"{r['pandas']['seconds'] / r['direct']['seconds']:.2f}x")  # fmt: skip
    if "direct" in r and "build" in r:
        d, b = r["direct"]["seconds"], r["build"]["seconds"]
        info("mart SQL directly on DuckDB (no dbt, no tests)",
             f"{d:.1f} s; dbt build adds {b - d:.1f} s ({b / d:.1f}x)")  # fmt: skip
    if r.get("direct", {}).get("write_floor"):
        floor = sum(r["direct"]["write_floor"].values())
        info("  of which only writing the 2 largest tables (floor)", f"{floor:.1f} s")
        if "pandas" in r:
            info("  pandas time / that floor (the best ratio storing them allows)",
                 f"{r['pandas']['seconds'] / floor:.2f}x")  # fmt: skip
    return rows


def summary(
    report: Report,
    args: argparse.Namespace,
    long: Warehouse,
    short: Warehouse,
    errors: dict[str, str],
) -> None:
    rows = summary_rows(long, short)
    report()
    report(f"== Summary: {args.securities} securities x {args.years:g} years "
           f"({long.trading_days} trading days, {long.start} .. {long.end})")  # fmt: skip
    if (args.securities, args.years) != (4000, 10):
        report("   (the budgets are for 4000 securities x 10 years; this run is smaller)")
    report.table(["figure", "budget", "measured", "result"], rows)
    over = [row[0] for row in rows if row[3].startswith(("OVER", "FAILED"))]
    report(f"   over budget or failed: {', '.join(over)}" if over
           else "   every budgeted figure is within its budget")  # fmt: skip
    for step, error in errors.items():
        report(
            f"   {step} FAILED: "
            + " / ".join(line.strip() for line in error.splitlines()[:3] if line.strip())
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--securities", type=int, default=4000, help="demo market size (10..6000)")
    parser.add_argument("--years", type=float, default=10, help="years of history (long warehouse)")
    parser.add_argument("--short-years", type=float, default=1,
                        help="years of the short history the one-day refresh is compared with "
                        "(a quarter of --years when --years is not above it)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=20231016)
    parser.add_argument(
        "--workdir", type=Path, help="where to build (default: a new temporary directory)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--skip", nargs="*", default=[], choices=["replay", "pandas", "direct", "queries", "short", "cli", "backfill"],
                        help="phases to skip")  # fmt: skip
    parser.add_argument(
        "--output",
        type=Path,
        help="append one row of this run's figures to this Markdown table (benchmarks/HISTORY.md)",
    )
    parser.add_argument("--backfill-only", action="store_true",
                        help="run only phase 7 (backfill estimate and interruptions)")  # fmt: skip
    args = parser.parse_args(argv)

    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="margin_wh_bench_"))).absolute()
    if workdir.is_relative_to(REPO_ROOT / "data"):
        parser.error(
            "--workdir must not be inside data/: the benchmark never touches the user's warehouse"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    commit = _git_commit()  # the code measured, before anything can change it

    months = max(1, round(args.years * 12))
    short_months = round(args.short_years * 12)
    if short_months >= months:
        short_months = max(1, months // 4)
    report = Report()
    report(f"$ python -m benchmarks.run {' '.join(argv if argv is not None else sys.argv[1:])}")
    for line in machine_lines():
        report(line)
    speed_at_start = calibration()
    report(calibration_line("start", speed_at_start))
    report(f"workdir:  {workdir}")
    started = time.perf_counter()

    long = make_warehouse(workdir / "long", _label(months), months, args.securities, args.seed)
    short = make_warehouse(
        workdir / "short", _label(short_months), short_months, args.securities, args.seed
    )
    day, next_day, third_day = next_trading_days(long.end, 3)
    report(
        f"market:   {args.securities} synthetic securities; long history {long.start} .. {long.end} "
        f"({long.trading_days} trading days), short {short.start} .. {short.end} "
        f"({short.trading_days}); one-day refreshes on {day} (in-process) and {next_day} (new process)"
    )
    errors: dict[str, str] = {}

    def attempt(name: str, func: Callable[[], Any], wh: Warehouse, key: str) -> bool:
        try:
            wh.results[key] = func()
            return True
        except Exception as error:  # noqa: BLE001 - keep measuring the rest
            errors[name] = f"{type(error).__name__}: {str(error).strip()[:2000]}"
            report(f"   FAILED: {errors[name]}")
            traceback.print_exc()
            return False

    def backfill_phase() -> None:
        from benchmarks.backfill import run_backfill_benchmark

        with phase(report, f"7. backfill: estimate, interruptions, {long.label}"):

            def settings_for(label: str) -> Settings:
                return make_warehouse(
                    workdir / label, label, months, args.securities, args.seed
                ).settings

            attempt("backfill", lambda: run_backfill_benchmark(report, settings_for, long.start,
                                                                long.end), long, "backfill")  # fmt: skip

    try:
        if args.backfill_only:
            backfill_phase()
            report(f"   total benchmark time {(time.perf_counter() - started) / 60:.1f} min")
            return 1 if errors else 0
        with phase(report, f"1. raw layer, whole history, {long.label}"):
            loaded = attempt("raw load", lambda: load_raw(report, long), long, "raw")
            if loaded and "replay" not in args.skip:
                attempt("replay", lambda: replay_landing(report, long), long, "replay")
        if loaded:
            with phase(report, f"2. full dbt build from raw, {long.label}"):
                built = attempt("dbt build", lambda: dbt_full_build(report, long), long, "build")
            if built:
                attempt(
                    "first publication", lambda: first_publication(report, long), long, "publish"
                )
                attempt(
                    "previous morning", lambda: previous_morning(report, long), long, "previous"
                )
            if built and "direct" not in args.skip:
                with phase(report, "6. the same model SQL directly on DuckDB, without dbt"):
                    attempt("direct SQL", lambda: direct_sql(report, long), long, "direct")
            if "pandas" not in args.skip:
                with phase(report, "5. the same marts by a plain pandas script"):
                    attempt("pandas", lambda: pandas_baseline(report, long), long, "pandas")
            if built and "queries" not in args.skip:
                with phase(report, "4. example BI queries"):
                    attempt("BI queries", lambda: bi_queries(report, long), long, "queries")
            if built:
                with phase(report, f"3a. one-day refresh, {long.label} of history"):
                    attempt(
                        "one-day refresh (long)", lambda: one_day(report, long, day), long, "day"
                    )
                    if "cli" not in args.skip:
                        attempt(
                            "one-day CLI (long)",
                            lambda: one_day_cli(report, long, next_day),
                            long,
                            "day_cli",
                        )
                    attempt(
                        "one-day, in-memory instance (long)",
                        lambda: one_day_in_memory(report, long, third_day),
                        long,
                        "day_memory",
                    )
        if "short" not in args.skip:
            with phase(report, f"3b. one-day refresh, {short.label} of history"):
                ok = attempt("raw load (short)", lambda: _quiet_load(short), short, "raw")
                ok = ok and attempt(
                    "dbt build (short)",
                    lambda: dbt_full_build(Report(), short, verbose=False),
                    short,
                    "build",
                )
                ok = ok and attempt(
                    "first publication (short)",
                    lambda: first_publication(Report(), short),
                    short,
                    "publish",
                )
                ok = ok and attempt(
                    "previous morning (short)",
                    lambda: previous_morning(Report(), short),
                    short,
                    "previous",
                )
                if ok:
                    b = short.results["build"]
                    report(f"   [{short.label}] set-up: raw load {short.results['raw']['seconds']:.1f} s, "
                           f"full dbt build {b['seconds']:.1f} s (not the figure)")  # fmt: skip
                    attempt(
                        "one-day refresh (short)", lambda: one_day(report, short, day), short, "day"
                    )
                    if "cli" not in args.skip:
                        attempt(
                            "one-day CLI (short)",
                            lambda: one_day_cli(report, short, next_day),
                            short,
                            "day_cli",
                        )
            if "day" in long.results and "day" in short.results:
                _compare_days(report, long, short)
        if "backfill" not in args.skip:
            backfill_phase()
        summary(report, args, long, short, errors)
        report(calibration_line("start", speed_at_start))
        report(calibration_line("end", calibration()))
        report(f"   total benchmark time {(time.perf_counter() - started) / 60:.1f} min")
    finally:
        if args.output:
            _append_output(args.output, long, args, commit)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if errors else 0


def _label(months: int) -> str:
    if months % 12 == 0:
        return f"{months // 12} year" + ("s" if months != 12 else "")
    return f"{months} months"


def _quiet_load(wh: Warehouse) -> dict[str, Any]:
    return load_raw(_Silent(), wh)


class _Silent(Report):
    def __call__(self, text: str = "") -> None:  # noqa: D401 - a report that prints nothing
        pass


def _compare_days(report: Report, long: Warehouse, short: Warehouse) -> None:
    """Where the one-day refresh grows with history: steps and dbt nodes side by side."""
    lo, sh = long.results["day"], short.results["day"]
    report(
        f"   one-day refresh, {long.label} vs {short.label}: the slowest steps, and the dbt nodes that grow most"
    )
    rows = []
    for step in sorted(lo["steps"], key=lambda s: -lo["steps"][s]):
        rows.append([_short_step(step), secs(sh["steps"].get(step)), secs(lo["steps"][step]),
                     f"{lo['steps'][step] - sh['steps'].get(step, 0.0):+.2f} s"])  # fmt: skip
    report.table(["step", short.label, long.label, "difference"], rows[:10])
    long_nodes = {n["id"]: n for nodes in lo["dbt_nodes"].values() for n in nodes}
    short_nodes = {n["id"]: n for nodes in sh["dbt_nodes"].values() for n in nodes}
    diffs = sorted(
        long_nodes,
        key=lambda uid: (
            -(long_nodes[uid]["seconds"] - short_nodes.get(uid, {"seconds": 0})["seconds"])
        ),
    )
    rows = [
        [long_nodes[u]["kind"], long_nodes[u]["name"][:60],
         secs(short_nodes[u]["seconds"]) if u in short_nodes else "-", secs(long_nodes[u]["seconds"])]
        for u in diffs[:12]
    ]  # fmt: skip
    report()
    report.table(["dbt node", "name", short.label, long.label], rows)


HISTORY_COLUMNS = [
    "date (UTC)", "commit", "securities x years", "raw load (s)", "full build (s)",
    "build peak (GiB)", "one-day in-process (s)", "one-day new process (s)",
    "slowest BI median (ms)", "pandas / dbt build", "skipped",
]  # fmt: skip


def history_row(stamp: str, commit: str, args: argparse.Namespace, long: Warehouse) -> str:
    """One Markdown table row per run for benchmarks/HISTORY.md (columns: HISTORY_COLUMNS),
    with the long warehouse's figures; '-' where a phase was skipped or failed."""
    r = long.results

    def fig(value: float | None, digits: int = 1) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    build_ok = "build" in r and r["build"]["code"] == 0
    medians = r.get("queries", {}).get("medians_ms", {})
    cells = [
        stamp,
        commit,
        f"{args.securities} x {args.years:g}",
        fig(r["raw"]["seconds"]) if "raw" in r else "-",
        fig(r["build"]["seconds"]) if build_ok else "-",
        fig(r["build"]["peak_bytes"] / GIB, 2) if "build" in r else "-",
        fig(r["day"]["seconds"], 2) if "day" in r else "-",
        fig(r["day_cli"]["seconds"], 2) if "day_cli" in r else "-",
        fig(max(medians.values())) if medians else "-",
        f"{r['pandas']['seconds'] / r['build']['seconds']:.2f}x"
        if "pandas" in r and build_ok
        else "-",
        " ".join(args.skip) or "-",
    ]
    return "| " + " | ".join(cells) + " |"


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT,
                             capture_output=True, text=True, timeout=10)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "-"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                           cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)  # fmt: skip
    commit = out.stdout.strip() or "-"
    return f"{commit}+changes" if commit != "-" and dirty.stdout.strip() else commit


def _append_output(path: Path, long: Warehouse, args: argparse.Namespace, commit: str) -> None:
    """Append this run's row to the history table, writing the header if the file is new."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M")
    lines = []
    if not path.exists() or not path.read_text(encoding="utf-8").strip():
        lines += ["| " + " | ".join(HISTORY_COLUMNS) + " |",
                  "|" + "---|" * len(HISTORY_COLUMNS)]  # fmt: skip
    lines.append(history_row(stamp, commit, args, long))
    with open(path, "a", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
