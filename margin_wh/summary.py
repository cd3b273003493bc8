"""What `margin-wh demo` prints: what was built, and the numbers a user looks at first."""

from __future__ import annotations

import duckdb
from rich.console import Console
from rich.table import Table

from margin_wh.config import Settings
from margin_wh.sources.demo import DEMO_LABEL

YI = 1e8  # 亿: Chinese reports quote balances in units of 100 million yuan


def mart_counts(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int, str, str]]:
    """(mart, rows, first trade_date, last trade_date) for every table in schema marts."""
    out = []
    tables = con.execute(
        "select table_name from information_schema.tables "
        "where table_schema = 'marts' order by table_name"
    ).fetchall()
    for (name,) in tables:
        columns = {r[0] for r in con.execute(f"describe marts.{name}").fetchall()}
        if "trade_date" in columns:
            n, lo, hi = con.execute(
                f"select count(*), min(trade_date), max(trade_date) from marts.{name}"
            ).fetchone()
        else:
            n, lo, hi = con.execute(f"select count(*), null, null from marts.{name}").fetchone()
        out.append((name, n, str(lo or "-"), str(hi or "-")))
    return out


def headline(con: duckdb.DuckDBPyConnection) -> dict:
    latest = con.execute(
        """
        select trade_date, short_balance_cny, financing_balance_cny, short_to_float_ratio,
               short_balance_ytd_change_ratio, short_balance_drawdown_ratio,
               peak_short_balance_cny, peak_short_balance_date
        from marts.fct_market_short_daily order by trade_date desc limit 1
        """
    ).fetchone()
    top = con.execute(
        """
        select security_code, security_name, sw_l2_name, short_balance_cny, short_to_float_ratio
        from marts.fct_balance_to_float
        where trade_date = (select max(trade_date) from marts.fct_balance_to_float)
          and short_to_float_ratio is not null
        order by short_to_float_ratio desc limit 5
        """
    ).fetchall()
    keys = ("trade_date", "short_balance_cny", "financing_balance_cny", "short_to_float_ratio",
            "ytd_change_ratio", "drawdown_ratio", "peak_short_balance_cny", "peak_date")
    return {**dict(zip(keys, latest, strict=True)), "top": top}


def print_summary(settings: Settings, console: Console | None = None) -> None:
    console = console or Console()
    with duckdb.connect(str(settings.db_path), read_only=True) as con:
        counts = mart_counts(con)
        head = headline(con)
    if settings.source == "demo":
        console.print(f"[bold yellow]{DEMO_LABEL}[/]")
    table = Table(title=f"Marts in {settings.db_path}")
    for column in ("mart", "rows", "first day", "last day"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    for name, n, lo, hi in counts:
        table.add_row(f"marts.{name}", f"{n:,}", lo, hi)
    console.print(table)
    console.print(
        f"On {head['trade_date']}: short balance {head['short_balance_cny'] / YI:,.1f} 亿 CNY "
        f"({head['short_to_float_ratio']:.4%} of float market cap), financing balance "
        f"{head['financing_balance_cny'] / YI:,.0f} 亿 CNY; short balance "
        f"{head['ytd_change_ratio']:+.1%} year to date and {head['drawdown_ratio']:+.1%} from its "
        f"peak of {head['peak_short_balance_cny'] / YI:,.1f} 亿 on {head['peak_date']}."
    )
    top = Table(title="Highest short balance / float market cap, latest day")
    for column in ("code", "name", "industry (SW L2)", "short balance (亿)", "of float cap"):
        top.add_column(column)
    for code, name, industry, balance, ratio in head["top"]:
        top.add_row(code, name, industry or "-", f"{balance / YI:.2f}", f"{ratio:.2%}")
    console.print(top)
