"""The published snapshot, Parquet exports and report (issue 6), through the real
Definitions: readers never block a refresh and never see half of one."""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from conftest import make_settings

from margin_wh.publish.parquet import MANIFEST_NAME, export_parquet, parquet_dir, read_manifest
from margin_wh.publish.report import REPORT_NAME, VIEW_TITLES
from margin_wh.publish.snapshot import (
    PublishError,
    publish_snapshot,
    snapshot_path,
    storage_version_of,
    table_rows,
)
from margin_wh.sources import DemoSource
from margin_wh.sources.demo import DEMO_LABEL
from orchestration.assets.publish import PARQUET_KEY, REPORT_KEY, SNAPSHOT_KEY
from orchestration.runner import RefreshError, refresh

NEXT_DAY = dt.date(2024, 8, 1)  # the fixture's warehouse ends on 2024-07-31
DAY_AFTER = dt.date(2024, 8, 2)
DUCKDB_14_PYTHON = (
    Path(os.environ.get("DUCKDB_14_VENV", "/tmp/margin_wh_duckdb_1_4_venv")) / "bin" / "python"
)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _content(path: Path, schema: str = "marts") -> dict[str, tuple[int, int]]:
    """(rows, hash of every row) per table: equal iff the tables hold the same rows."""
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute(
            "select table_name from information_schema.tables where table_schema = ? "
            "and table_catalog = current_database() order by 1",
            [schema],
        ).fetchall()
        return {
            name: tuple(
                con.execute(
                    f"select count(*), coalesce(bit_xor(hash(t)), 0) from {schema}.{name} as t"
                ).fetchall()[0]
            )
            for (name,) in tables
        }


def _mart_names(graph) -> set[dg.AssetKey]:
    return {k for k in graph.get_all_asset_keys() if k.path[0] == "marts"}


@pytest.fixture(scope="module")
def own_warehouse(warehouse, tmp_path_factory):
    """A copy of the session warehouse (database, landing zone, published files) with its
    own Dagster instance, so these tests can add days without touching the shared one."""
    from orchestration.definitions import build_definitions

    root = tmp_path_factory.mktemp("publish")
    source = warehouse.settings
    shutil.copy2(source.db_path, root / "warehouse.duckdb")
    wal = source.db_path.with_name(source.db_path.name + ".wal")
    if wal.exists():
        shutil.copy2(wal, root / "warehouse.duckdb.wal")
    shutil.copytree(source.landing_dir, root / "landing")
    shutil.copytree(source.publish_dir, root / "published", symlinks=True)
    settings = make_settings(root)
    return settings, dg.DagsterInstance.ephemeral(), build_definitions(settings)


# ---------------------------------------------------------------- snapshot
def test_publish_assets_follow_every_mart(warehouse):
    graph = warehouse.defs.resolve_asset_graph()
    marts = _mart_names(graph)
    assert len(marts) >= 8
    assert marts <= set(graph.get(SNAPSHOT_KEY).parent_keys)
    for key in (PARQUET_KEY, REPORT_KEY):
        assert graph.get(key).parent_keys == {SNAPSHOT_KEY}
        assert not graph.get(key).is_partitioned
    assert not graph.get(SNAPSHOT_KEY).is_partitioned
    event = warehouse.instance.get_latest_materialization_event(REPORT_KEY)
    metadata = event.asset_materialization.metadata
    assert metadata["path"].value == str(warehouse.settings.publish_dir / REPORT_NAME)
    snapshot = warehouse.instance.get_latest_materialization_event(SNAPSHOT_KEY)
    assert snapshot.asset_materialization.metadata["storage_version"].value == "v1.4.0"


def test_snapshot_equals_the_warehouse_marts(warehouse):
    path = snapshot_path(warehouse.settings.publish_dir)
    assert path.exists()
    published, built = _content(path), _content(warehouse.settings.db_path)
    assert published == built and len(published) >= 8
    assert table_rows(path, ["reference"]) == table_rows(warehouse.settings.db_path, ["reference"])
    # DuckDB 1.4 LTS clients read this format; the warehouse itself is newer.
    assert storage_version_of(path) == "v1.4.0+"
    with duckdb.connect(str(path), read_only=True) as con:
        source, label, last = con.execute(
            "select source, data_label, last_trade_date from main.snapshot_info"
        ).fetchall()[0]
    assert (source, label, last) == ("demo", DEMO_LABEL, warehouse.last_day)
    assert not list(warehouse.settings.publish_dir.glob(".warehouse_snapshot.*"))


