"""The marts as Parquet files, with a manifest, for tools that prefer files to a database.

Layout under `<publish_dir>`:

    parquet -> .parquet_versions/<version>        a symlink, swapped atomically
    .parquet_versions/<version>/manifest.json
    .parquet_versions/<version>/<mart>/<mart>.parquet              small marts
    .parquet_versions/<version>/<mart>/year=<yyyy>/data_0.parquet  large marts with trade_date

Readers use `parquet/…`. A publish writes a complete new version directory beside the
current one, then points the `parquet` symlink at it with one rename (os.replace of a
symlink is atomic on POSIX): a path resolved through `parquet/` belongs to the old
version or the new one, never a half-written one. The previous version is kept until
the next publish, so a reader still reading it is not cut off; older ones are deleted.
A reader that wants one consistent version across several files resolves the symlink
once (os.path.realpath / readlink) or reads the files the manifest lists.

Marts with a trade_date column and at least `partition_min_rows` rows are partitioned by
calendar year (hive style, `year=2024/`); read them with
`read_parquet('parquet/<mart>/**/*.parquet', hive_partitioning = true)`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from margin_wh.publish.snapshot import _ident, _sql_string, list_tables, remove_stale_temporaries

PARQUET_LINK = "parquet"
VERSIONS_DIR = ".parquet_versions"
MANIFEST_NAME = "manifest.json"
PARTITION_MIN_ROWS = 100_000
PARTITION_COLUMN = "year"
COMPRESSION = "zstd"
KEEP_VERSIONS = 2  # the current one and the one before it


@dataclass(frozen=True)
class ParquetResult:
    path: Path  # <publish_dir>/parquet (the symlink readers use)
    version_dir: Path
    manifest_path: Path
    manifest: dict
    size_bytes: int
    seconds: float

    @property
    def mart_rows(self) -> dict[str, int]:
        return {m["mart"]: m["rows"] for m in self.manifest["marts"]}


def parquet_dir(publish_dir: Path) -> Path:
    return Path(publish_dir) / PARQUET_LINK


def _columns(con: duckdb.DuckDBPyConnection, relation: str) -> list[dict[str, str]]:
    return [
        {"name": name, "type": str(type_)}
        for name, type_, *_ in con.execute(f"describe {relation}").fetchall()
    ]


def _year_fingerprints(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, list[int]]:
    """Per calendar year: [rows, XOR of row hashes]. Rows are unique by the mart's key, so
    equal fingerprints mean an unchanged year, which the export leaves as it is."""
    return {
        str(year): [int(rows), int(digest)]
        for year, rows, digest in con.execute(
            f"select year(trade_date), count(*), bit_xor(hash(t)) from {relation} t group by 1"
        ).fetchall()
    }


def _reusable_years(previous: dict | None, columns: list, fingerprints: dict) -> set[str]:
    """Years whose files the previous version can lend (same columns, same fingerprint)."""
    if not previous or previous.get("columns") != columns:
        return set()
    old = previous.get("year_fingerprints") or {}
    return {year for year, fingerprint in fingerprints.items() if old.get(year) == fingerprint}


def _export_mart(
    con: duckdb.DuckDBPyConnection,
    name: str,
    out_dir: Path,
    partition_min_rows: int,
    previous: tuple[Path, dict] | None = None,
) -> dict:
    relation = f"marts.{_ident(name)}"
    columns = _columns(con, relation)
    has_trade_date = any(c["name"] == "trade_date" for c in columns)
    rows, first_day, last_day = con.execute(
        f"select count(*), min(trade_date), max(trade_date) from {relation}"
        if has_trade_date
        else f"select count(*), null, null from {relation}"
    ).fetchall()[0]
    mart_dir = out_dir / name
    mart_dir.mkdir()
    order = " order by trade_date" if has_trade_date else ""
    partitioned = has_trade_date and rows >= partition_min_rows
    fingerprints: dict[str, list[int]] = {}
    reused: dict[str, dict] = {}
    if partitioned:
        # A daily refresh changes the last year or two: the other years' files are
        # hard-linked from the previous version instead of being written again.
        fingerprints = _year_fingerprints(con, relation)
        previous_dir, previous_entry = previous if previous else (None, None)
        keep = _reusable_years(previous_entry, columns, fingerprints)
        for entry in (previous_entry or {}).get("files", []):
            year = entry["path"].split(f"{PARTITION_COLUMN}=")[-1].split("/")[0]
            source = previous_dir / entry["path"] if previous_dir else None
            if year in keep and source is not None and source.exists():
                target = out_dir / entry["path"]
                target.parent.mkdir(parents=True, exist_ok=True)
                os.link(source, target)
                reused[entry["path"]] = entry
        linked_years = {p.split(f"{PARTITION_COLUMN}=")[-1].split("/")[0] for p in reused}
        fresh = sorted(set(fingerprints) - linked_years)
        if fresh:
            staging = out_dir / f".{name}.fresh"
            con.execute(
                f"copy (select *, year(trade_date) as {PARTITION_COLUMN} from {relation} "
                f"where year(trade_date) in ({', '.join(fresh)}){order}) "
                f"to {_sql_string(staging)} (format parquet, compression {COMPRESSION}, "
                f"partition_by ({PARTITION_COLUMN}))"
            )
            for year_dir in staging.iterdir():
                os.rename(year_dir, mart_dir / year_dir.name)
            staging.rmdir()
    else:
        con.execute(
            f"copy (select * from {relation}{order}) to {_sql_string(mart_dir / f'{name}.parquet')} "
            f"(format parquet, compression {COMPRESSION})"
        )
    files = []
    for path in sorted(mart_dir.rglob("*.parquet")):
        relative = path.relative_to(out_dir).as_posix()
        if relative in reused:
            files.append(reused[relative])
            continue
        (file_rows,) = con.execute(
            f"select count(*) from read_parquet({_sql_string(path)})"
        ).fetchall()[0]
        files.append({"path": relative, "rows": file_rows, "bytes": path.stat().st_size})
    return {
        "mart": name,
        "table": f"marts.{name}",
        "layout": "partitioned_by_year" if partitioned else "single_file",
        "partition_by": [PARTITION_COLUMN] if partitioned else [],
        "glob": f"{name}/**/*.parquet",
        "rows": rows,
        "min_trade_date": first_day.isoformat() if first_day else None,
        "max_trade_date": last_day.isoformat() if last_day else None,
        "columns": columns,
        "files": files,
        **({"year_fingerprints": fingerprints} if partitioned else {}),
        "files_reused_from_previous_version": len(reused),
    }


# The snapshot's freshness tables (margin_wh/publish/snapshot.py), carried into the manifest.
FRESHNESS_TABLES = {
    "marts": "mart_freshness",
    "datasets": "dataset_freshness",
    "missing_symbols": "missing_symbols",
}


def _freshness(con: duckdb.DuckDBPyConnection, catalog: str) -> dict[str, list[dict]]:
    """{marts, datasets, missing_symbols: rows as JSON} from the snapshot's main.* tables;
    an older snapshot's absent table is an empty list."""
    present = {name for _, name in list_tables(con, catalog, ["main"])}
    out: dict[str, list[dict]] = {}
    for key, table in FRESHNESS_TABLES.items():
        if table not in present:
            out[key] = []
            continue
        result = con.execute(f"select * from main.{_ident(table)}")
        columns = [d[0] for d in result.description]
        out[key] = [
            {c: (v.isoformat() if isinstance(v, dt.date | dt.datetime) else v)
             for c, v in zip(columns, row, strict=True)}
            for row in result.fetchall()
        ]  # fmt: skip
    return out


