"""The baseline: the main marts computed by a plain pandas script, as a user would write
it instead of the warehouse.

    python -m benchmarks.pandas_baseline --db warehouse.duckdb --out-dir out/ [--json result.json]

It reads the raw tables (the same frames the warehouse loaded) into pandas, then builds:
  - balance_to_float: the three exchanges' detail in one schema, the last close on or
    before the day (merge_asof), the point-in-time Shenwan industry (merge_asof), short
    balance (SSE: volume x close), float market cap, balance/float ratios, the day's
    ranks, and 1/5/20-trading-day changes against the same security's row exactly that
    many trading days earlier (like fct_balance_to_float);
  - short_concentration_by_industry: per day x SW level 1 and 2 industry, sums, share of
    the market, short/float, HHI, the top security (like
    fct_short_concentration_by_industry);
  - market_short_daily: per day, sums, ratios, 1/5/20-day changes, year-to-date change,
    running peak and drawdown (like fct_market_short_daily);
and writes each to Parquet. It prints timings (read / compute / write) as JSON.
Run by `benchmarks.run` in a subprocess so its memory is measured on its own.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from margin_wh.config import REPO_ROOT

SW_SEED = REPO_ROOT / "seeds" / "sw2021_industries.csv"


def read_raw(db: Path) -> dict[str, pd.DataFrame]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        frames = {
            name: con.sql(f"select * from raw.{name}").df()
            for name in (
                "stock_margin_detail_sse",
                "stock_margin_detail_szse",
                "stock_margin_detail_bse",
                "stock_zh_a_daily",
                "stock_industry_clf_hist_sw",
                "tool_trade_date_hist_sina",
            )
        }
    finally:
        con.close()
    frames["sw2021"] = pd.read_csv(SW_SEED, dtype={"industry_code": str, "parent_code": str})
    return frames


def _day(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series).astype("datetime64[ns]")


def unify_detail(raw: dict[str, pd.DataFrame]) -> pd.DataFrame:
    sse = raw["stock_margin_detail_sse"].rename(
        columns={
            "标的证券代码": "security_code",
            "标的证券简称": "security_name",
            "融资余额": "financing_balance_cny",
            "融资买入额": "financing_buy_cny",
            "融资偿还额": "financing_repay_cny",
            "融券余量": "short_volume_shares",
            "融券卖出量": "short_sell_volume_shares",
            "融券偿还量": "short_repay_volume_shares",
        }
    )
    sse["exchange"] = "SSE"
    sse["published_short_balance_cny"] = np.nan
    sse["published_margin_total_cny"] = np.nan
    parts = [sse]
    for exchange, name in (
        ("SZSE", "stock_margin_detail_szse"),
        ("BSE", "stock_margin_detail_bse"),
    ):
        part = raw[name].rename(
            columns={
                "证券代码": "security_code",
                "证券简称": "security_name",
                "融资余额": "financing_balance_cny",
                "融资买入额": "financing_buy_cny",
                "融券余量": "short_volume_shares",
                "融券卖出量": "short_sell_volume_shares",
                "融券余额": "published_short_balance_cny",
                "融资融券余额": "published_margin_total_cny",
            }
        )
        part["exchange"] = exchange
        part["financing_repay_cny"] = np.nan
        part["short_repay_volume_shares"] = np.nan
        parts.append(part)
    columns = [
        "trade_date", "exchange", "security_code", "security_name",
        "financing_balance_cny", "financing_buy_cny", "financing_repay_cny",
        "short_volume_shares", "short_sell_volume_shares", "short_repay_volume_shares",
        "published_short_balance_cny", "published_margin_total_cny",
    ]  # fmt: skip
    detail = pd.concat([p[columns] for p in parts], ignore_index=True)
    detail["trade_date"] = _day(detail["trade_date"])
    detail["security_code"] = detail["security_code"].astype(str).str.strip().str.zfill(6)
    detail["security_name"] = detail["security_name"].astype(str).str.strip()
    return detail


def add_quotes(detail: pd.DataFrame, quotes: pd.DataFrame) -> pd.DataFrame:
    quotes = quotes.loc[
        quotes["close"].notna(), ["trade_date", "symbol", "close", "outstanding_share"]
    ]
    quotes = quotes.assign(
        security_code=quotes["symbol"].str.strip().str[-6:],
        close_trade_date=_day(quotes["trade_date"]),
    ).rename(columns={"close": "close_cny", "outstanding_share": "float_shares"})
    quotes = quotes.drop(columns=["symbol", "trade_date"]).sort_values("close_trade_date")
    detail = detail.sort_values("trade_date")
    return pd.merge_asof(
        detail, quotes, left_on="trade_date", right_on="close_trade_date",
        by="security_code", direction="backward",
    )  # fmt: skip


def industry_history(raw: dict[str, pd.DataFrame]) -> pd.DataFrame:
    hist = raw["stock_industry_clf_hist_sw"].copy()
    hist["security_code"] = (
        hist["symbol"].astype(str).str.replace(r"\D", "", regex=True).str.zfill(6).str[-6:]
    )
    hist["valid_from"] = _day(hist["start_date"])
    hist["sw_l3_code"] = hist["industry_code"].astype(str).str.strip().str.zfill(6)
    hist = hist.dropna(subset=["valid_from"])
    hist = hist.sort_values(
        ["security_code", "valid_from", "update_time"], ascending=[True, True, False]
    )
    hist = hist.drop_duplicates(["security_code", "valid_from"])
    hist["sw_l2_code"] = hist["sw_l3_code"].str[:4] + "00"
    hist["sw_l1_code"] = hist["sw_l3_code"].str[:2] + "0000"
    seed = raw["sw2021"].copy()
    seed["industry_code"] = seed["industry_code"].str.strip().str.zfill(6)
    for level in (1, 2):
        names = seed.loc[seed["industry_level"] == level, ["industry_code", "industry_name_zh"]]
        names = names.rename(
            columns={"industry_code": f"sw_l{level}_code", "industry_name_zh": f"sw_l{level}_name"}
        )
        hist = hist.merge(names, on=f"sw_l{level}_code", how="left")
    return hist[
        ["security_code", "valid_from", "sw_l1_code", "sw_l1_name", "sw_l2_code", "sw_l2_name"]
    ].sort_values("valid_from")


def balance_to_float(raw: dict[str, pd.DataFrame]) -> pd.DataFrame:
    detail = unify_detail(raw)
    detail = add_quotes(detail, raw["stock_zh_a_daily"])
    detail = pd.merge_asof(
        detail.sort_values("trade_date"), industry_history(raw), left_on="trade_date",
        right_on="valid_from", by="security_code", direction="backward",
    ).drop(columns=["valid_from"])  # fmt: skip

    derived = detail["short_volume_shares"] * detail["close_cny"]
    derived = derived.where(detail["short_volume_shares"] != 0, 0.0)
    detail["short_balance_cny"] = detail["published_short_balance_cny"].fillna(derived)
    detail["is_short_balance_derived"] = detail["published_short_balance_cny"].isna()
    detail["margin_total_cny"] = detail["published_margin_total_cny"].fillna(
        detail["financing_balance_cny"] + detail["short_balance_cny"]
    )
    detail["float_market_cap_cny"] = detail["close_cny"] * detail["float_shares"]
    cap = detail["float_market_cap_cny"].where(detail["float_market_cap_cny"] != 0)
    detail["short_to_float_ratio"] = detail["short_balance_cny"] / cap
    detail["financing_to_float_ratio"] = detail["financing_balance_cny"] / cap
    by_day = detail.groupby("trade_date")
    detail["short_to_float_rank"] = by_day["short_to_float_ratio"].rank(
        method="min", ascending=False
    )
    detail["financing_to_float_rank"] = by_day["financing_to_float_ratio"].rank(
        method="min", ascending=False
    )

    # Changes against the same security exactly k trading days earlier.
    calendar = _day(raw["tool_trade_date_hist_sina"]["trade_date"]).drop_duplicates().sort_values()
    day_index = pd.Series(np.arange(len(calendar)), index=calendar.to_numpy())
    detail["trading_day_index"] = detail["trade_date"].map(day_index)
    measures = ["short_balance_cny", "short_volume_shares", "financing_balance_cny"]
    keys = ["security_code", "trading_day_index"]
    for k in (1, 5, 20):
        earlier = detail[[*keys, *measures]].copy()
        earlier["trading_day_index"] += k
        detail = detail.merge(earlier, on=keys, how="left", suffixes=("", f"_{k}"))
        detail[f"short_balance_change_{k}d_cny"] = (
            detail["short_balance_cny"] - detail[f"short_balance_cny_{k}"]
        )
        detail[f"financing_balance_change_{k}d_cny"] = (
            detail["financing_balance_cny"] - detail[f"financing_balance_cny_{k}"]
        )
        if k == 1:
            detail["short_volume_change_1d_shares"] = (
                detail["short_volume_shares"] - detail["short_volume_shares_1"]
            )
        detail = detail.drop(columns=[f"{m}_{k}" for m in measures])
    return detail.sort_values(["trade_date", "security_code"], ignore_index=True)


def concentration_by_industry(detail: pd.DataFrame, seed: pd.DataFrame) -> pd.DataFrame:
    base = detail[
        ["trade_date", "security_code", "security_name", "short_balance_cny",
         "financing_balance_cny", "float_market_cap_cny", "sw_l1_code", "sw_l2_code"]
    ]  # fmt: skip
    covered = base["float_market_cap_cny"] > 0
    base = base.assign(
        has_short=base["short_balance_cny"] > 0,
        covered_short=base["short_balance_cny"].where(covered),
        covered_financing=base["financing_balance_cny"].where(covered),
        short_squared=base["short_balance_cny"] ** 2,
    )
    seed = seed.assign(industry_code=seed["industry_code"].str.strip().str.zfill(6))
    levels = []
    for level in (1, 2):
        frame = base.assign(
            industry_level=level, industry_code=base[f"sw_l{level}_code"].fillna("unknown")
        )
        keys = ["trade_date", "industry_level", "industry_code"]
        totals = frame.groupby(keys, as_index=False).agg(
            securities_count=("security_code", "size"),
            securities_with_short_count=("has_short", "sum"),
            short_balance_cny=("short_balance_cny", "sum"),
            financing_balance_cny=("financing_balance_cny", "sum"),
            float_market_cap_cny=("float_market_cap_cny", lambda s: s.sum(min_count=1)),
            covered_short_balance_cny=("covered_short", "sum"),
            covered_financing_balance_cny=("covered_financing", "sum"),
            short_balance_squares=("short_squared", "sum"),
        )
        top = (
            frame.loc[frame["short_balance_cny"] > 0]
            .sort_values("short_balance_cny", ascending=False)
            .drop_duplicates(keys)[[*keys, "security_code", "security_name", "short_balance_cny"]]
            .rename(
                columns={
                    "security_code": "top_short_security_code",
                    "security_name": "top_short_security_name",
                    "short_balance_cny": "top_short_balance_cny",
                }
            )
        )
        totals = totals.merge(top, on=keys, how="left")
        names = seed.loc[
            seed["industry_level"] == level,
            ["industry_code", "industry_name_zh", "industry_name_en"],
        ]
        totals = totals.merge(names, on="industry_code", how="left")
        levels.append(totals)
    out = pd.concat(levels, ignore_index=True)
    unknown = out["industry_code"] == "unknown"
    out.loc[unknown, "industry_name_zh"] = "未分类"
    out.loc[unknown, "industry_name_en"] = "Unclassified"
    market = out.groupby(["trade_date", "industry_level"])["short_balance_cny"].transform("sum")
    cap = out["float_market_cap_cny"].where(out["float_market_cap_cny"] != 0)
    out["short_to_float_ratio"] = out["covered_short_balance_cny"] / cap
    out["financing_to_float_ratio"] = out["covered_financing_balance_cny"] / cap
    out["share_of_market_short_ratio"] = out["short_balance_cny"] / market.where(market != 0)
    square = out["short_balance_cny"] ** 2
    out["short_hhi"] = out["short_balance_squares"] / square.where(square != 0)
    out["top_short_share_of_industry_ratio"] = out["top_short_balance_cny"] / out[
        "short_balance_cny"
    ].where(out["short_balance_cny"] != 0)
    return out


def market_short_daily(detail: pd.DataFrame) -> pd.DataFrame:
    covered = detail["float_market_cap_cny"] > 0
    frame = detail.assign(
        has_short=detail["short_balance_cny"] > 0,
        covered_short=detail["short_balance_cny"].where(covered),
        covered_financing=detail["financing_balance_cny"].where(covered),
        covered_margin=detail["margin_total_cny"].where(covered),
    )
    daily = frame.groupby("trade_date", as_index=False).agg(
        securities_count=("security_code", "size"),
        securities_with_short_count=("has_short", "sum"),
        short_balance_cny=("short_balance_cny", "sum"),
        short_volume_shares=("short_volume_shares", "sum"),
        short_sell_volume_shares=("short_sell_volume_shares", "sum"),
        financing_balance_cny=("financing_balance_cny", "sum"),
        financing_buy_cny=("financing_buy_cny", "sum"),
        margin_total_cny=("margin_total_cny", "sum"),
        float_market_cap_cny=("float_market_cap_cny", "sum"),
        covered_short=("covered_short", "sum"),
        covered_financing=("covered_financing", "sum"),
        covered_margin=("covered_margin", "sum"),
        trading_day_index=("trading_day_index", "first"),
    )
    cap = daily["float_market_cap_cny"].where(daily["float_market_cap_cny"] != 0)
    daily["short_to_float_ratio"] = daily["covered_short"] / cap
    daily["financing_to_float_ratio"] = daily["covered_financing"] / cap
    daily["margin_to_float_ratio"] = daily["covered_margin"] / cap
    daily = daily.sort_values("trade_date", ignore_index=True)
    for k in (1, 5, 20):
        earlier = daily[["trading_day_index", "short_balance_cny", "financing_balance_cny"]].copy()
        earlier["trading_day_index"] += k
        earlier = earlier.rename(
            columns={"short_balance_cny": "s_prev", "financing_balance_cny": "f_prev"}
        )
        daily = daily.merge(earlier, on="trading_day_index", how="left")
        daily[f"short_balance_change_{k}d_cny"] = daily["short_balance_cny"] - daily["s_prev"]
        if k == 1:
            daily["financing_balance_change_1d_cny"] = (
                daily["financing_balance_cny"] - daily["f_prev"]
            )
        daily = daily.drop(columns=["s_prev", "f_prev"])
    year = daily["trade_date"].dt.year
    first = daily.groupby(year)["trade_date"].transform("min")
    daily["year_start_trade_date"] = first
    for column in ("short_balance_cny", "financing_balance_cny", "short_to_float_ratio"):
        start = daily[column].where(daily["trade_date"] == first)
        daily[f"year_start_{column}"] = start.groupby(year).transform("max")
    daily["short_balance_ytd_change_cny"] = (
        daily["short_balance_cny"] - daily["year_start_short_balance_cny"]
    )
    daily["short_balance_ytd_change_ratio"] = (
        daily["short_balance_cny"] / daily["year_start_short_balance_cny"].replace(0, np.nan) - 1
    )
    daily["financing_balance_ytd_change_ratio"] = (
        daily["financing_balance_cny"]
        / daily["year_start_financing_balance_cny"].replace(0, np.nan)
        - 1
    )
    daily["peak_short_balance_cny"] = daily["short_balance_cny"].cummax()
    at_peak = daily["short_balance_cny"] >= daily["peak_short_balance_cny"]
    daily["peak_short_balance_date"] = daily["trade_date"].where(at_peak).ffill()
    daily["short_balance_drawdown_ratio"] = (
        daily["short_balance_cny"] / daily["peak_short_balance_cny"].replace(0, np.nan) - 1
    )
    return daily.drop(columns=["covered_short", "covered_financing", "covered_margin"])


def run(db: Path, out_dir: Path) -> dict[str, object]:
    out_dir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    raw = read_raw(db)
    timings["read_raw_s"] = time.perf_counter() - t0

    t = time.perf_counter()
    detail = balance_to_float(raw)
    timings["balance_to_float_s"] = time.perf_counter() - t
    t = time.perf_counter()
    industry = concentration_by_industry(detail, raw["sw2021"])
    timings["concentration_by_industry_s"] = time.perf_counter() - t
    t = time.perf_counter()
    market = market_short_daily(detail)
    timings["market_short_daily_s"] = time.perf_counter() - t
    timings["compute_s"] = sum(
        timings[k]
        for k in ("balance_to_float_s", "concentration_by_industry_s", "market_short_daily_s")
    )

    t = time.perf_counter()
    for name, frame in (
        ("balance_to_float", detail),
        ("short_concentration_by_industry", industry),
        ("market_short_daily", market),
    ):
        frame.to_parquet(out_dir / f"{name}.parquet", index=False)
    timings["write_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0
    return {
        "timings": timings,
        "rows": {
            "raw_detail": int(sum(len(raw[n]) for n in raw if n.startswith("stock_margin_detail"))),
            "raw_quotes": len(raw["stock_zh_a_daily"]),
            "balance_to_float": len(detail),
            "short_concentration_by_industry": len(industry),
            "market_short_daily": len(market),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", type=Path, required=True, help="warehouse file (opened read-only)")
    parser.add_argument("--out-dir", type=Path, required=True, help="where the Parquet outputs go")
    parser.add_argument("--json", type=Path, help="write the result here as JSON")
    args = parser.parse_args(argv)
    result = run(args.db, args.out_dir)
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
