"""A disputed unit: Eastmoney's investor counts in `stock_margin_account_info` arrive in 名
(persons, akshare's docs) or 万名 (public loaders of the same report). Either is accepted,
told apart by the frame's median, and stored in persons; any other magnitude is refused.

The live path runs akshare's real function on the fake Eastmoney of tests/akshare_http.py
and loads into a DuckDB file of its own, as a refresh does."""

from __future__ import annotations

import datetime as dt

import akshare
import duckdb
import pandas as pd
import pytest

from margin_wh.raw.load import ingest
from margin_wh.sources.akshare_source import AkshareSource, HostThrottle
from margin_wh.sources.datasets import DATASETS, ArrivalUnit, Column
from margin_wh.sources.parse import SourceDataError, parse_frame, unit_from_median, units_arrived
from tests.akshare_http import AkshareSites

ACCOUNTS = DATASETS["stock_margin_account_info"]
TRADERS, DEBTORS = "参与交易的投资者数量", "有融资融券负债的投资者数量"
DAYS = [dt.date(2024, 7, 8), dt.date(2024, 7, 9), dt.date(2024, 7, 10), dt.date(2024, 7, 11)]
# the counts in persons; 万名 is the same divided by 1e4 (412,300 persons = 41.23 万名)
TRADERS_PERSONS = [412_300.0, 408_000.0, 415_700.0, 0.0]  # 0: a day with no figure
DEBTORS_PERSONS = [5_021_000.0, 5_019_400.0, 5_022_100.0, 5_023_000.0]


def accounts(persons_per_unit: float) -> pd.DataFrame:
    """Four days of account statistics as akshare returns them, the two disputed counts
    in a unit of `persons_per_unit` persons (1: 名, 1e4: 万名)."""
    return pd.DataFrame({
        "日期": DAYS,
        "融资余额": [14_512.3, 14_498.1, 14_530.2, 14_541.0], "融券余额": [231.4, 228.9, 227.5, 226.1],
        "融资买入额": [512.3, 498.7, 505.1, 520.9], "融券卖出额": [8.1, 7.6, 7.9, 8.3],
        "证券公司数量": [96.0] * 4, "营业部数量": [11_321.0] * 4,
        "个人投资者数量": [1_245.3, 1_244.9, 1_245.6, 1_246.0], "机构投资者数量": [49_100.0] * 4,
        TRADERS: [round(v / persons_per_unit, 8) for v in TRADERS_PERSONS],
        DEBTORS: [round(v / persons_per_unit, 8) for v in DEBTORS_PERSONS],
        "担保物总价值": [46_123.5, 46_010.2, 46_200.8, 46_251.3],
        "平均维持担保比例": [247.31, 246.85, 247.02, 247.40],
    })  # fmt: skip


# --------------------------------------------------------------------------- the pure choice

PERSONS = ArrivalUnit("persons", 1.0, (1e3, 5e6))
TEN_THOUSANDS = ArrivalUnit("10k_persons", 1e4, (0.1, 500))


@pytest.mark.parametrize(
    ("median", "unit"),
    [(412_300, PERSONS), (1e3, PERSONS), (41.23, TEN_THOUSANDS), (500, TEN_THOUSANDS),
     (700, None), (0.05, None), (4.123e9, None)],
)  # fmt: skip
def test_the_unit_is_the_one_whose_range_holds_the_median(median, unit):
    assert unit_from_median((PERSONS, TEN_THOUSANDS), median) == unit


def test_the_contract_declares_both_units_for_both_counts():
    for name in (TRADERS, DEBTORS):
        column = next(c for c in ACCOUNTS.columns if c.name == name)
        assert column.unit == "persons"
        assert [(u.unit, u.to_column_unit) for u in column.arrival_units] == [
            ("persons", 1.0),
            ("10k_persons", 1e4),
        ]


def test_a_column_whose_unit_ranges_overlap_is_refused_when_declared():
    with pytest.raises(ValueError, match="overlap, so a median cannot tell them apart"):
        Column("n", "number", "persons", (100, 1e7), also_arrives_in=(TEN_THOUSANDS,))
    with pytest.raises(ValueError, match="needs kind 'number' and a plausible median"):
        Column("n", "number", "persons", also_arrives_in=(TEN_THOUSANDS,))


# --------------------------------------------------------------------------- parse_frame