def _previous_version(publish_dir: Path) -> tuple[Path, dict[str, dict]] | None:
    """The version the parquet link points at now, with its manifest entries by mart."""
    link = parquet_dir(publish_dir)
    manifest = link / MANIFEST_NAME
    if not manifest.exists():
        return None
    try:
        entries = json.loads(manifest.read_text())["marts"]
    except (ValueError, KeyError):
        return None
    return link.resolve(), {entry["mart"]: entry for entry in entries}


def _swap_link(publish_dir: Path, version_dir: Path) -> None:
    """Point <publish_dir>/parquet at version_dir in one atomic rename."""
    link = parquet_dir(publish_dir)
    if link.exists() and not link.is_symlink():  # a plain directory from elsewhere
        shutil.rmtree(link)
    tmp_link = publish_dir / f".{PARQUET_LINK}.{os.getpid()}.tmp-link"
    with contextlib.suppress(FileNotFoundError):
        tmp_link.unlink()
    os.symlink(version_dir.relative_to(publish_dir), tmp_link, target_is_directory=True)
    os.replace(tmp_link, link)


def _prune(publish_dir: Path, keep: set[Path]) -> None:
    versions = publish_dir / VERSIONS_DIR
    finished = sorted(
        (p for p in versions.iterdir() if p.is_dir() and not p.name.endswith(".tmp")),
        key=lambda p: p.name,
    )
    for old in finished[:-KEEP_VERSIONS]:
        if old not in keep:
            shutil.rmtree(old, ignore_errors=True)
    remove_stale_temporaries(versions, "*.tmp")  # from publishes that died half-way
    remove_stale_temporaries(publish_dir, f".{PARQUET_LINK}.*.tmp-link")


