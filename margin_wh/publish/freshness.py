"""How fresh the published data is: per raw dataset, per mart, and the symbols that did not load.

The publish step writes three tables into the snapshot from what this module decides:

- `main.dataset_freshness`: every raw dataset the warehouse holds per trading day, its last
  loaded day, whether it lags and since which trading day, and how many of its symbols
  could not load. What "lags" means depends on how the source publishes (`freshness_rule`,
  with the sentence saying it in `rule`): a market-wide file a day is due every trading
  day; a security's quotes legitimately skip its suspension days, and a day's stock quotes
  come from the closing snapshot or from Sina's history, not necessarily both.
- `main.mart_freshness`: every mart the project defines, whether the warehouse has built
  it, its last trading day, and whether it is stale (its own last day is behind the
  market's latest, or a raw dataset it reads lags) and since when.
- `main.missing_symbols`: the warehouse's `meta.missing_symbols` as it was at publish time
  (one row per symbol a per-symbol dataset could not load), empty where the warehouse
  keeps no such table.

"The market's latest day" is the newest trading day any market-wide daily dataset (the
exchanges' and CFFEX's files, one a day) has loaded: the day the refresh reached. A
closing snapshot taken in the evening may already hold the next day, before the exchanges
publish its margin data, so it does not set that day.

The functions here are pure: the publish step reads the facts from the warehouse and the
previous snapshot, and these decide what they mean.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from margin_wh.calendar import first_trading_day_from, next_trading_day
from margin_wh.sources.datasets import RAW_TABLES, Dataset

# The calendar lists the trading days to come as well: it is the yardstick, not a day's data.
CALENDAR_DATASET = "tool_trade_date_hist_sina"
# The sources of a day's stock quotes (margin_wh/raw/universe.py: QUOTE_SNAPSHOT, its
# fallback SNAPSHOT_FALLBACK, QUOTES).
QUOTE_SOURCES = ("stock_zh_a_spot_em", "stock_zh_a_spot", "stock_zh_a_daily")

# freshness_rule -> what "stale" means for a dataset under it, as the table says it.
RULES: dict[str, str] = {
    "every_trading_day": (
        "one market-wide frame per trading day: stale when its last day is before the "
        "market's latest day"
    ),
    "quotes_either_source": (
        "a day's stock quotes come from the closing snapshot (stock_zh_a_spot_em, or Sina's "
        "stock_zh_a_spot when Eastmoney refused it) or from Sina's history (stock_zh_a_daily), "
        "not necessarily more than one, and a suspended security has none: stale when no "
        "source holds the market's latest day"
    ),
    "each_symbol_every_day": (
        "every symbol has a bar every trading day (spot indices): its last day is the "
        "earliest of its symbols' last days, stale when that is before the market's latest day"
    ),
    "latest_symbol": (
        "one call per symbol; a suspended one has no bar on its suspension days: stale when "
        "no symbol holds the market's latest day; symbols that could not load are counted "
        "in missing_symbol_count"
    ),
    "full_history": (
        "the whole history in one call: stale when its last day is before the market's latest day"
    ),
}


def freshness_rule(dataset: Dataset) -> str | None:
    """The rule `dataset` is judged by (a key of RULES); None for a dataset that holds no
    series of trading days (the calendar, the industry classification)."""
    if dataset.function == CALENDAR_DATASET:
        return None
    if dataset.function in QUOTE_SOURCES:
        return "quotes_either_source"
    if dataset.call in ("per_day", "range"):
        return "every_trading_day"
    if dataset.call in ("per_symbol_range", "per_symbol_full"):
        return "each_symbol_every_day" if dataset.each_symbol_every_day else "latest_symbol"
    if dataset.call == "snapshot":
        return "quotes_either_source"
    # static: a series of trading days only when a single date column is its key
    # (Eastmoney's account statistics, 日期), not a list of spells (industries)
    key_columns = [c for c in dataset.columns if c.name in dataset.key]
    if len(dataset.key) == 1 and key_columns and key_columns[0].kind == "date":
        return "full_history"
    return None


def tracked_datasets(datasets: Mapping[str, Dataset] = RAW_TABLES) -> dict[str, str]:
    """{dataset: freshness rule} for every dataset the freshness table lists."""
    return {name: rule for name, dataset in datasets.items() if (rule := freshness_rule(dataset))}


def date_column(dataset: Dataset) -> str:
    """The column holding a row's trading day in the raw table: `trade_date`, which the
    loader adds to every partitioned dataset, or a static dataset's own date key."""
    return "trade_date" if dataset.partitioned else dataset.key[0]


