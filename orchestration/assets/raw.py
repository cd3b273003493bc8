"""Raw assets: one per akshare function, built from the dataset table in datasets.py.

Each materialization fetches its partition range from the configured source into the
landing zone, validates it and replaces those trading days in raw.<function>.
"""


import datetime as dt

import dagster as dg
from dagster_duckdb import DuckDBResource

from margin_wh.calendar import CALENDAR_FUNCTION, shanghai_today, with_presumed_day
from margin_wh.raw.cost import snapshot_fallback_cost
from margin_wh.raw.learned_days import learn_days_past_calendar
from margin_wh.raw.load import LoadResult, ensure_raw_table, ingest, pending_requests
from margin_wh.raw.universe import (
    QUOTE_SNAPSHOT,
    QUOTES,
    QUOTES_BY_SECURITY_TYPE,
    SNAPSHOT_FALLBACK,
    SNAPSHOTS,
    plan_fetch,
)
from margin_wh.sources.akshare_source import SourceCallError
from margin_wh.sources.datasets import (
    DATASETS,
    EXCHANGES,
    FALLBACK_DATASETS,
    MARGIN_DETAIL_FUNCTIONS,
    Dataset,
)
from margin_wh.sources.parse import SourceDataError
from orchestration.partitions import (
    TRADING_DAYS,
    publishable_days,
    sync_trading_days,
    window_days,
)
from orchestration.progress import CallProgress
from orchestration.resources import WarehouseResource, warehouse_connection

DUCKDB_WRITER_POOL = "duckdb_writer"
# the calendar asset's metadata: trading days it learned past Sina's calendar this run
TRADING_DAYS_LEARNED = "trading_days_learned"
REFETCH_TAG = "margin_wh/refetch"  # "true": make every call again, even those already landed
OWNERS = ["team:margin-warehouse"]
PREVIEW_ROWS = 5
PREVIEW_MAX_DAYS = 5