def export_parquet(
    snapshot: Path,
    publish_dir: Path,
    *,
    source: str,
    data_label: str | None = None,
    partition_min_rows: int = PARTITION_MIN_ROWS,
) -> ParquetResult:
    """Write every table of schema marts in the DuckDB file `snapshot` (opened read-only)
    to a new Parquet version under `publish_dir`, with manifest.json, and swap it in."""
    started = time.perf_counter()
    publish_dir = Path(publish_dir)
    generated_at = dt.datetime.now(dt.UTC)
    version = generated_at.strftime("%Y%m%dT%H%M%S.%fZ")
    versions = publish_dir / VERSIONS_DIR
    versions.mkdir(parents=True, exist_ok=True)
    work = versions / f"{version}.{os.getpid()}.tmp"
    final = versions / version
    try:
        work.mkdir()
        with duckdb.connect(str(snapshot), read_only=True) as con:
            catalog = con.execute("select current_database()").fetchall()[0][0]
            marts = [name for _, name in list_tables(con, catalog, ["marts"])]
            if not marts:
                raise RuntimeError(f"no tables in schema marts in {snapshot}: nothing to export")
            previous = _previous_version(publish_dir)
            entries = [
                _export_mart(
                    con, name, work, partition_min_rows,
                    (previous[0], previous[1][name]) if previous and name in previous[1] else None,
                )
                for name in marts
            ]
            freshness = _freshness(con, catalog)
        manifest = {
            "generated_at": generated_at.isoformat(timespec="seconds"),
            "version": version,
            "source": source,
            "data_label": data_label,
            "snapshot": Path(snapshot).name,
            "format": {"type": "parquet", "compression": COMPRESSION},
            "partitioning": (
                f"marts with a trade_date column and at least {partition_min_rows:,} rows "
                f"are partitioned by calendar year of trade_date (hive style, "
                f"{PARTITION_COLUMN}=<yyyy>/); the others are one file"
            ),
            "read_with": "select * from read_parquet('parquet/<mart>/**/*.parquet', "
            "hive_partitioning = true)",
            "marts": entries,
            # what the snapshot says of its own freshness: the marts not built or stale,
            # the datasets that lag, the symbols that could not load
            "freshness": freshness,
        }
        (work / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        os.rename(work, final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    _swap_link(publish_dir, final)
    _prune(publish_dir, keep={final})
    size = sum(p.stat().st_size for p in final.rglob("*") if p.is_file())
    return ParquetResult(
        path=parquet_dir(publish_dir),
        version_dir=final,
        manifest_path=parquet_dir(publish_dir) / MANIFEST_NAME,
        manifest=manifest,
        size_bytes=size,
        seconds=time.perf_counter() - started,
    )


def read_manifest(publish_dir: Path) -> dict:
    return json.loads((parquet_dir(publish_dir) / MANIFEST_NAME).read_text())
