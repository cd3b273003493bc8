"""Identities between datasets, checked before a day is committed.

An exchange's published totals and the sum of its per-security detail describe the same
day's financing balance. A detail sent in another unit can pass every check of its own
frame (on a short list its median stays plausible), but not this identity: such a day is
refused before anything of it reaches the raw tables. The same identity runs after the
load as a blocking asset check (orchestration/checks.py) with the same tolerance.

SZSE and BSE also value each security's short volume at its close (融券余额 = 融券余量 ×
close): against the closes the quotes gave, a short volume in 手 or a balance in 万元 shows
as a close a hundred or ten thousand times off, where the frame's own implied-close rule
(a plausible price) may still pass.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from margin_wh.sources.datasets import EXCHANGES, Exchange

# Published totals include securities removed from the eligible list (since 2014-09-22),
# so small gaps against the sum of the detail rows are real.
TOTALS_TOLERANCE_RATIO = 0.02
# The figure both the totals and the detail publish for every day and security.
TOTALS_COLUMN = "融资余额"

Side = Literal["detail", "total"]
# Powers of ten between units the exchanges publish in (百, 千, 万, 亿 against 元).
_UNIT_FACTORS = (2, 3, 4, 8)
_UNITS = {0: "元", 2: "百元", 3: "千元", 4: "万元", 8: "亿元"}


@dataclass(frozen=True)
class TotalsMismatch:
    """A day whose detail sum and published total disagree beyond the tolerance."""

    exchange: Exchange
    trade_date: dt.date
    detail_cny: float  # sum of the detail's financing balances
    total_cny: float  # the published total, converted from its unit

    @property
    def detail_to_total(self) -> float:
        return self.detail_cny / self.total_cny

    def reason(self, arrived: Side, tolerance: float = TOTALS_TOLERANCE_RATIO) -> str:
        """Why the arriving side of the day is refused: what arrived, what was expected
        (the other side, already loaded), a guess at the cause and what to do."""
        e = self.exchange
        published = f"{self.total_cny:.4g} CNY ({self.total_cny / e.summary_cny_per_unit:,.2f} {unit_name(e.summary_cny_per_unit)})"
        detail = f"{self.detail_cny:.4g} CNY"
        if arrived == "detail":
            what = (
                f"{e.detail_function} for {self.trade_date} arrived with its {TOTALS_COLUMN} "
                f"summing to {detail}, but the {e.name} total loaded ({e.summary_function}) "
                f"is {published}"
            )
        else:
            what = (
                f"{e.summary_function} for {self.trade_date} arrived with a {TOTALS_COLUMN} "
                f"of {published}, but the detail loaded ({e.detail_function}) sums to {detail}"
            )
        cause = likely_cause(e, self.detail_to_total, arrived)
        return (
            f"{what}: {ratio_text(self.detail_to_total)} — {cause} Expected within "
            f"{tolerance:.0%} of each other; this day's {arrived} is refused, nothing of it "
            "loaded. If the exchange changed its unit, update the contract in "
            "margin_wh/sources/datasets.py; otherwise fetch the day again later."
        )


def ratio_text(detail_to_total: float) -> str:
    if detail_to_total <= 0 or not math.isfinite(detail_to_total):
        return "the detail holds no financing balance"
    if detail_to_total >= 1:
        return f"the detail's sum is {_factor(detail_to_total)}× the total"
    return f"the detail's sum is 1/{_factor(1 / detail_to_total)} of the total"


def _factor(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.3g}"


def unit_exponent(arrived_to_expected: float) -> int | None:
    """The power of ten by which the arriving figures are off, when it is the factor
    between two units (万元 figures read as 元 arrive 10,000× too small: -4 → +4). None
    when the gap is not a unit's (a market that moved, a half-published day)."""
    if arrived_to_expected <= 0 or not math.isfinite(arrived_to_expected):
        return None
    exponent = -math.log10(arrived_to_expected)
    nearest = round(exponent)
    # close to a unit's factor: a market that moved lands between them
    if abs(nearest) not in _UNIT_FACTORS or abs(exponent - nearest) >= 0.1:
        return None
    return nearest


def unit_name(cny_per_unit: float) -> str | None:
    return _UNITS.get(round(math.log10(cny_per_unit)))