@dataclass(frozen=True)
class DatasetFreshness:
    dataset: str
    freshness_rule: str
    last_trade_date: dt.date | None  # None: nothing loaded yet
    is_stale: bool
    stale_since: dt.date | None  # the first trading day it lacks
    missing_symbols: tuple[str, ...] = ()

    @property
    def missing_symbol_count(self) -> int:
        return len(self.missing_symbols)


def market_latest_day(
    rules: Mapping[str, str], last_days: Mapping[str, dt.date | None]
) -> dt.date | None:
    """The newest day a market-wide daily dataset loaded (any dataset's, when none has)."""
    daily = [d for name, d in last_days.items() if d and rules.get(name) == "every_trading_day"]
    anything = [d for d in last_days.values() if d]
    return max(daily) if daily else (max(anything) if anything else None)


def dataset_freshness(
    rules: Mapping[str, str],
    last_days: Mapping[str, dt.date | None],
    calendar: Sequence[dt.date],
    *,
    warehouse_first_day: dt.date | None,
    first_days: Mapping[str, dt.date | None] | None = None,
    missing_symbols: Mapping[str, Sequence[str]] | None = None,
) -> list[DatasetFreshness]:
    """One row per dataset of `rules` (sorted by name).

    `last_days`: each dataset's last trading day as its rule measures it (None: no rows,
    or no table). `first_days`: the first day a source publishes (BSE from 2023-02-13): a
    dataset with nothing loaded is not stale before it. `warehouse_first_day`: the first
    day the warehouse holds, from which a dataset that never loaded lacks its days."""
    calendar = sorted(calendar)
    first_days = first_days or {}
    missing_symbols = missing_symbols or {}
    latest = market_latest_day(rules, last_days)
    quotes = [last_days.get(name) for name in QUOTE_SOURCES]
    quotes_last = max((d for d in quotes if d), default=None)
    rows = []
    for name in sorted(rules):
        rule = rules[name]
        last = last_days.get(name)
        measured = quotes_last if rule == "quotes_either_source" else last
        since = None
        if latest is not None and measured is not None and measured < latest:
            since = next_trading_day(calendar, measured) or latest
        elif latest is not None and measured is None:
            # never loaded: it lacks every day since the warehouse's first (or, for a
            # source that began later, since its first); not stale before it publishes
            start = max((d for d in (warehouse_first_day, first_days.get(name)) if d), default=None)
            if start is None:
                since = latest
            elif start <= latest:
                since = first_trading_day_from(calendar, start) or start
        rows.append(
            DatasetFreshness(
                dataset=name,
                freshness_rule=rule,
                last_trade_date=last,
                is_stale=since is not None,
                stale_since=since,
                missing_symbols=tuple(sorted(missing_symbols.get(name, ()))),
            )
        )
    return rows


# ---------------------------------------------------------------------------- marts
def is_daily_series(grain: str | None) -> bool:
    """True for a mart with rows on every trading day (grain 'trade_date', 'trade_date x
    security_code' …), whose last day therefore says how fresh it is; False for a mart of
    events ('trade_date x security_code x signal_type': a quiet day has no row) or one with
    no trading-day grain (dimensions, event windows)."""
    if not grain:
        return False
    keys = [k.strip() for k in grain.split(" x ")]
    return keys[0] == "trade_date" and not any(k.endswith("_type") for k in keys[1:])