@pytest.mark.parametrize(("persons_per_unit", "unit"), [(1, "persons"), (1e4, "10k_persons")])
def test_either_unit_parses_to_persons_and_says_which_arrived(persons_per_unit, unit):
    typed = parse_frame(ACCOUNTS, accounts(persons_per_unit), {})
    assert typed[TRADERS].tolist() == pytest.approx(TRADERS_PERSONS)
    assert typed[DEBTORS].tolist() == pytest.approx(DEBTORS_PERSONS)
    assert units_arrived(typed) == {TRADERS: unit, DEBTORS: unit}
    notes = " ".join(typed.attrs["notes"])
    assert f"column '{TRADERS}' arrived in {unit}" in notes
    assert ("stored in persons (x10000)" in notes) == (unit == "10k_persons")


def test_each_disputed_column_is_told_apart_on_its_own():
    frame = accounts(1).assign(**{DEBTORS: [v / 1e4 for v in DEBTORS_PERSONS]})
    typed = parse_frame(ACCOUNTS, frame, {})
    assert units_arrived(typed) == {TRADERS: "persons", DEBTORS: "10k_persons"}
    assert typed[DEBTORS].tolist() == pytest.approx(DEBTORS_PERSONS)


def test_a_column_with_no_figure_has_no_unit_to_tell():
    typed = parse_frame(ACCOUNTS, accounts(1).assign(**{TRADERS: 0.0}), {})
    assert units_arrived(typed) == {DEBTORS: "persons"}
    assert typed[TRADERS].tolist() == [0.0] * 4


@pytest.mark.parametrize("persons_per_unit", [1e8, 1e-4])  # 亿名; persons counted 10^4 times
def test_a_third_magnitude_is_refused_saying_what_was_expected(persons_per_unit):
    with pytest.raises(SourceDataError) as refused:
        parse_frame(ACCOUNTS, accounts(persons_per_unit), {})
    message = str(refused.value)
    assert message.startswith("stock_margin_account_info(): ")
    assert (
        f"column '{TRADERS}': wrong unit? median of non-zero values must lie in "
        "[1000, 5e+06] persons or [0.1, 500] 10k_persons, arrived with median "
        f"{412_300 / persons_per_unit:g}"
    ) in message
    assert f"column '{DEBTORS}'" in message


# --------------------------------------------------------------------------- the live path


def live_source() -> AkshareSource:
    """The live source on akshare itself, with no pauses between calls."""
    return AkshareSource(
        module=akshare, attempts=1, backoff_initial_s=0, sleep=lambda s: None,
        throttle=HostThrottle({}, sleep=lambda s: None),
    )  # fmt: skip


def load_accounts(con, landing_dir, frame: pd.DataFrame):
    """One refresh of the dataset, answered by Eastmoney's pages holding `frame`."""
    with AkshareSites(lambda function, kwargs: frame, page_sizes={ACCOUNTS.function: 3}) as sites:
        result = ingest(con, live_source(), ACCOUNTS, DAYS, landing_dir)
    assert len(sites.calls_of(ACCOUNTS.function)) == 3  # page 1, then pages 1 and 2
    return result


def raw_counts(con) -> pd.DataFrame:
    return con.execute(
        f'select "日期", "{TRADERS}", "{DEBTORS}" from raw.{ACCOUNTS.function} order by 1'
    ).df()


def test_both_magnitudes_arrive_through_akshare_and_load_as_the_same_persons(tmp_path):
    loaded = {}
    for unit, persons_per_unit in (("persons", 1), ("10k_persons", 1e4)):
        with duckdb.connect(str(tmp_path / f"{unit}.duckdb")) as con:
            result = load_accounts(con, tmp_path / f"landing_{unit}", accounts(persons_per_unit))
            loaded[unit] = raw_counts(con)
        assert result.rows_written == len(DAYS)
        assert any(f"column '{TRADERS}' arrived in {unit}" in note for note in result.notes)
    pd.testing.assert_frame_equal(loaded["persons"], loaded["10k_persons"], rtol=1e-12)
    assert loaded["persons"][DEBTORS].tolist() == DEBTORS_PERSONS


def test_a_third_magnitude_through_akshare_is_refused_and_the_loaded_rows_stay(tmp_path):
    landing_dir = tmp_path / "landing"
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        load_accounts(con, landing_dir, accounts(1))
        before = raw_counts(con)
        with pytest.raises(SourceDataError, match=f"{TRADERS}.*arrived with median 0.004123"):
            load_accounts(con, landing_dir, accounts(1e8))
        pd.testing.assert_frame_equal(raw_counts(con), before)
    rejected = list((landing_dir / "_rejected").rglob("*.txt"))
    assert len(rejected) == 1 and "wrong unit?" in rejected[0].read_text(encoding="utf-8")