def likely_cause(exchange: Exchange, detail_to_total: float, arrived: Side) -> str:
    contract = 1.0 if arrived == "detail" else exchange.summary_cny_per_unit
    arrived_to_expected = detail_to_total if arrived == "detail" else 1 / detail_to_total
    exponent = unit_exponent(arrived_to_expected)
    if exponent is not None:
        seems = unit_name(contract * 10.0**exponent)
        if seems:
            return f"a unit change? the {arrived} looks to be in {seems}, its contract says {unit_name(contract)}."
        return f"a unit change? the {arrived} is off by a factor of {10 ** abs(exponent):,}."
    if 0 < detail_to_total < 1:
        return "securities missing from the detail, or a half-published day?"
    return "a detail or total of another day, or columns swapped?"


def totals_mismatches(
    exchange: Exchange,
    detail_cny: Mapping[dt.date, float],
    total_cny: Mapping[dt.date, float],
    tolerance: float = TOTALS_TOLERANCE_RATIO,
) -> list[TotalsMismatch]:
    """The days held on both sides whose detail sum is not within `tolerance` of the
    published total. A day without a positive total (none published yet) is not judged."""
    found = []
    for day in sorted(detail_cny.keys() & total_cny.keys()):
        detail, total = float(detail_cny[day]), float(total_cny[day])
        if not total > 0:
            continue
        if not abs(detail - total) <= tolerance * total:  # NaN detail fails too
            found.append(TotalsMismatch(exchange, day, detail, total))
    return found


def totals_pair(function: str) -> tuple[Exchange, Side] | None:
    """The exchange whose identity a dataset takes part in, and on which side."""
    for exchange in EXCHANGES:
        if function == exchange.detail_function:
            return exchange, "detail"
        if function == exchange.summary_function:
            return exchange, "total"
    return None


# ------------------------------------------------------------------ volume x close ≈ balance
# SZSE and BSE value a security's short volume at its close: 融券余额 = 融券余量 x close.
# Against the close the quotes give, on the same day or a few days before, the implied
# close moves at most by price limits, and a median over the list far less; a unit change
# moves it by a unit's factor (融券余量 in 手, 融券余额 in 万元).
SHORT_BALANCE, SHORT_VOLUME = "融券余额", "融券余量"
IMPLIED_CLOSE_BAND = 2.0  # how far, either way, the median implied close may be from the quoted
# How long a close stands for the days after it (a holiday, a suspension).
CLOSE_LOOKBACK_DAYS = 14


@dataclass(frozen=True)
class ImpliedCloseMismatch:
    """A day whose short balances value the short volumes at a close far from the one
    the quotes give."""

    function: str
    trade_date: dt.date
    implied_to_quoted: float  # the median over the securities compared
    securities: int  # how many had a short volume, a short balance and a quoted close

    def reason(self, band: float = IMPLIED_CLOSE_BAND) -> str:
        ratio = self.implied_to_quoted
        factor = f"{_factor(ratio)}×" if ratio >= 1 else f"1/{_factor(1 / ratio)} of"
        exponent = unit_exponent(1 / ratio) if ratio > 0 else None
        cause = (
            f"a unit change? a factor of {10 ** abs(exponent):,} between {SHORT_BALANCE} "
            f"(CNY) and {SHORT_VOLUME} (shares), e.g. the volume in 手 (100 shares)"
            if exponent is not None
            else f"{SHORT_BALANCE} and another column swapped, or a frame of another day?"
        )
        return (
            f"{self.function} for {self.trade_date}: {SHORT_BALANCE} / {SHORT_VOLUME}, the "
            f"close at which the exchange values the short volume, is a median {factor} the "
            f"close loaded for the same securities (the quotes of that day or the last "
            f"before it; {self.securities} securities compared) — {cause} Expected within "
            f"[1/{band:g}, {band:g}] of it; this day's detail is refused, nothing of it "
            "loaded. If the exchange changed its unit, update the contract in "
            "margin_wh/sources/datasets.py; otherwise fetch the day again later."
        )


def implied_close_mismatch(
    function: str,
    trade_date: dt.date,
    short_balance_cny: pd.Series,
    short_volume_shares: pd.Series,
    quoted_close_cny: pd.Series,
    band: float = IMPLIED_CLOSE_BAND,
) -> ImpliedCloseMismatch | None:
    """Series indexed by security code. Only securities with a positive short volume,
    short balance and quoted close are compared; None when none is, or when the median
    implied close lies within the band of the quoted one."""
    implied = short_balance_cny / short_volume_shares.where(short_volume_shares > 0)
    ratio = (implied.where(implied > 0) / quoted_close_cny.where(quoted_close_cny > 0)).dropna()
    if ratio.empty:
        return None
    median = float(ratio.median())
    if 1 / band <= median <= band:
        return None
    return ImpliedCloseMismatch(function, trade_date, median, len(ratio))