def raw_datasets_read(manifest: Mapping) -> dict[str, tuple[str, ...]]:
    """{mart: the raw datasets it reads, through every model in between}, from a dbt
    manifest's parent_map and sources; {} when the manifest has neither."""
    parents = manifest.get("parent_map") or {}
    sources = manifest.get("sources") or {}
    nodes = manifest.get("nodes") or {}
    out: dict[str, tuple[str, ...]] = {}
    for unique_id, node in nodes.items():
        if node.get("resource_type") != "model" or node.get("schema") != "marts":
            continue
        seen: set[str] = set()
        raw: set[str] = set()
        stack = list(parents.get(unique_id, ()))
        while stack:
            parent = stack.pop()
            if parent in seen:
                continue
            seen.add(parent)
            if parent in sources:
                if sources[parent].get("schema") == "raw":
                    raw.add(sources[parent].get("identifier") or sources[parent]["name"])
            else:
                stack.extend(parents.get(parent, ()))
        out[node.get("alias") or node["name"]] = tuple(sorted(raw))
    return out


def read_manifest(manifest_path: Path | None) -> dict:
    if manifest_path is None or not Path(manifest_path).exists():
        return {}
    return json.loads(Path(manifest_path).read_text())


@dataclass(frozen=True)
class MartFreshness:
    mart: str
    last_trade_date: dt.date | None  # None: missing, or no trade_date column
    is_missing: bool  # defined by the project, not built in the warehouse
    # no current data: missing, behind the market's latest day, or reads a lagging dataset
    is_stale: bool
    stale_since: dt.date | None
    reads_datasets: tuple[str, ...] = ()
    lagging_datasets: tuple[str, ...] = ()
    # rows on every trading day: its own last day is measured against the market's
    has_row_every_trading_day: bool = False

    @property
    def why(self) -> str:
        """What a reader needs to know, in a sentence fragment."""
        lag = ", ".join(self.lagging_datasets)
        since = f" since {self.stale_since}" if self.stale_since else ""
        if self.is_missing:
            if lag:
                return (
                    f"not built in the warehouse: it reads {lag}, which has no current data{since}"
                )
            return "not built in the warehouse" + (f" (no data{since})" if since else "")
        if self.is_stale:
            return f"ends {self.last_trade_date}, stale{since}" + (f" ({lag} lags)" if lag else "")
        if self.has_row_every_trading_day and self.last_trade_date:
            return f"current to {self.last_trade_date}"
        return "current: every dataset it reads is"


def mart_freshness(
    expected: Iterable[str],
    present: Mapping[str, dt.date | None],
    *,
    daily: Iterable[str],
    reads: Mapping[str, Sequence[str]],
    datasets: Sequence[DatasetFreshness],
    latest: dt.date | None,
    calendar: Sequence[dt.date],
    previous: Mapping[str, tuple[bool, dt.date | None, dt.date | None]] | None = None,
) -> list[MartFreshness]:
    """One row per mart in `expected` or `present` (sorted).

    `present`: the marts the warehouse has, with their last trade_date (None without one).
    `daily`: the marts with rows every trading day (is_daily_series). `reads`: the raw
    datasets each mart reads. `latest`: the market's latest day. `previous`: what the
    snapshot being replaced said of each mart, (was_missing, last_trade_date,
    stale_since), so a mart gone from the warehouse says since when."""
    calendar = sorted(calendar)
    daily = set(daily)
    previous = previous or {}
    stale = {d.dataset: d for d in datasets if d.is_stale}
    rows = []
    for mart in sorted(set(expected) | set(present)):
        read = tuple(reads.get(mart, ()))
        lagging = tuple(d for d in read if d in stale)
        sinces = [stale[d].stale_since for d in lagging if stale[d].stale_since]
        missing = mart not in present
        last = present.get(mart)
        if missing:
            was_missing, was_last, was_since = previous.get(mart, (False, None, None))
            if was_missing and was_since:
                sinces.append(was_since)
            elif was_last:
                sinces.append(next_trading_day(calendar, was_last) or was_last)
        elif mart in daily and latest is not None and (last is None or last < latest):
            sinces.append((next_trading_day(calendar, last) if last else None) or latest)
        rows.append(
            MartFreshness(
                mart=mart,
                last_trade_date=last,
                is_missing=missing,
                is_stale=missing or bool(sinces) or bool(lagging),
                stale_since=min(sinces) if sinces else None,
                reads_datasets=read,
                lagging_datasets=lagging,
                has_row_every_trading_day=mart in daily,
            )
        )
    return rows
