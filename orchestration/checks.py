"""Checks on the raw layer that stop bad days from reaching the marts (blocking)."""


import dagster as dg
from dagster_duckdb import DuckDBResource

from margin_wh.raw.identities import TOTALS_TOLERANCE_RATIO  # as the check before commit
from margin_wh.sources.datasets import EXCHANGES, Exchange
from orchestration.assets.raw import raw_key
from orchestration.resources import warehouse_connection

# A margin list rarely moves by more than a few percent a day; a bigger jump is a
# half-published or wrongly parsed day.
ROW_COUNT_TOLERANCE_RATIO = 0.2


def row_count_change(con, table: str) -> tuple[str, int, str, int] | None:
    """(latest day, its rows, previous loaded day, its rows), or None with < 2 days."""
    rows = con.execute(
        f"select trade_date, count(*) from {table} "
        f"where trade_date >= (select max(trade_date) - interval 40 day from {table}) "
        "group by 1 order by 1 desc limit 2"
    ).fetchall()
    if len(rows) < 2:
        return None
    (day, n), (prev_day, prev_n) = rows
    return str(day), n, str(prev_day), prev_n


def build_row_count_check(exchange: Exchange) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=raw_key(exchange.detail_function),
        name="row_count_vs_previous_day",
        blocking=True,
        description=f"{exchange.name} detail rows on the latest day within "
        f"{ROW_COUNT_TOLERANCE_RATIO:.0%} of the previous loaded trading day.",
    )
    def check(duckdb: DuckDBResource) -> dg.AssetCheckResult:
        with warehouse_connection(duckdb) as con:
            change = row_count_change(con, f"raw.{exchange.detail_function}")
        if change is None:
            return dg.AssetCheckResult(passed=True, metadata={"note": "fewer than two days loaded"})
        day, n, prev_day, prev_n = change
        ratio = n / prev_n - 1
        return dg.AssetCheckResult(
            passed=abs(ratio) <= ROW_COUNT_TOLERANCE_RATIO,
            metadata={"latest_day": day, "rows": n, "previous_day": prev_day,
                      "previous_rows": prev_n, "change_ratio": round(ratio, 4)},
        )

    return check


# The check reads the latest loaded days only, so its cost does not grow with history.
TOTALS_RECENT_DAYS = 30


def totals_vs_detail(con, exchange: Exchange, recent_days: int = TOTALS_RECENT_DAYS) -> list[tuple]:
    """Per recent loaded day: published financing balance (CNY), detail sum (CNY), gap ratio."""
    return con.execute(
        f"""
        with recent as (
            select trade_date from raw.{exchange.summary_function}
            order by trade_date desc limit {int(recent_days)}
        ),
        detail as (
            select trade_date, sum("融资余额") as detail_cny
            from raw.{exchange.detail_function}
            where trade_date >= (select min(trade_date) from recent)
            group by 1
        )
        select s.trade_date, s."融资余额" * {exchange.summary_cny_per_unit} as published_cny,
               d.detail_cny,
               abs(s."融资余额" * {exchange.summary_cny_per_unit} - d.detail_cny)
                 / nullif(s."融资余额" * {exchange.summary_cny_per_unit}, 0) as gap_ratio
        from raw.{exchange.summary_function} s join detail d using (trade_date)
        where s.trade_date in (select trade_date from recent)
        order by gap_ratio desc nulls last
        """
    ).fetchall()


def build_totals_check(exchange: Exchange) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        # on the detail: a refresh loads it after the totals, and checks it before commit
        asset=raw_key(exchange.detail_function),
        name="totals_match_detail",
        blocking=True,
        additional_deps=[raw_key(exchange.summary_function)],
        description=f"{exchange.name} published financing balance within "
        f"{TOTALS_TOLERANCE_RATIO:.0%} of the sum of its detail rows, on the latest "
        f"{TOTALS_RECENT_DAYS} loaded days.",
    )
    def check(duckdb: DuckDBResource) -> dg.AssetCheckResult:
        with warehouse_connection(duckdb) as con:
            rows = totals_vs_detail(con, exchange)
        worst = rows[0] if rows else None
        failing = [r for r in rows if r[3] is not None and r[3] > TOTALS_TOLERANCE_RATIO]
        return dg.AssetCheckResult(
            passed=not failing,
            metadata={
                "days_compared": len(rows),
                "days_over_tolerance": len(failing),
                "worst_day": str(worst[0]) if worst else "-",
                "worst_gap_ratio": float(worst[3] or 0) if worst else 0.0,
            },
        )

    return check


def build_raw_checks() -> list[dg.AssetChecksDefinition]:
    return [build_row_count_check(e) for e in EXCHANGES] + [build_totals_check(e) for e in EXCHANGES]
