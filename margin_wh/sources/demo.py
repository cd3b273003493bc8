"""A deterministic synthetic A-share market that answers akshare calls offline.

`DemoMarket.call("stock_margin_detail_sse", date="20240710")` returns what
`akshare.stock_margin_detail_sse(date="20240710")` would: the same columns, in the same
order, with the same dtypes (see `datasets.DATASETS`). Nothing here is market data.

The whole market is simulated once, vectorised over a (trading days x securities) grid;
a call only slices the precomputed arrays. Same seed, same frames.

The margin lists hold funds (ETFs, LOFs) besides stocks, as the real ones do: akshare's
stock functions do not answer for them (stock_zh_a_daily raises, the Eastmoney snapshot
and the Shenwan classification leave them out) and fund_etf_hist_sina does.

What the market is built to show (the shapes users of the warehouse analyse):
  - margin identities hold exactly (SSE roll-forwards; 融券余额 = 融券余量 x close;
    exchange totals = detail sums plus a small residual);
  - the short balance follows the 2023-10 / 2024-01 / 2024-07 policy curbs
    (see `SHORT_LEVEL_ANCHORS`), and short interest is concentrated in a few industries
    (`HOT_INDUSTRIES`) and a handful of small caps;
  - index-futures discounts deepen and open interest rises after the curbs.
"""

from __future__ import annotations

import datetime as dt
import inspect
import urllib.error
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from margin_wh.config import REPO_ROOT
from margin_wh.sources.datasets import (
    BSE_MARGIN_START,
    DATASETS,
    SPOT_INDEX_SYMBOLS,
    security_type,
    sina_symbol,
)

DEMO_LABEL = "SYNTHETIC DEMO DATA (margin_wh demo source): not market data"

SW2021_SEED = REPO_ROOT / "seeds" / "sw2021_industries.csv"
BSE_CODE_SWITCH_SEED = REPO_ROOT / "seeds" / "bse_code_switch.csv"

# ---------------------------------------------------------------------------------------
# Calendar
# ---------------------------------------------------------------------------------------

# Lunar new year (春节) day per year: the Spring Festival holiday is its eve + 6 days.
_LUNAR_NEW_YEAR = {
    2005: (2, 9), 2006: (1, 29), 2007: (2, 18), 2008: (2, 7), 2009: (1, 26),
    2010: (2, 14), 2011: (2, 3), 2012: (1, 23), 2013: (2, 10), 2014: (1, 31),
    2015: (2, 19), 2016: (2, 8), 2017: (1, 28), 2018: (2, 16), 2019: (2, 5),
    2020: (1, 25), 2021: (2, 12), 2022: (2, 1), 2023: (1, 22), 2024: (2, 10),
    2025: (1, 29), 2026: (2, 17), 2027: (2, 6), 2028: (1, 26), 2029: (2, 13),
    2030: (2, 3), 2031: (1, 23), 2032: (2, 11), 2033: (1, 31), 2034: (2, 19),
    2035: (2, 8),
}  # fmt: skip
# Fixed-date holidays, (month, first day, last day): New Year, Qingming, Labour Day, National Day.
_FIXED_HOLIDAYS = ((1, 1, 1), (4, 4, 5), (5, 1, 3), (10, 1, 7))


def _holidays(year: int) -> set[dt.date]:
    if year not in _LUNAR_NEW_YEAR:
        raise ValueError(
            f"the demo calendar covers {min(_LUNAR_NEW_YEAR)}-{max(_LUNAR_NEW_YEAR)}, "
            f"got year {year}"
        )
    days = {
        dt.date(year, month, day)
        for month, first, last in _FIXED_HOLIDAYS
        for day in range(first, last + 1)
    }
    eve = dt.date(year, *_LUNAR_NEW_YEAR[year]) - dt.timedelta(days=1)
    days.update(eve + dt.timedelta(days=k) for k in range(7))
    return days


def demo_trading_calendar(first_year: int, last_year: int) -> list[dt.date]:
    """Weekdays minus a synthetic holiday table (Jan 1; Spring Festival eve + 6 days using a
    hard-coded table of lunar-new-year dates 2005-2035; Apr 4-5; May 1-3; Oct 1-7)."""
    closed = set().union(*(_holidays(y) for y in range(first_year, last_year + 1)))
    day, last = dt.date(first_year, 1, 1), dt.date(last_year, 12, 31)
    days = []
    while day <= last:
        if day.weekday() < 5 and day not in closed:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


# ---------------------------------------------------------------------------------------
# Policy path and industries
# ---------------------------------------------------------------------------------------

# Market short balance / float market cap at level 1.0 (before the 2023-10 curbs).
SHORT_RATIO_AT_PEAK = 0.0010
# Level of the market short ratio relative to that peak, interpolated between anchors:
# the 71.6bn -> 31.9bn -> 9.8bn -> ~15bn shape of the published SSE + SZSE totals. Flat outside the anchors.
SHORT_LEVEL_ANCHORS = (
    (dt.date(2023, 10, 13), 1.00),  # last day before the strategic-investor lending curbs
    (dt.date(2023, 10, 16), 1.00),
    (dt.date(2023, 12, 29), 0.72),
    (dt.date(2024, 1, 29), 0.72),  # restricted-share lending suspended
    (dt.date(2024, 7, 10), 0.32),
    (dt.date(2024, 7, 11), 0.32),  # 转融券 suspended, wound down by 2024-09-30
    (dt.date(2024, 9, 30), 0.10),
    (dt.date(2025, 6, 30), 0.15),
)
# Securities with outsized short interest keep their level until 转融券 is suspended.
_SPECIALS_HOLD_UNTIL = dt.date(2024, 7, 10)

HOT_INDUSTRIES = ("半导体", "电池", "消费电子", "自动化设备", "专用设备")
# One level-2 industry from each of 20 other level-1 industries (skipped if not in the seed).
_OTHER_INDUSTRIES = (
    "养殖业", "化学制品", "工业金属", "汽车零部件", "白色家电", "白酒Ⅱ", "化学制药",
    "电力", "物流", "房地产开发", "一般零售", "股份制银行Ⅱ", "证券Ⅱ", "水泥",
    "基础建设", "军工电子Ⅱ", "软件开发", "游戏Ⅱ", "通信设备", "煤炭开采",
)  # fmt: skip
_INDUSTRY_COUNT = 25
_HOT_SHORT_MULTIPLIER = 6.0  # hot industries' short/float vs other industries
_HOT_INDUSTRY_WEIGHT = 0.6  # hot industries hold fewer securities, so they stand out


def short_level(days: Sequence[dt.date]) -> np.ndarray:
    """The policy-driven market short level (1.0 = peak) on each day."""
    x = np.array([d.toordinal() for d in days], dtype=float)
    xp = [d.toordinal() for d, _ in SHORT_LEVEL_ANCHORS]
    fp = [level for _, level in SHORT_LEVEL_ANCHORS]
    return np.interp(x, xp, fp)


def load_demo_industries(path: Path = SW2021_SEED) -> pd.DataFrame:
    """The level-2 industries of the demo market: code, name, level-3 code, hot flag.

    The hot industries first, then one level-2 from each of other level-1 industries;
    the level-3 code is the level-2 code's first 4 digits + "01".
    """
    if not path.exists():
        raise FileNotFoundError(f"the demo market needs the Shenwan 2021 seed at {path}")
    seed = pd.read_csv(path, dtype=str)
    level2 = seed[seed["industry_level"] == "2"].sort_values("industry_code")
    by_name = level2.set_index("industry_name_zh")
    picked = [n for n in HOT_INDUSTRIES if n in by_name.index]
    picked += [n for n in _OTHER_INDUSTRIES if n in by_name.index]
    # Fallback if the seed lacks some names: the first level-2 of each unused level-1.
    used_parents = set(by_name.loc[picked, "parent_code"])
    for _, row in level2.iterrows():
        if len(picked) >= _INDUSTRY_COUNT:
            break
        if row["parent_code"] not in used_parents:
            picked.append(row["industry_name_zh"])
            used_parents.add(row["parent_code"])
    rows = by_name.loc[picked[:_INDUSTRY_COUNT]].reset_index()
    return pd.DataFrame(
        {
            "level2_code": rows["industry_code"],
            "name": rows["industry_name_zh"],
            "short_name": rows["industry_name_zh"].str.replace("Ⅱ", "", regex=False),
            "level3_code": rows["industry_code"].str[:4] + "01",
            "hot": rows["industry_name_zh"].isin(HOT_INDUSTRIES),
        }
    )


