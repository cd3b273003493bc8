"""The report's small pure pieces, on hand-made frames: the event numbering, the
industry event-window grid, the heatmap's colour limit and the repayment rate's reading."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from margin_wh.publish.report import (
    _symmetric_colour_limit,
    days_above,
    event_numbers,
    industry_window_grid,
    repayment_reading,
)

EVENTS = pd.DataFrame(
    {
        "event_id": ["curb_a", "curb_b"],
        "effective_trade_date": pd.to_datetime(["2024-01-02", "2024-07-11"]),
    }
)


def window_row(event_id, day, offset, code, name, short, financing):
    return {
        "event_id": event_id,
        "title_zh": f"title of {event_id}",
        "effective_trade_date": pd.Timestamp(day),
        "offset_trading_days": offset,
        "industry_code": code,
        "industry_name": name,
        "industry_name_en": None if code == "unknown" else f"{name} en",
        "short_balance_change_from_event_ratio": short,
        "financing_balance_change_from_event_ratio": financing,
    }


def test_events_are_numbered_in_their_page_order():
    assert event_numbers(EVENTS) == {"curb_a": 1, "curb_b": 2}


def test_the_industry_grid_has_an_industry_per_row_and_an_event_per_column():
    # the later event's window is cut short by the end of the data
    windows = pd.DataFrame(
        [
            window_row("curb_b", "2024-07-11", 7, "801010", "农林牧渔", -0.5, 0.01),
            window_row("curb_a", "2024-01-02", 20, "unknown", "未分类", 0.2, 0.0),
            window_row("curb_a", "2024-01-02", 20, "801780", "银行", -0.1, 0.03),
            window_row("curb_a", "2024-01-02", 20, "801010", "农林牧渔", -0.3, -0.02),
            window_row("curb_b", "2024-07-11", 7, "801780", "银行", 0.4, -0.01),
            window_row("not_on_page", "2024-03-01", 20, "801780", "银行", 9.0, 9.0),
        ]
    )
    grid = industry_window_grid(windows, EVENTS)
    short, financing = grid["short"], grid["financing"]
    first, second = "1<br>2024-01-02", "2<br>2024-07-11<br>(+7)"
    assert list(short.columns) == [first, second]
    assert list(short.index) == ["农林牧渔", "银行", "未分类 (unclassified)"]
    assert short.loc["银行", second] == 0.4
    assert financing.loc["农林牧渔", first] == -0.02
    # an industry without a row for an event is an empty cell, not a zero
    assert pd.isna(short.loc["未分类 (unclassified)", second])
    assert list(grid["title"]) == ["title of curb_a", "title of curb_b"]
    assert list(grid["industry_en"]) == ["农林牧渔 en", "银行 en", ""]


def test_the_colour_limit_spans_most_cells_not_the_outlier():
    values = pd.DataFrame({"a": [0.1, -0.2, 0.15, -0.1, 0.05] * 4, "b": [0.1] * 19 + [5.0]})
    limit = _symmetric_colour_limit(values)
    assert 0.1 <= limit < 5.0
    assert _symmetric_colour_limit(pd.DataFrame({"a": [0.0, None]})) == 1.0
    # most cells unchanged: the scale still spans the ones that moved
    assert _symmetric_colour_limit(pd.DataFrame({"a": [0.0] * 19 + [-0.3]})) == 0.3


@pytest.mark.parametrize(
    ("rate", "alert", "side", "flow"),
    [
        (1.2, 0.3, "above the alert line (30%): alert", "the financing balance shrinks"),
        (0.9, 0.3, "above the alert line (30%): alert", "the financing balance grows"),
        (0.2, 0.3, "below the alert line (30%): no alert", "the financing balance grows"),
        (1.0, None, "no alert line in reference.signal_thresholds", "as much repaid"),
    ],
)
def test_the_repayment_rate_is_read_against_its_alert_line_and_against_buys(
    rate, alert, side, flow
):
    reading = repayment_reading(rate, alert)
    assert reading.startswith(side) and flow in reading


def test_no_repayment_rate_reads_as_a_dash():
    assert repayment_reading(float("nan"), 0.3) == "–"
    assert repayment_reading(None, 0.3) == "–"


def test_days_above_a_line_count_only_days_with_a_value():
    rates = pd.Series([1.1, 0.2, None, 0.9])
    assert days_above(rates, 0.3) == "above it on 2 of 3 days"
    assert days_above(rates, None) == ""
    assert days_above(pd.Series([None], dtype=float), 0.3) == ""


def test_dates_in_the_grid_are_the_event_days():
    windows = pd.DataFrame([window_row("curb_a", dt.date(2024, 1, 2), 20, "801780", "银行", 0, 0)])
    assert list(industry_window_grid(windows, EVENTS)["short"].columns) == ["1<br>2024-01-02"]
