"""Publish assets: what BI users read, rebuilt after every successful refresh.

- `publish/warehouse_snapshot`: the marts and reference seeds copied into a separate
  DuckDB file in storage version v1.4.0, renamed into place atomically
  (margin_wh.publish.snapshot). BI tools open it read-only, never the warehouse file.
- `publish/parquet_export`: the same marts as Parquet with a manifest (… .parquet).
- `publish/short_selling_report`: the self-contained HTML monitor (… .report).

The snapshot depends on every mart and reference asset, so Dagster runs it after them
in the refresh job, and never after a failed step: a failed refresh publishes nothing
and the previous snapshot stays. The Parquet export and the report are read from the
new snapshot (not the warehouse), so the three always agree.
"""

from collections.abc import Sequence

import dagster as dg

from margin_wh.publish.parquet import export_parquet
from margin_wh.publish.report import write_report
from margin_wh.publish.snapshot import (
    PUBLISHED_SCHEMAS,
    Freshness,
    publish_snapshot,
    snapshot_path,
)
from margin_wh.sources.demo import DEMO_LABEL
from orchestration.assets.dbt import DBT_PROJECT
from orchestration.assets.raw import DUCKDB_WRITER_POOL, OWNERS
from orchestration.resources import WarehouseResource

SNAPSHOT_KEY = dg.AssetKey(["publish", "warehouse_snapshot"])
PARQUET_KEY = dg.AssetKey(["publish", "parquet_export"])
REPORT_KEY = dg.AssetKey(["publish", "short_selling_report"])
GROUP = "publish"
TAGS = {"margin_wh/layer": "publish"}


def published_keys(upstream: Sequence[dg.AssetsDefinition]) -> list[dg.AssetKey]:
    """The asset keys of every model and seed in the published schemas (marts, reference)."""
    return sorted(
        {key for assets in upstream for key in assets.keys if key.path[0] in PUBLISHED_SCHEMAS},
        key=lambda k: k.to_user_string(),
    )


def freshness_lines(freshness: Freshness) -> list[str]:
    """One line per dataset that lags, dataset with symbols that could not load, and mart
    not built or stale: what the run's log says after a publish."""
    lines = [
        f"{d.dataset}: stale since {d.stale_since} (last day loaded: {d.last_trade_date or 'none'})"
        for d in freshness.stale_datasets
    ]
    lines += [
        f"{d.dataset}: {d.missing_symbol_count} symbol(s) could not load: {', '.join(d.missing_symbols)}"
        for d in freshness.incomplete_datasets
    ]
    lines += [f"marts.{m.mart}: {m.why}" for m in freshness.stale_marts]
    return lines


def _label(source: str) -> str | None:
    return DEMO_LABEL if source == "demo" else None


def _rows_table(rows: dict[str, int]) -> dg.MetadataValue:
    lines = ["| table | rows |", "|---|---:|"] + [f"| {t} | {n:,} |" for t, n in rows.items()]
    return dg.MetadataValue.md("\n".join(lines))