# ---------------------------------------------------------------------------------------
# Grid helpers
# ---------------------------------------------------------------------------------------


def _ar1(innovations: np.ndarray, phi: float | np.ndarray, first: np.ndarray | float = 0.0):
    """x_t = phi * x_{t-1} + e_t along axis 0, in place; x_{-1} = first."""
    x = innovations
    x[0] += phi * np.asarray(first)
    for t in range(1, len(x)):
        x[t] += phi * x[t - 1]
    return x


def _carry_forward(values: np.ndarray, frozen: np.ndarray) -> np.ndarray:
    """Rows where `frozen` is True repeat the last unfrozen row (a suspended security
    keeps its price and balances)."""
    last = np.where(frozen, 0, np.arange(len(values))[:, None])
    np.maximum.accumulate(last, axis=0, out=last)
    return np.take_along_axis(values, last, axis=0)


def _previous_rows(values: np.ndarray) -> np.ndarray:
    """values shifted down one row; the first row is its own predecessor."""
    return np.concatenate([values[:1], values[:-1]])


def _flows(balance: np.ndarray, churn_rate: np.ndarray) -> np.ndarray:
    """Gross daily inflow (buys, short sales) so that prev + inflow - outflow = balance."""
    previous = _previous_rows(balance)
    churn = np.rint(previous * churn_rate).astype(np.int64)
    return churn + np.maximum(balance - previous, 0)


def _round_to_tick(prices: np.ndarray, tick: np.ndarray | float) -> np.ndarray:
    """Prices on the tick grid, without float noise (ticks are >= 0.001)."""
    return np.round(np.round(prices / tick) * tick, 3)