def raw_key(function: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", function])


def _upstream(dataset: Dataset) -> list[dg.AssetKey]:
    upstream = [] if dataset.function == CALENDAR_FUNCTION else [raw_key(CALENDAR_FUNCTION)]
    # A detail day is checked against its exchange's totals before it is committed.
    upstream += [
        raw_key(e.summary_function) for e in EXCHANGES if e.detail_function == dataset.function
    ]
    if dataset.function in QUOTES_BY_SECURITY_TYPE:  # the securities in the detail
        upstream += [raw_key(f) for f in MARGIN_DETAIL_FUNCTIONS]
    if dataset.function == QUOTES:  # the days no snapshot has
        upstream += [raw_key(f) for f in SNAPSHOTS]
    if dataset.function == SNAPSHOT_FALLBACK:  # taken only when Eastmoney's is not
        upstream += [raw_key(QUOTE_SNAPSHOT)]
    return upstream


def _latest_day_preview(con, dataset: Dataset, result: LoadResult) -> str:
    if not result.trading_days:
        return ""
    frame = con.execute(
        f"select * exclude (_landing_file) from raw.{dataset.function} "
        f"where trade_date = ? limit {PREVIEW_ROWS}",
        [max(result.trading_days)],
    ).df()
    return frame.to_markdown(index=False)


def build_raw_asset(dataset: Dataset) -> dg.AssetsDefinition:
    partitioned = dataset.partitioned

    @dg.asset(
        key=raw_key(dataset.function),
        description=f"{dataset.description} Loaded from akshare.{dataset.function}; "
        "columns as published, typed, plus trade_date and load metadata.",
        group_name="raw",
        kinds={"akshare", "duckdb"},
        owners=OWNERS,
        deps=_upstream(dataset),
        partitions_def=TRADING_DAYS if partitioned else None,
        backfill_policy=dg.BackfillPolicy.single_run() if partitioned else None,
        pool=DUCKDB_WRITER_POOL,
        tags={"margin_wh/layer": "raw"},
    )
    def raw_asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, duckdb: DuckDBResource
    ) -> dg.MaterializeResult:
        settings = warehouse.settings
        calendar = warehouse.calendar()
        if dataset.call == "snapshot":  # past the calendar's end, today's close is presumed
            calendar = with_presumed_day(calendar, shanghai_today())
        days = window_days(context.partition_key_range, calendar) if partitioned else []
        source = warehouse.get_source()
        refetch = context.run.tags.get(REFETCH_TAG) == "true"

        with warehouse_connection(duckdb) as con:
            plan = plan_fetch(dataset, con, days, source, calendar)
            why = plan.why
            if partitioned and not plan.days:
                ensure_raw_table(con, dataset)  # downstream models read it, even if empty
                result = LoadResult(dataset.function)
                context.log.info(f"{dataset.function}: nothing to fetch: {why}")
            else:
                todo, skipped = pending_requests(
                    dataset, plan.days, settings.landing_dir, plan.symbols, refetch, con,
                    symbol_windows=plan.symbol_windows,
                )
                if skipped:
                    context.log.info(
                        f"{dataset.function}: {skipped} call(s) already landed and loaded by "
                        f"an earlier run, {len(todo)} to make (`margin-wh refresh --refetch` makes "
                        f"them all; from the UI, a run tagged {REFETCH_TAG}=true)"
                    )
                try:
                    with CallProgress(context.log, dataset.function, len(todo)) as progress:
                        result = ingest(
                            con, source, dataset, plan.days, settings.landing_dir, plan.symbols,
                            progress.advance, refetch, retried=plan.retried,
                            symbol_windows=plan.symbol_windows,
                        )  # fmt: skip
                except (SourceCallError, SourceDataError) as error:
                    if dataset.function != QUOTE_SNAPSHOT:
                        raise
                    # Eastmoney refused (it blocks IPs: akshare #6696, #7314): the next step,
                    # raw/stock_zh_a_spot, takes the same close from Sina while it shows it,
                    # far cheaper than a Sina call per security the next morning
                    ensure_raw_table(con, dataset)
                    why = f"{error} {snapshot_fallback_cost(con, plan.days[0]).line}"
                    context.log.warning(f"{dataset.function}: {why}")
                    result = LoadResult(dataset.function)
            for note in result.notes:
                context.log.warning(note)
            for failure in result.missing_symbols:
                context.log.warning(
                    f"{dataset.function}: {failure.symbol} set aside for {failure.window[0]} .. "
                    f"{failure.window[1]} (the next run asks again): {failure.reason}"
                )
            # Dagster copies a ranged run's metadata onto every partition's event: keep the
            # preview to daily runs, not to each of a 600-day backfill's events.
            small_run = partitioned and len(days) <= PREVIEW_MAX_DAYS
            preview = _latest_day_preview(con, dataset, result) if small_run else ""
            total = con.execute(f"select count(*) from raw.{dataset.function}").fetchone()[0]
        metadata = {
            "rows_written": dg.MetadataValue.int(result.rows_written),
            "rows_in_table": dg.MetadataValue.int(total),
            "calls": dg.MetadataValue.int(result.files),
            "calls_skipped_already_landed": dg.MetadataValue.int(result.skipped_calls),
            "source": dg.MetadataValue.text(source.name),
        }
        if why:
            metadata["note"] = dg.MetadataValue.text(why)
        if dataset.request_columns == ("symbol",):
            metadata["missing_symbols"] = dg.MetadataValue.json(
                {f.symbol: f"{f.window[0]} .. {f.window[1]}: {f.reason}" for f in result.missing_symbols}
            )
        if partitioned:
            metadata["date_range"] = dg.MetadataValue.text(result.date_range)
            metadata["trading_days"] = dg.MetadataValue.int(len(result.trading_days))
            if preview:
                metadata["latest_day_preview"] = dg.MetadataValue.md(preview)
        if dataset.function == CALENDAR_FUNCTION:
            # The calendar is data: it defines which partitions exist. Past its end, the
            # days that traded are learned from SSE's own publication.
            today = shanghai_today()
            if settings.source == "demo":  # the demo market publishes nothing after its end
                today = min(today, settings.demo_end + dt.timedelta(days=1))
            with warehouse_connection(duckdb) as con:
                learned = learn_days_past_calendar(
                    con, source, warehouse.calendar(), settings.landing_dir, today
                )
            if learned.note:
                (context.log.warning if learned.failed else context.log.info)(learned.note)
                metadata["days_past_calendar"] = dg.MetadataValue.text(learned.note)
            metadata[TRADING_DAYS_LEARNED] = dg.MetadataValue.int(len(learned.days))
            calendar = warehouse.calendar()
            added = sync_trading_days(
                context.instance, publishable_days(calendar, warehouse.settings, today)
            )
            metadata["trading_day_partitions_added"] = dg.MetadataValue.int(added)
            metadata["calendar_last_day"] = dg.MetadataValue.text(str(calendar[-1]) if calendar else "-")
        return dg.MaterializeResult(metadata=metadata)

    return raw_asset


def build_raw_assets() -> list[dg.AssetsDefinition]:
    return [build_raw_asset(d) for d in (*DATASETS.values(), *FALLBACK_DATASETS.values())]