def build_publish_assets(upstream: Sequence[dg.AssetsDefinition]) -> list[dg.AssetsDefinition]:
    """The publish assets, downstream of the mart and reference assets among `upstream`."""
    deps = published_keys(upstream)
    if not any(key.path[0] == "marts" for key in deps):
        raise ValueError(
            "no marts/* asset among the upstream assets: the publish assets need the dbt "
            "mart assets (build_dbt_assets) to depend on"
        )

    @dg.asset(
        key=SNAPSHOT_KEY,
        description=(
            "The marts and reference seeds copied from the warehouse into "
            "<publish_dir>/margin_warehouse.duckdb (DuckDB storage version v1.4.0, readable "
            "by DuckDB >= 1.4 clients), written to a temporary file and renamed into place: "
            "BI tools open this file read-only, never the warehouse. See docs/bi/README.md."
        ),
        group_name=GROUP,
        kinds={"duckdb"},
        owners=OWNERS,
        deps=deps,
        pool=DUCKDB_WRITER_POOL,
        tags=TAGS,
    )
    def warehouse_snapshot(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        settings = warehouse.settings
        result = publish_snapshot(
            settings.db_path,
            settings.publish_dir,
            source=settings.source,
            data_label=_label(settings.source),
            manifest_path=DBT_PROJECT.manifest_path,
        )
        context.log.info(
            f"published {len(result.tables)} tables to {result.path} "
            f"({result.size_bytes / 1e6:.1f} MB, {result.seconds:.1f} s)"
        )
        for line in freshness_lines(result.freshness):
            context.log.warning(line)
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(result.path)),
                "size_bytes": dg.MetadataValue.int(result.size_bytes),
                "storage_version": dg.MetadataValue.text(result.storage_version),
                "readable_by": dg.MetadataValue.text("DuckDB >= 1.4 (LTS) clients"),
                "last_trade_date": dg.MetadataValue.text(str(result.last_trade_date or "-")),
                "rows_per_table": _rows_table(result.tables),
                "rows_per_mart": dg.MetadataValue.json(result.mart_rows),
                "column_comments": dg.MetadataValue.int(result.comments),
                "seconds": dg.MetadataValue.float(round(result.seconds, 2)),
                "source": dg.MetadataValue.text(settings.source),
                "marts_not_built": dg.MetadataValue.json(
                    [m.mart for m in result.freshness.marts if m.is_missing]
                ),
                "stale": dg.MetadataValue.md(
                    "\n".join(f"- {line}" for line in freshness_lines(result.freshness))
                    or "every dataset and mart is current"
                ),
            }
        )

    @dg.asset(
        key=PARQUET_KEY,
        description=(
            "The marts of the published snapshot as Parquet under <publish_dir>/parquet/"
            "<mart>/ (large marts partitioned by year of trade_date), with manifest.json; "
            "a new version directory is swapped in atomically through the parquet symlink."
        ),
        group_name=GROUP,
        kinds={"parquet"},
        owners=OWNERS,
        deps=[SNAPSHOT_KEY],
        pool=DUCKDB_WRITER_POOL,
        tags=TAGS,
    )
    def parquet_export(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        settings = warehouse.settings
        result = export_parquet(
            snapshot_path(settings.publish_dir),
            settings.publish_dir,
            source=settings.source,
            data_label=_label(settings.source),
        )
        files = sum(len(m["files"]) for m in result.manifest["marts"])
        context.log.info(f"exported {files} Parquet files to {result.version_dir}")
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(result.path)),
                "manifest": dg.MetadataValue.path(str(result.manifest_path)),
                "version": dg.MetadataValue.text(result.manifest["version"]),
                "files": dg.MetadataValue.int(files),
                "size_bytes": dg.MetadataValue.int(result.size_bytes),
                "rows_per_mart": dg.MetadataValue.json(result.mart_rows),
                "layouts": dg.MetadataValue.json(
                    {m["mart"]: m["layout"] for m in result.manifest["marts"]}
                ),
                "seconds": dg.MetadataValue.float(round(result.seconds, 2)),
            }
        )

    @dg.asset(
        key=REPORT_KEY,
        description=(
            "The daily short-selling monitor: <publish_dir>/report.html, one self-contained "
            "page (plotly.js inlined, opens offline) with the research report's views on the "
            "latest data of the published snapshot."
        ),
        group_name=GROUP,
        kinds={"html", "plotly"},
        owners=OWNERS,
        deps=[SNAPSHOT_KEY],
        pool=DUCKDB_WRITER_POOL,  # one publish at a time: a later run never overwrites a newer one
        tags=TAGS,
    )
    def short_selling_report(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        settings = warehouse.settings
        result = write_report(
            snapshot_path(settings.publish_dir),
            settings.publish_dir,
            source=settings.source,
            data_label=_label(settings.source),
        )
        context.log.info(f"report for {result.last_trade_date}: {result.path.as_uri()}")
        if result.missing_views:
            context.log.warning(
                "report views shown as missing (their mart is not in the snapshot): "
                + ", ".join(result.missing_views)
            )
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(result.path)),
                "url": dg.MetadataValue.url(result.path.as_uri()),
                "last_trade_date": dg.MetadataValue.text(str(result.last_trade_date)),
                "size_bytes": dg.MetadataValue.int(result.size_bytes),
                "seconds": dg.MetadataValue.float(round(result.seconds, 2)),
                "views_missing": dg.MetadataValue.json(list(result.missing_views)),
            }
        )

    return [warehouse_snapshot, parquet_export, short_selling_report]