def _parse_day(value: object, name: str) -> dt.date:
    """'YYYYMMDD', 'YYYY-MM-DD' or a date, as akshare accepts them."""
    if isinstance(value, dt.datetime):  # also pandas.Timestamp
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    for fmt in ("%Y%m%d", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            pass
    raise ValueError(f"{name}: expected a date as 'YYYYMMDD', got {value!r}")


def _text(values) -> pd.Series:
    return pd.Series(np.asarray(values, dtype=object), dtype="str")


def _dates(values) -> np.ndarray:
    """datetime.date objects in an object column, as akshare returns them."""
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def _bse_codes_after_switch(path: Path = BSE_CODE_SWITCH_SEED) -> dict[str, str]:
    """BSE's old codes and the 920xxx codes its stocks switched to (seed bse_code_switch)."""
    seed = pd.read_csv(path, dtype=str)
    return dict(zip(seed["security_code_before_switch"], seed["security_code"], strict=True))


def _yyyymmdd(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


# ---------------------------------------------------------------------------------------
# The market
# ---------------------------------------------------------------------------------------

_EXCHANGES = ("SSE", "SZSE", "BSE")
# Code ranges per exchange (first, last) as listed in the brief's board prefixes.
_CODE_RANGES = {
    "SSE": ((600000, 601999), (603000, 603999), (688000, 688999)),
    "SZSE": ((1, 999), (2001, 2999), (300001, 300999)),
    "BSE": ((830000, 839999), (870000, 879999), (920000, 920999)),
}
_EXCHANGE_SHARES = {"SSE": 0.45, "SZSE": 0.45, "BSE": 0.10}
# Funds on the margin lists: ETFs (SSE 51x/56x/58x, SZSE 159) and LOFs (SSE 501, SZSE 16x).
_FUND_CODE_RANGES = {
    "SSE": ((501000, 501099), (510000, 518999), (560000, 563999), (588000, 588399)),
    "SZSE": ((159001, 159999), (160100, 169999)),
    "BSE": (),
}
_FUND_SHARE = 0.08  # of an exchange's securities on the lists, where it lists funds

# Spot index: sina symbol -> (level around which it mean-reverts, beta to the market).
_SPOT_INDICES = {
    "sh000300": (3800.0, 1.00),
    "sh000016": (2550.0, 0.85),
    "sh000905": (5600.0, 1.15),
    "sh000852": (6100.0, 1.25),
}
# Equity-index futures (spot in SPOT_INDEX_SYMBOLS): variety -> (CNY per point, annualised
# basis before the curbs, how much deeper it gets once short selling is curbed).
_INDEX_FUTURES = {
    "IF": (300, -0.015, -0.035),
    "IH": (300, -0.010, -0.025),
    "IC": (200, -0.030, -0.075),
    "IM": (200, -0.035, -0.075),
}
_INDEX_FUTURES_OPEN_INTEREST = {"IF": 240_000, "IH": 90_000, "IC": 280_000, "IM": 260_000}
# Bond futures CFFEX also lists (our staging layer filters them): variety -> (price level,
# listed quarterly contracts shown, CNY per price point).
_BOND_FUTURES = {"T": (102.5, 2, 10_000), "TF": (103.0, 1, 10_000)}

_SUSPENSION_RATE = 0.002  # share of security-days without trading
_JOIN_SHARE = 0.03  # securities added to the margin list mid-period
_RECLASSIFIED_SHARE = 0.03  # securities moved to another industry mid-period
_ZERO_SHORT_SHARE = 0.15  # securities nobody shorts
# The margin events the marts' signals look for (fct_margin_signal), each placed at a
# fraction of the demo's trading days on a security chosen by rule: the research report's
# 涨幅异动 table in synthetic form. Financing highs need a year of a security's history, so
# they sit late in the demo; in a demo shorter than that they cannot show.
_EVENT_AT = {
    "short_suspended": 0.40,  # 当日可融券 N for 3 days, the list unchanged
    "short_squeeze": 0.45,  # short volume bought back by half, close at the daily limit
    "short_growth": 0.50,  # short volume up 40 % from one day on
    "short_removed": 0.55,  # off the 融券 list (like 金安国纪): shorts closed, limit-up close
    "short_cleared": 0.62,  # short volume bought back to ~0 at a limit-up close (like 键邦股份)
    "financing_to_float": 0.66,  # financing balance rises to 6 % of the float cap
    "financing_one_year_high": 0.70,  # highest in a year, below an older peak (like 七匹狼)
    "financing_record_high": 0.75,  # highest ever, at a limit-up close (like 迪生力)
}
_SHORT_SUSPENSION_DAYS = 3
_MAINTENANCE_DECLINE = 0.8  # the average maintenance ratio's fall over the demo's last third
_MAINTENANCE_TYPICAL = 2.8  # the average maintenance ratio, as a fraction, in a calm market
_MAINTENANCE_MARKET_BETA = 1.5  # leveraged collateral moves more than the market
_MAINTENANCE_PERSISTENCE = 0.98  # the day-on-day share of a move the ratio still shows


class DemoMarket:
    """A synthetic market of `securities` securities over [start, end], keyed by `seed`."""

    def __init__(
        self,
        securities: int = 300,
        start: dt.date = dt.date(2023, 1, 1),
        end: dt.date = dt.date(2025, 6, 30),
        seed: int = 20231016,
    ):
        start, end = _parse_day(start, "start"), _parse_day(end, "end")
        if not 10 <= securities <= 6000:
            raise ValueError(f"securities must be within 10..6000, got {securities}")
        self.label = DEMO_LABEL
        self.seed = seed
        self.start, self.end = start, end
        # Sina's calendar runs to the end of the current year; expiries need one more.
        self._calendar = demo_trading_calendar(start.year - 1, end.year)
        self._expiry_calendar = set(demo_trading_calendar(start.year, end.year + 1))
        self.trading_days = [d for d in self._calendar if start <= d <= end]
        if not self.trading_days:
            raise ValueError(f"no demo trading days within [{start}, {end}]")
        self._day_index = {d: t for t, d in enumerate(self.trading_days)}
        self._ordinals = np.array([d.toordinal() for d in self.trading_days])
        self._rng = np.random.default_rng(seed)

        self._build_securities(securities)
        self._build_prices()
        self._build_financing()
        self._build_short_selling()
        self._build_margin_events()
        self._build_summaries()
        self._build_spot_indices()
        self._build_futures()
        del self._rng  # everything random is drawn; calls are pure slices

    # ---------------------------------------------------------------- securities
    def _build_securities(self, n: int) -> None:
        rng = self._rng
        counts = {x: round(n * _EXCHANGE_SHARES[x]) for x in ("SSE", "BSE")}
        counts["SZSE"] = n - counts["SSE"] - counts["BSE"]
        codes, exchanges = [], []
        for exchange in _EXCHANGES:
            funds = round(counts[exchange] * _FUND_SHARE) if _FUND_CODE_RANGES[exchange] else 0
            for ranges, size in (
                (_CODE_RANGES[exchange], counts[exchange] - funds),
                (_FUND_CODE_RANGES[exchange], funds),
            ):
                if size:
                    pool = np.concatenate([np.arange(a, b + 1) for a, b in ranges])
                    codes += [f"{c:06d}" for c in rng.choice(pool, size=size, replace=False)]
            exchanges += [exchange] * counts[exchange]
        # A code BSE retired (its stock switched to a 920xxx code) is drawn as that new code:
        # the warehouse keys a switched stock by its new code on every day, so a demo
        # security under a retired code would show under a code its frames never carry.
        retired = _bse_codes_after_switch()
        codes = [retired.get(c, c) for c in codes]
        if len(set(codes)) < len(codes):
            raise ValueError("a retired BSE code was drawn with the code it switched to")
        order = np.argsort(codes)
        self.codes = np.asarray(codes, dtype=object)[order]
        self.exchange = np.asarray(exchanges, dtype=object)[order]
        self.is_fund = np.array([security_type(c) == "fund" for c in self.codes])
        self.n = n

        industries = load_demo_industries()
        weights = np.where(industries["hot"], _HOT_INDUSTRY_WEIGHT, 1.0)
        self._industries = industries
        self.industry = rng.choice(len(industries), size=n, p=weights / weights.sum())
        self.names = self._security_names(industries["short_name"].to_numpy())

        days = len(self.trading_days)
        # Margin-list join day (0 = eligible from the start) and reclassification day.
        self.join_day = np.zeros(n, dtype=np.int64)
        joiners = rng.choice(n, size=max(1, round(n * _JOIN_SHARE)), replace=False)
        self.join_day[joiners] = rng.integers(
            days // 10, max(days // 10 + 1, days * 9 // 10), size=len(joiners)
        )
        self.reclass_day = np.full(n, days, dtype=np.int64)  # days = never
        self.industry_after = self.industry.copy()
        movers = rng.choice(n, size=max(1, round(n * _RECLASSIFIED_SHARE)), replace=False)
        self.reclass_day[movers] = rng.integers(1, max(days, 2), size=len(movers))
        shift = rng.integers(1, len(industries), size=len(movers))
        self.industry_after[movers] = (self.industry[movers] + shift) % len(industries)
        # A reclassified company takes a name of its new industry the same day (a renamed
        # business), so a name never contradicts the industry the warehouse shows with it.
        self.names_after = self._renamed(industries["short_name"].to_numpy(), movers)
        # First classification: some day between 2010 and a month before the demo starts.
        first_ordinal = dt.date(2010, 1, 1).toordinal()
        last_ordinal = max(first_ordinal + 1, (self.start - dt.timedelta(days=30)).toordinal())
        self.classified_on = rng.integers(first_ordinal, last_ordinal, size=n)

    def names_on(self, t: int | None) -> np.ndarray:
        """Every security's name on trading day index `t` (after its reclassification, the
        name of its new industry)."""
        if t is None:
            return self.names
        return np.where(t >= self.reclass_day, self.names_after, self.names)

    def _renamed(self, short_names: np.ndarray, movers: np.ndarray) -> np.ndarray:
        """Names after reclassification: the new industry's, numbered on after the names
        that industry already has (names stay unique)."""
        names = self.names.copy()
        taken = np.bincount(self.industry, minlength=len(short_names))
        for i in sorted(int(m) for m in movers if not self.is_fund[m]):
            k = self.industry_after[i]
            taken[k] += 1
            names[i] = f"演示{short_names[k]}{taken[k]:02d}"
        return names

    def _security_names(self, short_names: np.ndarray) -> np.ndarray:
        """'演示' + short industry name + a number within the industry: '演示半导体07'; funds
        '演示ETF03' (their short selling still follows a theme, but no Shenwan industry)."""
        counts = np.bincount(self.industry, minlength=len(short_names))
        width = max(2, len(str(counts.max())))
        seen = np.zeros(len(short_names), dtype=int)
        funds = 0
        names = []
        for k, is_fund in zip(self.industry, self.is_fund, strict=True):
            if is_fund:
                funds += 1
                names.append(f"演示ETF{funds:0{width}d}")
            else:
                seen[k] += 1
                names.append(f"演示{short_names[k]}{seen[k]:0{width}d}")
        return np.asarray(names, dtype=object)

    # ---------------------------------------------------------------- prices
    def _build_prices(self) -> None:
        rng, n, days = self._rng, self.n, len(self.trading_days)
        self.market_return = rng.normal(0.0, 0.011, days)
        beta = rng.uniform(0.6, 1.4, n)
        log_level = np.log(np.clip(rng.lognormal(np.log(18.0), 0.7, n), 4.0, 90.0))
        # Daily log returns, capped near the 10% price limit, mean-reverting in log price so
        # that ten years stay within the 3-150 CNY band.
        returns = rng.normal(0.0, 0.018, (days, n))
        returns += self.market_return[:, None] * beta
        np.clip(returns, -0.095, 0.095, out=returns)
        log_gap = _ar1(returns, 0.998, rng.normal(0.0, 0.2, n))
        close = np.exp(log_gap + log_level)
        del returns, log_gap
        close = np.round(np.clip(close, 3.0, 150.0), 2)
        close[:, self.is_fund] = np.round(close[:, self.is_fund] / 10, 3)  # ETFs trade ~1 CNY
        self.suspended = rng.random((days, n)) < _SUSPENSION_RATE
        self.close = _carry_forward(close, self.suspended)  # CNY, as Sina rounds it
        del close

        # Float shares: 1e8-3e9 to start (BSE smaller), unlocks raise them now and then.
        is_bse = self.exchange == "BSE"
        first = np.exp(rng.uniform(np.log(1e8), np.log(3e9), n))
        first[is_bse] = np.exp(rng.uniform(np.log(1e8), np.log(4e8), is_bse.sum()))
        step = np.where(rng.random((days, n)) < 1 / 500, rng.uniform(1.05, 1.4, (days, n)), 1.0)
        step[0] = first
        np.cumprod(step, axis=0, out=step)
        self.float_shares = np.round(np.minimum(step, 5e9), -2)  # shares
        self.turnover_level = np.exp(rng.uniform(np.log(0.005), np.log(0.03), n))
        self.market_activity = np.exp(_ar1(rng.normal(0.0, 0.05, days), 0.97))
        self.bar_seed = int(rng.integers(2**31))  # per-security OHLC noise, drawn on request

    def _float_cap(self) -> np.ndarray:
        return self.close * self.float_shares  # CNY

    def _eligibility_ramp(self) -> np.ndarray:
        """0 before a security joins the margin list, rising to 1 over 40 trading days;
        1 throughout for securities on the list from the start."""
        t = np.arange(len(self.trading_days))[:, None]
        ramp = np.clip((t - self.join_day + 1) / 40.0, 0.0, 1.0)
        ramp[:, self.join_day == 0] = 1.0
        return ramp

    # ---------------------------------------------------------------- financing
    def _build_financing(self) -> None:
        rng, n, days = self._rng, self.n, len(self.trading_days)
        # Financing balance / float cap: 1.5-4% per security, ~2.4% for the market.
        base = 0.016 + 0.025 * rng.beta(2.0, 4.0, n)
        drift = _ar1(rng.normal(0.0, 0.02, (days, n)), 0.99)
        trend = np.exp(np.clip(_ar1(rng.normal(0.0, 0.003, days), 0.995), -0.05, 0.05))
        ratio = np.clip(base * np.exp(drift) * trend[:, None], 0.015, 0.04)
        del drift
        target = ratio * self._float_cap() * self._eligibility_ramp()
        del ratio
        # Balances follow their target with a lag: a price jump is not financed in a day.
        speed = 0.3
        target *= speed
        balance = _ar1(target, 1 - speed, target[0] / speed)
        del target
        self.fin_balance = _carry_forward(np.rint(balance).astype(np.int64), self.suspended)
        del balance
        churn = rng.uniform(0.02, 0.06, (days, n)) * ~self.suspended
        self.fin_buy = _flows(self.fin_balance, churn)  # CNY

    # ---------------------------------------------------------------- short selling
    def _build_short_selling(self) -> None:
        rng, n, days = self._rng, self.n, len(self.trading_days)
        hot = self._industries["hot"].to_numpy()
        weight = rng.lognormal(0.0, 0.8, n)
        weight[self.exchange == "BSE"] *= 0.5
        weight[rng.random(n) < _ZERO_SHORT_SHARE] = 0.0
        industry_factor = np.where(hot, _HOT_SHORT_MULTIPLIER, 1.0)
        t = np.arange(days)[:, None]
        industry_now = np.where(t >= self.reclass_day, self.industry_after, self.industry)
        raw = weight * industry_factor[industry_now]
        del industry_now
        raw *= np.exp(_ar1(rng.normal(0.0, 0.03, (days, n)), 0.99))
        raw *= self._eligibility_ramp()
        cap = self._float_cap()

        # The market level: policy path with a little noise.
        level = short_level(self.trading_days) * np.exp(_ar1(rng.normal(0.0, 0.01, days), 0.95))
        target_value = SHORT_RATIO_AT_PEAK * level * cap.sum(axis=1)  # CNY

        specials = self._pick_short_specials(weight, hot, cap)
        special_ratio = np.zeros((days, n))
        special_ratio[:, specials] = rng.uniform(0.01, 0.03, len(specials))
        special_ratio *= self._special_level(level)[:, None] * self._eligibility_ramp()
        special_value = (special_ratio * cap).sum(axis=1)
        # Specials never take more than 70% of the market's short balance.
        squeeze = np.minimum(1.0, 0.7 * target_value / np.maximum(special_value, 1.0))
        special_ratio *= squeeze[:, None]
        special_value *= squeeze
        raw[:, specials] = 0.0
        others_value = (raw * cap).sum(axis=1)
        scale = (target_value - special_value) / np.maximum(others_value, 1.0)
        ratio = raw * scale[:, None] + special_ratio  # short volume / float shares
        del raw, special_ratio, cap
        volume = np.rint(ratio * self.float_shares).astype(np.int64)
        del ratio
        self.short_volume = _carry_forward(volume, self.suspended)  # shares
        del volume
        churn = rng.uniform(0.01, 0.06, (days, n)) * ~self.suspended
        self.short_sell = _flows(self.short_volume, churn)  # shares
        self.short_specials = specials

    def _pick_short_specials(self, weight, hot, cap) -> np.ndarray:
        """A handful of small caps in hot industries with 1-3% short/float (like 铜冠铜箔)."""
        k = int(np.clip(round(self.n / 100), 2, 12))
        candidates = np.flatnonzero(
            hot[self.industry]
            & (weight > 0)
            & (self.exchange != "BSE")
            & (self.join_day == 0)
            & (self.reclass_day == len(self.trading_days))
        )
        if len(candidates) == 0:
            return candidates
        small_first = candidates[np.argsort(cap[0, candidates])]
        pool = small_first[: max(k, len(small_first) * 2 // 5)]
        return np.sort(self._rng.choice(pool, size=min(k, len(pool)), replace=False))

    def _special_level(self, level: np.ndarray) -> np.ndarray:
        """1 until 转融券 is suspended, then the market's decline since that day."""
        hold = self._ordinals <= _SPECIALS_HOLD_UNTIL.toordinal()
        return np.where(hold, 1.0, level / short_level([_SPECIALS_HOLD_UNTIL])[0])

    # ---------------------------------------------------------------- margin events
    def _build_margin_events(self) -> None:
        """The eligible lists (融资 / 融券 标的, 当日可融资 / 可融券) and the events of
        `_EVENT_AT`, drawn from their own random stream so that the rest of the market is
        the same with or without them."""
        rng = np.random.default_rng([self.seed, 21])
        days, n = len(self.trading_days), self.n
        t_index = np.arange(days)[:, None]
        listed = t_index >= self.join_day  # on the list: 融资标的 and 融券标的 Y
        self.short_eligible = listed.copy()
        self.can_short_today = listed.copy()
        self.margin_events: dict[str, tuple[int, str]] = {}  # case -> (day index, code)
        used: set[int] = set()

        def pick(case: str, exchanges: tuple[str, ...], by: np.ndarray) -> int | None:
            """The security with the largest `by` among stocks of `exchanges` on the list
            from the start and not used by another case; None if the demo is too short."""
            t = int(round(_EVENT_AT[case] * (days - 1)))
            if t < 6 or t >= days:
                return None
            ok = (
                np.isin(self.exchange, exchanges) & ~self.is_fund & (self.join_day == 0)
                & ~np.isin(np.arange(n), list(used) + list(self.short_specials))
            )  # fmt: skip
            if not ok.any():
                return None
            score = np.where(ok, by + rng.uniform(0, 1e-6, n), -np.inf)
            i = int(np.argmax(score))
            used.add(i)
            self.margin_events[case] = (t, str(self.codes[i]))
            return t, i

        short_value = self.short_volume * self.close
        at = {case: int(round(f * (days - 1))) for case, f in _EVENT_AT.items()}
        value_at = lambda case: short_value[min(at[case], days - 1) - 1]  # noqa: E731

        if chosen := pick("short_suspended", ("SZSE", "BSE"), value_at("short_suspended")):
            t, i = chosen
            self.can_short_today[t : t + _SHORT_SUSPENSION_DAYS, i] = False
        if chosen := pick("short_squeeze", ("SSE", "SZSE"), value_at("short_squeeze")):
            t, i = chosen
            self.short_volume[t:, i] = np.rint(self.short_volume[t:, i] * 0.4)
            self._limit_up(t, i)
        if chosen := pick("short_growth", ("SSE", "SZSE", "BSE"), value_at("short_growth")):
            t, i = chosen
            self.short_volume[t:, i] = np.rint(self.short_volume[t:, i] * 1.4)
        if chosen := pick("short_removed", ("SZSE",), value_at("short_removed")):
            t, i = chosen
            self.short_eligible[t:, i] = False
            self.can_short_today[t:, i] = False
            self.short_volume[t:, i] = 0
            self._limit_up(t, i)
        if chosen := pick("short_cleared", ("SSE",), value_at("short_cleared")):
            t, i = chosen
            self.short_volume[t:, i] = np.rint(self.short_volume[t:, i] * 0.01)
            self._limit_up(t, i)
        if chosen := pick("financing_to_float", ("SSE", "SZSE"), -self.fin_balance[0]):
            t, i = chosen
            target = 0.06 * self.close[t:, i] * self.float_shares[t:, i]
            self.fin_balance[t:, i] = np.rint(np.maximum(self.fin_balance[t:, i], target))
        for case, exchanges in (("financing_one_year_high", ("SZSE",)),
                                ("financing_record_high", ("SSE",))):  # fmt: skip
            if at[case] < 260 or not (chosen := pick(case, exchanges, -self.fin_balance[0])):
                self.margin_events.pop(case, None)
                continue
            t, i = chosen
            balance = self.fin_balance[:, i].astype(float)
            year_max = balance[t - 249 : t].max()
            if case == "financing_one_year_high":
                # an older peak above this year's: a one-year high, not a record
                older = balance[: t - 249]
                balance[: t - 249] = older * (1.25 * year_max / older.max())
                balance[t:] *= 1.03 * year_max / balance[t]
            else:
                balance[t:] *= 1.05 * balance[:t].max() / balance[t]
            self.fin_balance[:, i] = np.rint(balance).astype(np.int64)
            self._limit_up(t, i)
        # flows that roll the changed balances forward (buys, short sales), as built
        churn = rng.uniform(0.02, 0.06, (days, n)) * ~self.suspended
        changed = sorted(used)
        self.fin_buy[:, changed] = _flows(self.fin_balance[:, changed], churn[:, changed])
        self.short_sell[:, changed] = _flows(self.short_volume[:, changed], churn[:, changed] / 2)

    def _limit_up(self, t: int, i: int) -> None:
        """Security i closes at its daily limit on day t (main board 10 %, ChiNext / STAR
        20 %, BSE 30 %); later closes move with it."""
        code = str(self.codes[i])
        limit = 0.3 if self.exchange[i] == "BSE" else 0.2 if code[:3] in ("300", "301", "688") else 0.1
        self.suspended[t, i] = False
        target = np.round(self.close[t - 1, i] * (1 + limit), 2)
        factor = target / self.close[t, i]
        self.close[t:, i] = np.round(self.close[t:, i] * factor, 2)
        self.close[t, i] = target

    def _eligible_list(self, date: str, exchange: str) -> pd.DataFrame:
        """The day's eligible list of an exchange as the list functions return it."""
        t = self._day(date)
        rows = self._listed(t, exchange)
        mark = lambda flags: np.where(flags, "Y", "N").astype(object)  # noqa: E731
        short = self.short_eligible[t, rows] if rows.size else np.array([], dtype=bool)
        can_short = self.can_short_today[t, rows] if rows.size else np.array([], dtype=bool)
        return pd.DataFrame(
            {
                "证券代码": _text(self.codes[rows]),
                "证券简称": _text(self.names_on(t)[rows]),
                "融资标的": _text(mark(np.ones(len(rows), dtype=bool))),
                "融券标的": _text(mark(short)),
                "当日可融资": _text(mark(np.ones(len(rows), dtype=bool))),
                "当日可融券": _text(mark(can_short)),
            }
        )

    def _ak_stock_margin_underlying_info_szse(self, date: str) -> pd.DataFrame:
        frame = self._eligible_list(date, "SZSE")
        limit = np.where(frame["证券代码"].str[:3].isin(["300", "301"]), "20%", "10%")
        return frame.assign(融券卖出价格限制=_text(["Y"] * len(frame)), 涨跌幅限制=_text(limit))

    def _ak_stock_margin_underlying_info_bse(self, date: str) -> pd.DataFrame:
        return self._eligible_list(date, "BSE")

    def _ak_stock_margin_account_info(self) -> pd.DataFrame:
        """Eastmoney's market account statistics over the whole demo, oldest first, in its
        units: 亿元, 万名 (individual investors), 名 (investors), percent. The average
        maintenance ratio follows the market and falls over the demo's last third."""
        days = len(self.trading_days)
        fin = sum(self.summary[x]["融资余额"] for x in _EXCHANGES)
        short = sum(self.summary[x]["融券余额"] for x in _EXCHANGES)
        buys = sum(self.summary[x]["融资买入额"] for x in _EXCHANGES)
        short_sales = (self.short_sell * self.close).sum(axis=1)
        # Collateral is marked to the market every day, the debt follows only as investors
        # borrow and repay: the ratio moves with each day's market return and drifts back
        # to its usual level as the debt catches up (no bound: a bound would hold it flat
        # for as long as the market stays beyond it).
        cover = _MAINTENANCE_TYPICAL * np.exp(
            _ar1(self.market_return * _MAINTENANCE_MARKET_BETA, _MAINTENANCE_PERSISTENCE)
        )
        cover *= np.interp(np.arange(days), [0, days * 2 / 3, days - 1], [1, 1, _MAINTENANCE_DECLINE])
        collateral = cover * (fin + short)
        debtors = np.rint((fin + short) / 3e5)
        return pd.DataFrame(
            {
                "日期": _dates(self.trading_days),
                "融资余额": np.round(fin / 1e8, 2),
                "融券余额": np.round(short / 1e8, 2),
                "融资买入额": np.round(buys / 1e8, 2),
                "融券卖出额": np.round(short_sales / 1e8, 2),
                "证券公司数量": np.full(days, 96.0),
                "营业部数量": np.full(days, 11_320.0),
                "个人投资者数量": np.round(debtors * 3.1 / 1e4, 2),
                "机构投资者数量": np.full(days, 49_000.0),
                "参与交易的投资者数量": np.rint(debtors * 0.09),
                "有融资融券负债的投资者数量": debtors,
                "担保物总价值": np.round(collateral / 1e8, 2),
                "平均维持担保比例": np.round(collateral / (fin + short) * 100, 2),
            }
        )

    # ---------------------------------------------------------------- exchange totals
    def _build_summaries(self) -> None:
        rng, days = self._rng, len(self.trading_days)
        short_value = np.rint(self.short_volume * self.close)  # CNY, per security
        self.summary: dict[str, dict[str, np.ndarray]] = {}
        for exchange in _EXCHANGES:
            cols = self.exchange == exchange
            # Totals include securities removed from the list: 0-0.5% on top of the detail.
            residual = np.clip(
                rng.uniform(0.0005, 0.004) + _ar1(rng.normal(0.0, 0.0003, days), 0.98),
                0.0,
                0.005,
            )
            self.summary[exchange] = {
                "融资余额": np.rint(self.fin_balance[:, cols].sum(axis=1) * (1 + residual)),
                "融资买入额": self.fin_buy[:, cols].sum(axis=1).astype(float),
                "融券余量": np.rint(self.short_volume[:, cols].sum(axis=1) * (1 + residual)),
                "融券余额": np.rint(short_value[:, cols].sum(axis=1) * (1 + residual)),
                "融券卖出量": self.short_sell[:, cols].sum(axis=1).astype(float),
            }

    # ---------------------------------------------------------------- spot indices
    def _build_spot_indices(self) -> None:
        rng, days = self._rng, len(self.trading_days)
        self.spot: dict[str, pd.DataFrame] = {}
        for symbol, (level, beta) in _SPOT_INDICES.items():
            returns = beta * self.market_return + rng.normal(0.0, 0.002, days)
            close = level * np.exp(_ar1(returns, 0.985))
            open_ = np.concatenate([[close[0]], close[:-1]]) * np.exp(rng.normal(0, 0.003, days))
            wick = np.abs(rng.normal(0.0, 0.004, (2, days)))
            self.spot[symbol] = pd.DataFrame(
                {
                    "date": _dates(self.trading_days),
                    "open": np.round(open_, 3),
                    "high": np.round(np.maximum(open_, close) * (1 + wick[0]), 3),
                    "low": np.round(np.minimum(open_, close) * (1 - wick[1]), 3),
                    "close": np.round(close, 3),
                    "volume": np.round(1.2e10 * self.market_activity * rng.lognormal(0, 0.1, days)),
                }
            )

    # ---------------------------------------------------------------- futures
    def _expiry(self, month_index: int, weekday_rank: int) -> dt.date:
        """The n-th Friday of a month (or the next trading day if that is a holiday)."""
        year, month = divmod(month_index, 12)
        first = dt.date(year, month + 1, 1)
        day = first + dt.timedelta(days=(4 - first.weekday()) % 7 + 7 * (weekday_rank - 1))
        for _ in range(31):
            if day in self._expiry_calendar:
                return day
            day += dt.timedelta(days=1)
        raise ValueError(f"no demo trading day after {first:%Y-%m} to expire on")

    def _listed_contracts(self, day: dt.date) -> list[tuple[str, int]]:
        """(variety, month index) of every contract listed on `day`."""
        month = day.year * 12 + day.month - 1
        if day > self._expiry(month, 3):
            month += 1  # this month's contract has expired: next month is the current one
        quarters = [m for m in range(month + 2, month + 9) if m % 12 % 3 == 2][:2]
        index_months = [month, month + 1, *quarters]
        bond_month = day.year * 12 + day.month - 1
        bond_month += (2 - bond_month % 12 % 3) % 3  # the current or next quarter month
        if day > self._expiry(bond_month, 2):
            bond_month += 3
        rows = [(v, m) for v in _INDEX_FUTURES for m in index_months]
        for variety, (_, listed, _) in _BOND_FUTURES.items():
            rows += [(variety, bond_month + 3 * k) for k in range(listed)]
        return rows

    def _build_futures(self) -> None:
        rng, days = self._rng, len(self.trading_days)
        depth = np.clip((1.0 - short_level(self.trading_days)) / 0.9, 0.0, 1.0)
        rows = [
            (t, variety, month)
            for t, day in enumerate(self.trading_days)
            for variety, month in self._listed_contracts(day)
        ]
        t_row = np.array([r[0] for r in rows])
        variety = np.array([r[1] for r in rows], dtype=object)
        month = np.array([r[2] for r in rows])
        expiry = {m: self._expiry(m, 3) for m in set(month)}
        bond_expiry = {m: self._expiry(m, 2) for m in set(month)}
        is_bond = np.isin(variety, list(_BOND_FUTURES))
        expiry_ordinal = np.array(
            [
                (bond_expiry if b else expiry)[m].toordinal()
                for m, b in zip(month, is_bond, strict=True)
            ]
        )
        day_ordinal = np.array([d.toordinal() for d in self.trading_days])
        prev_ordinal = np.concatenate([[day_ordinal[0]], day_ordinal[:-1]])

        # Underlying per variety and day: the spot index, or a bond-price level.
        underlying, basis = {}, {}
        for v, (_, before, deepen) in _INDEX_FUTURES.items():
            underlying[v] = self.spot[SPOT_INDEX_SYMBOLS[v]]["close"].to_numpy()
            noise = _ar1(rng.normal(0.0, 0.003, days), 0.95)
            basis[v] = before + deepen * depth + noise  # annualised, negative = discount
        for v, (level, _, _) in _BOND_FUTURES.items():
            underlying[v] = level * np.exp(_ar1(rng.normal(0.0, 0.0015, days), 0.995))
            basis[v] = np.full(days, -0.002)

        def fair(t: np.ndarray, ordinal: np.ndarray) -> np.ndarray:
            out = np.empty(len(t))
            for v in underlying:
                sel = variety == v
                to_expiry = np.maximum(expiry_ordinal[sel] - ordinal[sel], 0) / 365.0
                out[sel] = underlying[v][t[sel]] * (1 + basis[v][t[sel]] * to_expiry)
            return out

        tick = np.where(is_bond, 0.005, 0.2)
        noise = rng.normal(0.0, 1.0, (5, len(rows)))
        spread = np.where(is_bond, 0.0004, 0.002)
        close = fair(t_row, day_ordinal[t_row]) * (1 + 0.0004 * noise[0])
        settle = close * (1 + 0.0003 * noise[1])
        listing_price = fair(np.maximum(t_row - 1, 0), prev_ordinal[t_row])

        frame = pd.DataFrame({"t": t_row, "variety": variety, "month": month})
        frame["symbol"] = [
            f"{v}{m // 12 % 100:02d}{m % 12 + 1:02d}" for v, m in zip(variety, month, strict=True)
        ]
        frame["close"] = _round_to_tick(close, tick)
        frame["settle"] = _round_to_tick(settle, tick)
        # pre_settle: yesterday's settle; a new contract's listing price on its first day.
        previous = frame.groupby("symbol", sort=False)["settle"].shift(1)
        frame["pre_settle"] = previous.fillna(pd.Series(_round_to_tick(listing_price, tick)))
        open_ = frame["pre_settle"].to_numpy() * (1 + spread * noise[2])
        frame["open"] = _round_to_tick(open_, tick)
        high = np.maximum(frame["open"], frame["close"]) * (1 + spread * np.abs(noise[3]))
        low = np.minimum(frame["open"], frame["close"]) * (1 - spread * np.abs(noise[4]))
        frame["high"] = _round_to_tick(high.to_numpy(), tick)
        frame["low"] = _round_to_tick(low.to_numpy(), tick)

        oi, volume = self._futures_activity(frame, expiry_ordinal - day_ordinal[t_row], depth)
        frame["open_interest"] = oi
        frame["volume"] = volume
        multiplier = frame["variety"].map(
            {v: spec[0] for v, spec in _INDEX_FUTURES.items()}
            | {v: spec[2] for v, spec in _BOND_FUTURES.items()}
        )
        mid = (frame["open"] + frame["close"]) / 2
        frame["turnover"] = np.round(frame["volume"] * mid * multiplier / 1e4, 4)  # 万元
        frame["date"] = [_yyyymmdd(self.trading_days[t]) for t in t_row]
        # CFFEX lists products alphabetically, contracts by month.
        frame = frame.sort_values(["t", "variety", "month"], kind="stable")
        self._futures_t = frame["t"].to_numpy()
        columns = DATASETS["futures_hist_daily_cffex"].column_names
        self.futures = frame[columns].reset_index(drop=True)
        self.futures["symbol"] = self.futures["symbol"].astype("str")
        self.futures["date"] = self.futures["date"].astype("str")
        self.futures["variety"] = self.futures["variety"].astype("str")

    def _futures_activity(self, frame: pd.DataFrame, days_to_expiry: np.ndarray, depth):
        """Open interest and volume per contract: rising with the short-selling curbs,
        the current month's share fading into its expiry (the roll)."""
        rng = self._rng
        rank = frame.groupby(["t", "variety"], sort=False).cumcount().to_numpy()
        is_bond = frame["variety"].isin(list(_BOND_FUTURES)).to_numpy()
        oi_share = np.array([0.35, 0.25, 0.30, 0.10])[np.minimum(rank, 3)]
        oi_share[rank == 0] *= np.clip(days_to_expiry[rank == 0] / 10.0, 0.1, 1.0)
        base = frame["variety"].map(_INDEX_FUTURES_OPEN_INTEREST).fillna(60_000).to_numpy()
        growth = np.where(is_bond, 1.0, 1.0 + 0.6 * depth[frame["t"].to_numpy()])
        noise = rng.lognormal(0.0, 0.05, (2, len(frame)))
        oi = np.rint(base * growth * oi_share * noise[0]).astype(np.int64)
        turn = np.array([0.6, 0.25, 0.15, 0.08])[np.minimum(rank, 3)]
        volume = np.rint(oi * turn * noise[1]).astype(np.int64)
        return oi, volume

    # ---------------------------------------------------------------- calls
    def call(self, function: str, **kwargs) -> pd.DataFrame:
        """Answer exactly as akshare.<function>(**kwargs) would: same columns, same order,
        same dtypes. A day that is not a demo trading day gives an empty frame."""
        handler = getattr(self, f"_ak_{function}", None)
        if function not in DATASETS or handler is None:
            raise ValueError(
                f"the demo market does not answer {function!r}; it answers {sorted(DATASETS)}"
            )
        params = inspect.signature(handler).parameters
        unknown = sorted(set(kwargs) - set(params))
        missing = sorted(
            p for p, spec in params.items() if spec.default is spec.empty and p not in kwargs
        )
        if unknown or missing:
            raise ValueError(
                f"{function}: unsupported arguments {unknown}, missing arguments {missing}; "
                f"it takes {list(params)}"
            )
        return handler(**kwargs)

    def snapshot(self, function: str, day: dt.date) -> pd.DataFrame:
        """What akshare.<function>() returns when called after the close of `day`."""
        handler = getattr(self, f"_snapshot_{function}", None)
        if (
            handler is None
            or DATASETS.get(function) is None
            or DATASETS[function].call != "snapshot"
        ):
            raise ValueError(f"the demo market takes no snapshot of {function!r}")
        t = self._day_index.get(day)
        if t is None:
            raise ValueError(f"{function}: {day} is not a demo trading day")
        return handler(t)

    def _ak_stock_zh_a_spot_em(self) -> pd.DataFrame:
        """Called with no arguments, the snapshot shows the demo's last day."""
        return self._snapshot_stock_zh_a_spot_em(len(self.trading_days) - 1)

    def _snapshot_stock_zh_a_spot_em(self, t: int) -> pd.DataFrame:
        """Every security, as Eastmoney lists it after the close of day t: the close and
        float shares are the daily bars'; open/high/low and volume are simpler than the
        bars' (prices only feed the marts through the close). Suspended: NaN prices."""
        close = self.close[t].astype(np.float64)
        prev = self.close[t - 1] if t > 0 else close
        shares = self.float_shares[t]
        suspended = self.suspended[t]
        turnover = np.minimum(self.turnover_level * self.market_activity[t], 0.5)
        volume_lots = np.where(suspended, 0.0, np.round(turnover * shares / 100))
        price = np.where(suspended, np.nan, close)
        frame = pd.DataFrame(
            {
                "序号": np.arange(1, self.n + 1),
                "代码": self.codes,
                "名称": self.names_on(t),
                "最新价": price,
                "涨跌幅": np.round((price / prev - 1) * 100, 2),
                "涨跌额": np.round(price - prev, 2),
                "成交量": volume_lots,
                "成交额": np.round(volume_lots * 100 * close),
                "振幅": np.round(np.abs(price / prev - 1) * 100, 2),
                "最高": np.maximum(price, prev),
                "最低": np.minimum(price, prev),
                "今开": np.where(suspended, np.nan, prev),
                "昨收": prev.astype(np.float64),
                "量比": np.where(suspended, np.nan, 1.0),
                "换手率": np.round(np.where(suspended, 0.0, turnover * 100), 2),
                "市盈率-动态": np.round(close / 0.9, 2),
                "市净率": np.round(close / 6.0, 2),
                "总市值": close * shares * 1.25,
                "流通市值": close * shares,
                "涨速": 0.0,
                "5分钟涨跌": 0.0,
                "60日涨跌幅": np.nan,
                "年初至今涨跌幅": np.nan,
            }
        )
        stocks = frame[~self.is_fund]  # Eastmoney's A-share boards
        # akshare sorts the snapshot by 涨跌幅, highest first, and numbers it
        stocks = stocks.sort_values("涨跌幅", ascending=False, kind="stable", ignore_index=True)
        return stocks.assign(序号=np.arange(1, len(stocks) + 1))

    def _day(self, date: object) -> int | None:
        """Index of a requested day in the demo, or None if the market did not trade then."""
        return self._day_index.get(_parse_day(date, "date"))

    def _day_range(self, start_date: object, end_date: object) -> np.ndarray:
        first = _parse_day(start_date, "start_date").toordinal()
        last = _parse_day(end_date, "end_date").toordinal()
        lo = np.searchsorted(self._ordinals, first, side="left")
        hi = np.searchsorted(self._ordinals, last, side="right")
        return np.arange(lo, max(lo, hi), dtype=np.int64)

    def _publishes(self, t: int | None, exchange: str) -> bool:
        """Whether the exchange publishes margin data on day t (BSE from its start)."""
        return t is not None and (exchange != "BSE" or self.trading_days[t] >= BSE_MARGIN_START)

    def _listed(self, t: int | None, exchange: str) -> np.ndarray:
        """Securities of an exchange on the margin list on day t (none if t is None)."""
        if not self._publishes(t, exchange):
            return np.array([], dtype=np.int64)
        return np.flatnonzero((self.exchange == exchange) & (self.join_day <= t))

    def _ak_tool_trade_date_hist_sina(self) -> pd.DataFrame:
        # akshare adds 1992-05-04 (a trading day Sina's file lacks) to whatever Sina sends
        return pd.DataFrame({"trade_date": _dates([dt.date(1992, 5, 4), *self._calendar])})

    def _ak_stock_industry_clf_hist_sw(self) -> pd.DataFrame:
        level3 = self._industries["level3_code"].to_numpy()
        stocks = np.flatnonzero(~self.is_fund)  # Shenwan classifies no fund
        first = [dt.date.fromordinal(int(o)) for o in self.classified_on[stocks]]
        moved = stocks[self.reclass_day[stocks] < len(self.trading_days)]
        moved_on = [self.trading_days[t] for t in self.reclass_day[moved]]
        frame = pd.DataFrame(
            {
                "symbol": np.concatenate([self.codes[stocks], self.codes[moved]]),
                "start_date": _dates(first + moved_on),
                "industry_code": np.concatenate(
                    [level3[self.industry[stocks]], level3[self.industry_after[moved]]]
                ),
                "update_time": _dates(first + moved_on),
            }
        )
        frame = frame.sort_values(["symbol", "start_date"], kind="stable", ignore_index=True)
        for column in ("symbol", "industry_code"):
            frame[column] = frame[column].astype("str")
        return frame

    def _detail_flows(self, t: int | None, rows: np.ndarray):
        """Balances, their predecessors and inflows of day t for the given securities."""
        if t is None:
            empty = np.array([], dtype=np.int64)
            return {k: empty for k in ("fin", "fin_prev", "buy", "vol", "vol_prev", "sell")}
        prev = max(t - 1, 0)
        return {
            "fin": self.fin_balance[t, rows],
            "fin_prev": self.fin_balance[prev, rows],
            "buy": self.fin_buy[t, rows],
            "vol": self.short_volume[t, rows],
            "vol_prev": self.short_volume[prev, rows],
            "sell": self.short_sell[t, rows],
        }

    def _ak_stock_margin_detail_sse(self, date: str) -> pd.DataFrame:
        t = self._day(date)
        rows = self._listed(t, "SSE")
        f = self._detail_flows(t, rows)
        return pd.DataFrame(
            {
                "信用交易日期": _text(
                    [_yyyymmdd(self.trading_days[t])] * len(rows) if rows.size else []
                ),
                "标的证券代码": _text(self.codes[rows]),
                "标的证券简称": _text(self.names_on(t)[rows]),
                "融资余额": f["fin"],
                "融资买入额": f["buy"],
                "融资偿还额": f["fin_prev"] + f["buy"] - f["fin"],
                "融券余量": f["vol"],
                "融券卖出量": f["sell"],
                "融券偿还量": f["vol_prev"] + f["sell"] - f["vol"],
            }
        )

    def _szse_like_detail(self, date: str, exchange: str, dtype: type) -> pd.DataFrame:
        t = self._day(date)
        rows = self._listed(t, exchange)
        f = self._detail_flows(t, rows)
        close = self.close[t, rows] if t is not None else np.array([])
        short_value = np.rint(f["vol"] * close).astype(np.int64)  # 融券余量 x close
        return pd.DataFrame(
            {
                "证券代码": _text(self.codes[rows]),
                "证券简称": _text(self.names_on(t)[rows]),
                "融资买入额": f["buy"].astype(dtype),
                "融资余额": f["fin"].astype(dtype),
                "融券卖出量": f["sell"].astype(dtype),
                "融券余量": f["vol"].astype(dtype),
                "融券余额": short_value.astype(dtype),
                "融资融券余额": (f["fin"] + short_value).astype(dtype),
            }
        )

    def _ak_stock_margin_detail_szse(self, date: str) -> pd.DataFrame:
        return self._szse_like_detail(date, "SZSE", np.int64)

    def _ak_stock_margin_detail_bse(self, date: str) -> pd.DataFrame:
        return self._szse_like_detail(date, "BSE", np.float64)  # BSE's JSON carries floats

    def _ak_stock_margin_sse(self, start_date: str, end_date: str) -> pd.DataFrame:
        t = self._day_range(start_date, end_date)[::-1]  # newest first, as SSE lists them
        s = self.summary["SSE"]
        fin, short_value = s["融资余额"][t], s["融券余额"][t]
        return pd.DataFrame(
            {
                "信用交易日期": _text([_yyyymmdd(self.trading_days[i]) for i in t]),
                "融资余额": fin.astype(np.int64),
                "融资买入额": s["融资买入额"][t].astype(np.int64),
                "融券余量": s["融券余量"][t].astype(np.int64),
                "融券余量金额": short_value.astype(np.int64),
                "融券卖出量": s["融券卖出量"][t].astype(np.int64),
                "融资融券余额": (fin + short_value).astype(np.int64),
            }
        )

    def _summary_row(self, date: str, exchange: str, unit: float, decimals: int):
        t = self._day(date)
        s = self.summary[exchange]
        rows = [t] if self._publishes(t, exchange) else []
        values = {
            k: s[k][rows] for k in ("融资买入额", "融资余额", "融券卖出量", "融券余量", "融券余额")
        }
        values["融资融券余额"] = values["融资余额"] + values["融券余额"]
        return pd.DataFrame({k: np.round(v / unit, decimals) for k, v in values.items()})

    def _ak_stock_margin_szse(self, date: str) -> pd.DataFrame:
        return self._summary_row(date, "SZSE", unit=1e8, decimals=2)  # 亿元 / 亿股

    def _ak_stock_margin_bse(self, date: str) -> pd.DataFrame:
        return self._summary_row(date, "BSE", unit=1e4, decimals=2)  # 万元 / 万股 (*Round)

    def _security(self, symbol: str, function: str) -> int:
        code = str(symbol)[-6:]
        hits = np.flatnonzero(self.codes == code)
        if len(hits) == 0 or sina_symbol(code) != symbol:
            raise ValueError(
                f"{function}: the demo market has no symbol {symbol!r} "
                f"(expected e.g. {sina_symbol(self.codes[0])!r})"
            )
        return int(hits[0])

    def _ak_stock_zh_a_daily(
        self,
        symbol: str,
        start_date: str = "19900101",
        end_date: str = "21000118",
        adjust: str = "",
    ) -> pd.DataFrame:
        if adjust != "":
            raise ValueError(
                f"stock_zh_a_daily: the demo market has unadjusted prices only, "
                f"got adjust={adjust!r}"
            )
        i = self._security(symbol, "stock_zh_a_daily")
        if self.is_fund[i]:  # Sina has no share counts for a fund: akshare's rename fails
            raise ValueError("Length mismatch: Expected axis has 0 elements, new values have 2 elements")
        t = self._day_range(start_date, end_date)
        t = t[~self.suspended[t, i]]  # Sina drops days without trading
        bars = self._bars(i)
        return pd.DataFrame(
            {
                "date": _dates([self.trading_days[k] for k in t]),
                **{k: v[t] for k, v in bars.items()},
            }
        )

    def _bars(self, i: int) -> dict[str, np.ndarray]:
        """OHLC, volume and amount of one security over the whole demo (drawn on request,
        from its own random stream, so every call gives the same bars)."""
        rng = np.random.default_rng([self.bar_seed, i])
        days = len(self.trading_days)
        close = self.close[:, i]
        prev_close = np.concatenate([close[:1], close[:-1]])
        gap, up, down, vol_noise = rng.normal(0.0, 1.0, (4, days))
        open_ = np.round(prev_close * np.exp(np.clip(0.006 * gap, -0.09, 0.09)), 2)
        high = np.round(np.maximum(open_, close) * (1 + np.abs(0.008 * up)), 2)
        low = np.round(np.minimum(open_, close) * (1 - np.abs(0.008 * down)), 2)
        shares = self.float_shares[:, i]
        turnover_rate = self.turnover_level[i] * self.market_activity * np.exp(0.3 * vol_noise)
        volume = np.round(np.minimum(turnover_rate, 0.5) * shares, -2)  # shares, in lots
        amount = np.round(volume * (open_ + high + low + close) / 4)  # CNY
        return {
            "open": open_,
            "high": np.maximum(high, np.maximum(open_, close)),
            "low": np.minimum(low, np.minimum(open_, close)),
            "close": close.copy(),
            "volume": volume,
            "amount": amount,
            "outstanding_share": shares.astype(np.float64),
            "turnover": volume / shares,
        }

    def _ak_stock_zh_index_daily(self, symbol: str) -> pd.DataFrame:
        if symbol not in self.spot:
            raise ValueError(
                f"stock_zh_index_daily: the demo market has indices {sorted(self.spot)}, "
                f"got {symbol!r}"
            )
        return self.spot[symbol].copy()

    def _ak_fund_etf_hist_sina(self, symbol: str) -> pd.DataFrame:
        """A fund's whole history; Sina's answer for an unknown symbol is a bare frame."""
        code = str(symbol)[-6:]
        hits = np.flatnonzero((self.codes == code) & self.is_fund)
        if len(hits) == 0 or sina_symbol(code) != symbol:
            return pd.DataFrame()
        i = int(hits[0])
        t = np.flatnonzero(~self.suspended[:, i])
        bars = self._bars(i)
        return pd.DataFrame(
            {
                "date": _dates([self.trading_days[k] for k in t]),
                **{k: np.round(bars[k][t], 3) for k in ("open", "high", "low", "close")},
                "volume": bars["volume"][t],  # 份
            }
        )

    def _ak_futures_hist_daily_cffex(self, date: str) -> pd.DataFrame:
        """CFFEX's daily file of one day; CFFEX has no file for a day it did not trade."""
        t = self._day(date)
        if t is None:
            url = f"http://www.cffex.com.cn/sj/hqsj/rtj/{date[:6]}/{date[6:]}/{date}_1.csv"
            raise urllib.error.HTTPError(url, 404, "Not Found", None, None)  # type: ignore[arg-type]
        lo, hi = np.searchsorted(self._futures_t, [t, t + 1])
        return self.futures.iloc[lo:hi].reset_index(drop=True)