def test_failed_publish_leaves_the_snapshot_and_no_temporary_file(tmp_path, warehouse):
    publish_dir = tmp_path / "published"
    shutil.copytree(warehouse.settings.publish_dir, publish_dir, symlinks=True)
    before = _sha256(snapshot_path(publish_dir))
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    with pytest.raises(PublishError, match="no tables in schema marts"):
        publish_snapshot(empty, publish_dir, source="demo")
    assert _sha256(snapshot_path(publish_dir)) == before
    assert not list(publish_dir.glob(".warehouse_snapshot.*"))


def test_publish_clears_temporaries_of_dead_publishes_only(tmp_path, warehouse):
    """A killed publish leaves `.warehouse_snapshot.<pid>.tmp.duckdb` (and its .wal): the
    next publish removes those whose process is gone, at once, and leaves a running one's."""
    finished = subprocess.Popen(["true"])
    finished.wait()
    running_process = subprocess.Popen(["sleep", "60"])
    try:
        dead = tmp_path / f".warehouse_snapshot.{finished.pid}.tmp.duckdb"
        dead_wal = tmp_path / f".warehouse_snapshot.{finished.pid}.tmp.duckdb.wal"
        running = tmp_path / f".warehouse_snapshot.{running_process.pid}.tmp.duckdb"
        for path in (dead, dead_wal, running):
            path.write_bytes(b"half a snapshot")
        result = publish_snapshot(warehouse.settings.db_path, tmp_path, source="demo")
        assert result.path.exists() and running.exists()
        assert not dead.exists() and not dead_wal.exists()
    finally:
        running_process.kill()
        running_process.wait()


# ---------------------------------------------------------------- readers and refreshes
READER = textwrap.dedent(
    """
    import sys, duckdb
    path = sys.argv[1]
    def last(con):
        return con.execute("select max(trade_date) from marts.fct_market_short_daily").fetchall()[0][0]
    con = duckdb.connect(path, read_only=True)
    print("open", last(con), flush=True)
    sys.stdin.readline()                     # held open, read-only, while the refresh runs
    print("still", last(con), flush=True)    # the old snapshot: its file outlives the rename
    con.close()
    con = duckdb.connect(path, read_only=True)
    print("reconnected", last(con), flush=True)
    con.close()
    """
)


def test_reader_holding_the_snapshot_does_not_block_refresh_and_sees_new_day(own_warehouse):
    settings, instance, defs = own_warehouse
    path = snapshot_path(settings.publish_dir)
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout.readline().split() == ["open", "2024-07-31"]
        result = refresh(settings, NEXT_DAY, NEXT_DAY, instance, defs=defs)
        assert result.last_day == NEXT_DAY
        out, err = reader.communicate("go\n", timeout=60)
    finally:
        reader.kill()
    assert reader.returncode == 0, err
    assert out.split("\n")[:2] == ["still 2024-07-31", f"reconnected {NEXT_DAY}"]
    assert _content(path) == _content(settings.db_path)
    assert read_manifest(settings.publish_dir)["marts"]  # exported from the new snapshot
    for mart in read_manifest(settings.publish_dir)["marts"]:
        if mart["mart"] == "fct_market_short_daily":
            assert mart["max_trade_date"] == NEXT_DAY.isoformat()
    assert NEXT_DAY.isoformat() in (settings.publish_dir / REPORT_NAME).read_text()


def test_a_refused_dataset_publishes_the_rest_and_marks_it_stale(own_warehouse, monkeypatch):
    """A frame refused at load (a column akshare renamed, say) fails the refresh; the
    models that do not read it are built and published, the ones that do keep their last
    good day, and the snapshot and report say which dataset is stale since when."""
    settings, instance, defs = own_warehouse
    published = settings.publish_dir
    with duckdb.connect(str(snapshot_path(published)), read_only=True) as con:
        last_before = con.execute("select max(trade_date) from marts.fct_balance_to_float").fetchone()[0]
    real_call = DemoSource.call

    def malformed(self, function, **kwargs):
        frame = real_call(self, function, **kwargs)
        if function == "stock_margin_detail_szse":  # a column akshare renamed, say
            frame = frame.drop(columns=frame.columns[-1])
        return frame

    monkeypatch.setattr(DemoSource, "call", malformed)
    with pytest.raises(RefreshError, match="stock_margin_detail_szse") as error:
        refresh(settings, DAY_AFTER, DAY_AFTER, instance, defs=defs)
    assert f"stock_margin_detail_szse: stale since {DAY_AFTER}" in str(error.value)
    with duckdb.connect(str(snapshot_path(published)), read_only=True) as con:
        stale = con.execute(
            "select dataset, stale_since from main.dataset_freshness where is_stale order by dataset"
        ).fetchall()
        last_after = con.execute("select max(trade_date) from marts.fct_balance_to_float").fetchone()[0]
    # the funds' quotes are asked for from the day's margin lists, so they wait for them too
    assert stale == [("fund_etf_hist_sina", DAY_AFTER), ("stock_margin_detail_szse", DAY_AFTER)]
    assert last_after == last_before < DAY_AFTER  # the margin marts keep their last good day
    assert f"stock_margin_detail_szse since {DAY_AFTER}" in (published / REPORT_NAME).read_text()
    assert not list(published.glob(".warehouse_snapshot.*"))


# ---------------------------------------------------------------- Parquet
def test_parquet_manifest_matches_the_files(warehouse):
    publish_dir = warehouse.settings.publish_dir
    manifest = read_manifest(publish_dir)
    root = parquet_dir(publish_dir).resolve()
    assert manifest["source"] == "demo" and manifest["data_label"] == DEMO_LABEL
    listed = {f["path"] for m in manifest["marts"] for f in m["files"]}
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*.parquet")}
    assert listed == on_disk
    rows = table_rows(snapshot_path(publish_dir), ["marts"])
    assert {f"marts.{m['mart']}": m["rows"] for m in manifest["marts"]} == rows
    with duckdb.connect() as con:
        for mart in manifest["marts"]:
            for file in mart["files"]:
                (n,) = con.execute(f"select count(*) from '{root / file['path']}'").fetchall()[0]
                assert n == file["rows"], file
            described = con.execute(
                f"describe select * from read_parquet('{root / mart['glob']}', hive_partitioning = true)"
            ).fetchall()
            columns = [
                {"name": c[0], "type": c[1]} for c in described if c[0] not in mart["partition_by"]
            ]
            assert columns == mart["columns"], mart["mart"]
            if mart["min_trade_date"]:
                lo, hi = con.execute(
                    f"select min(trade_date), max(trade_date) from '{root / mart['glob']}'"
                ).fetchall()[0]
                assert (lo.isoformat(), hi.isoformat()) == (
                    mart["min_trade_date"],
                    mart["max_trade_date"],
                )


def test_parquet_partitions_by_year_and_swaps_versions(tmp_path, warehouse):
    snapshot = snapshot_path(warehouse.settings.publish_dir)
    first = export_parquet(snapshot, tmp_path, source="demo", partition_min_rows=1_000)
    second = export_parquet(snapshot, tmp_path, source="demo", partition_min_rows=1_000)
    assert parquet_dir(tmp_path).resolve() == second.version_dir != first.version_dir
    assert first.version_dir.exists()  # kept for readers still on it, until the next one
    third = export_parquet(snapshot, tmp_path, source="demo", partition_min_rows=1_000)
    assert not first.version_dir.exists() and third.version_dir.exists()
    layout = {m["mart"]: m for m in third.manifest["marts"]}
    detail = layout["fct_balance_to_float"]
    assert detail["layout"] == "partitioned_by_year" and detail["partition_by"] == ["year"]
    assert all(f["path"].startswith("fct_balance_to_float/year=2024/") for f in detail["files"])
    assert layout["dim_policy_event"]["layout"] == "single_file"
    with duckdb.connect() as con:
        (n,) = con.execute(
            f"select count(*) from read_parquet('{parquet_dir(tmp_path)}/fct_balance_to_float/**/*.parquet', "
            "hive_partitioning = true) where year = 2024"
        ).fetchall()[0]
    assert n == detail["rows"]
    assert json.loads((parquet_dir(tmp_path) / MANIFEST_NAME).read_text()) == third.manifest


# ---------------------------------------------------------------- report
def test_report_is_self_contained_and_has_every_view(warehouse):
    page = (warehouse.settings.publish_dir / REPORT_NAME).read_text(encoding="utf-8")
    assert not re.search(
        r"<(script|link|img|iframe)\b[^>]*\b(src|href)\s*=\s*[\"']?(https?:)?//", page
    )
    assert "Plotly" in page and len(page) > 3_000_000  # plotly.js inlined, no CDN
    assert page.count("<div class='figure'>") == 7  # the industry event windows a heatmap
    for title in VIEW_TITLES.values():
        assert html.escape(title) in page, title
    assert "SYNTHETIC DEMO DATA" in page and html.escape(DEMO_LABEL) in page
    assert warehouse.last_day.isoformat() in page
    assert "证监会暂停转融券业务" in page  # the 2024-07-11 policy event is marked
    # the signals of the last days, the list changes and the leverage figures are shown
    assert "空头回补 short squeeze at the limit" in page and "调出融券标的 short removed" in page
    assert "平均维持担保比例 Average maintenance ratio" in page
    # the repayment rate read against its alert line from reference.signal_thresholds
    assert re.search(r"(above|below) the alert line \(\d+%\)", page)


# ---------------------------------------------------------------- DuckDB 1.4 client
@pytest.mark.skipif(
    not DUCKDB_14_PYTHON.exists(),
    reason="no DuckDB 1.4 environment: run scripts/check_snapshot_with_duckdb_1_4.sh once",
)
def test_snapshot_opens_with_duckdb_1_4(warehouse):
    path = snapshot_path(warehouse.settings.publish_dir)
    code = (
        "import sys, duckdb; assert duckdb.__version__.startswith('1.4.'), duckdb.__version__; "
        "con = duckdb.connect(sys.argv[1], read_only=True); "
        'print(con.execute("select count(*), coalesce(bit_xor(hash(t)), 0) from marts.fct_balance_to_float as t").fetchall()[0])'
    )
    out = subprocess.run(
        [str(DUCKDB_14_PYTHON), "-c", code, str(path)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(_content(path)["fct_balance_to_float"])


def test_parquet_export_reuses_unchanged_years_and_rewrites_changed_ones(tmp_path):
    """A daily publish must not rewrite ten years of Parquet: years whose rows did not
    change are hard-linked from the previous version; a changed year is written anew."""
    from margin_wh.publish.parquet import export_parquet, parquet_dir

    db = tmp_path / "snap.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.fct_example as select (date '2022-12-20' + cast(i as integer)) as trade_date, "
            "i * 1.5 as value_cny from range(30) t(i)"
        )
    publish = tmp_path / "published"
    export_parquet(db, publish, source="demo", partition_min_rows=1)
    before = {p.relative_to(parquet_dir(publish)): p.stat().st_ino
              for p in parquet_dir(publish).rglob("*.parquet")}
    with duckdb.connect(str(db)) as con:  # change one 2023 row only
        con.execute("update marts.fct_example set value_cny = -1 where trade_date = date '2023-01-05'")
    export_parquet(db, publish, source="demo", partition_min_rows=1)
    after = {p.relative_to(parquet_dir(publish)): p.stat().st_ino
             for p in parquet_dir(publish).rglob("*.parquet")}
    manifest = json.loads((parquet_dir(publish) / "manifest.json").read_text())
    entry = manifest["marts"][0]
    assert entry["files_reused_from_previous_version"] == 1
    years_2022 = [p for p in after if "year=2022" in str(p)]
    years_2023 = [p for p in after if "year=2023" in str(p)]
    assert years_2022 and all(after[p] == before[p] for p in years_2022)  # same inode: linked
    assert all(after[p] != before.get(p) for p in years_2023)  # rewritten
    with duckdb.connect() as con:
        exported = con.execute(
            f"select trade_date, value_cny from read_parquet('{parquet_dir(publish)}/fct_example/**/*.parquet') order by 1"
        ).fetchall()
    with duckdb.connect(str(db), read_only=True) as con:
        expected = con.execute("select trade_date, value_cny from marts.fct_example order by 1").fetchall()
    assert exported == expected
    assert sum(f["rows"] for f in entry["files"]) == entry["rows"] == 30


def test_incremental_snapshot_equals_the_warehouse_after_changes(tmp_path):
    """The second publish starts from a copy of the first and rewrites only changed years
    and tables; the result must still equal the warehouse exactly, in v1.4.0 storage."""
    from margin_wh.publish.snapshot import publish_snapshot, snapshot_path

    db = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create schema marts; create schema reference")
        con.execute(
            "create table marts.fct_balance_to_float as select (date '2022-12-01' + cast(i % 90 as integer)) "
            "as trade_date, lpad(cast(i // 90 as varchar), 6, '0') as security_code, i * 0.5 as short_balance_cny "
            "from range(900) t(i)"
        )
        con.execute("create table marts.dim_small as select 1 as id, 'a' as label")
        con.execute("create table marts.dropped_later as select 1 as id")
        con.execute("create table reference.seed as select 1 as code")
    publish = tmp_path / "published"
    publish_snapshot(db, publish, source="demo")
    with duckdb.connect(str(db)) as con:
        con.execute("update marts.fct_balance_to_float set short_balance_cny = -1 where trade_date = date '2023-02-01'")
        con.execute("insert into marts.fct_balance_to_float values (date '2023-03-01', '000001', 7.0)")
        con.execute("update marts.dim_small set label = 'b'")
        con.execute("drop table marts.dropped_later")
        con.execute("alter table reference.seed add column name varchar")
    publish_snapshot(db, publish, source="demo")
    snapshot = snapshot_path(publish)
    assert storage_version_of(snapshot) == "v1.4.0+"
    with duckdb.connect() as con:
        con.execute(f"attach '{db}' as w (read_only)")
        con.execute(f"attach '{snapshot}' as s (read_only)")
        for table in ("marts.fct_balance_to_float", "marts.dim_small", "reference.seed"):
            for a, b in (("w", "s"), ("s", "w")):
                diff = con.execute(f"select count(*) from (select * from {a}.{table} except all select * from {b}.{table})").fetchone()[0]
                assert diff == 0, (table, a, b)
        tables = {r[0] for r in con.execute("select table_name from duckdb_tables() where database_name = 's'").fetchall()}
    assert "dropped_later" not in tables and "snapshot_info" in tables


def test_publish_keeps_unchanged_constrained_marts(tmp_path, monkeypatch):
    """The marts carry NOT NULL and CHECK constraints that the snapshot's copies do not:
    that difference alone must not look like a new schema (a full re-copy of every mart
    on every publish)."""
    from margin_wh.publish import snapshot as snap

    db = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create schema marts; create schema reference")
        con.execute(
            "create table marts.fct_daily (trade_date date not null, "
            "short_balance_cny double check (short_balance_cny >= 0))"
        )
        con.execute(
            "insert into marts.fct_daily select date '2024-01-01' + cast(i as integer), i from range(10) t(i)"
        )
    publish = tmp_path / "published"
    snap.publish_snapshot(db, publish, source="demo")
    compared = []
    real = snap._fingerprints
    monkeypatch.setattr(
        snap, "_fingerprints", lambda con, catalog, q, by_year: compared.append(q) or real(con, catalog, q, by_year)
    )
    snap.publish_snapshot(db, publish, source="demo")
    # compared year by year (both sides), not dropped and copied again
    assert compared.count('"marts"."fct_daily"') == 2


def test_the_report_shows_the_latest_days_signals_apart_and_the_latest_list_changes(warehouse):
    """The signals table of the report's day holds only that day's signals; the history
    below it is labelled as history; the list changes shown are the mart's latest, whatever
    their date."""
    from margin_wh.publish.report import load_report_data

    with duckdb.connect(str(snapshot_path(warehouse.settings.publish_dir)), read_only=True) as con:
        data = load_report_data(con)
        latest_changes = con.execute(
            "select max(trade_date) from marts.fct_margin_eligibility_event"
        ).fetchone()[0]
    assert set(data.signals_latest_day["trade_date"].dt.date) <= {data.last_day}
    assert (data.signals["trade_date"].dt.date < data.last_day).all()
    assert not data.eligibility.empty and latest_changes is not None
    assert data.eligibility["trade_date"].dt.date.max() == latest_changes
    page = (warehouse.settings.publish_dir / REPORT_NAME).read_text(encoding="utf-8")
    assert "Signal history 信号历史" in page
    assert "have not changed since" not in page
    # the split by exchange and the days-to-cover ranking of the report's day
    assert list(data.by_exchange["exchange"]) == ["SSE", "SZSE", "BSE"]
    cover = data.days_to_cover["days_to_cover"]
    assert len(cover) and cover.is_monotonic_decreasing and cover.notna().all()
