"""The contract against frames we did not make: the examples akshare's documentation prints
(tests/docs_examples.py), real answers of the sites. The synthesized frames of the other
tests agree with the contract by construction; these check its columns, units and
magnitudes against the real thing, and, where the printed frame is whole, run through
akshare's own function on the HTTP-level fake sites first."""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt

import akshare
import pandas as pd
import pytest

from margin_wh.sources.datasets import DATASETS, FALLBACK_DATASETS, Dataset
from margin_wh.sources.parse import parse_frame
from tests.akshare_http import AkshareSites
from tests.docs_examples import Example, documented, documented_functions

CONTRACTS = {**DATASETS, **FALLBACK_DATASETS}


def call_kwargs(example: Example) -> dict[str, str]:
    """The keyword arguments of the printed call, e.g. {'date': '20230925'}."""
    call = ast.parse(example.call.removeprefix("ak."), mode="eval").body
    return {k.arg: ast.literal_eval(k.value) for k in call.keywords}


def trade_day(dataset: Dataset, kwargs: dict[str, str]) -> dt.date | None:
    if "date" in kwargs:
        return dt.datetime.strptime(kwargs["date"], "%Y%m%d").date()
    # a snapshot's day is the request's, which the docs do not print: any day will do, the
    # checks are of the values
    return dt.date(2024, 1, 2) if dataset.call == "snapshot" else None


def printed_part(dataset: Dataset, printed: list[str]) -> Dataset:
    """The contract of the columns pandas printed, with the row rules that read only them."""
    columns = tuple(c for c in dataset.columns if c.name in printed)
    rules = tuple(r for r in dataset.row_rules if set(r.columns) <= set(printed))
    key = tuple(k for k in dataset.key if k in printed or k in dataset.request_columns)
    return dataclasses.replace(dataset, columns=columns, row_rules=rules, key=key)


def test_every_function_we_call_whose_docs_print_a_frame_has_its_example_here():
    assert set(documented_functions()) == set(CONTRACTS) - {"futures_hist_daily_cffex"}


@pytest.mark.parametrize("function", documented_functions())
def test_the_documented_frame_has_the_contracts_columns(function):
    example, dataset = documented(function), CONTRACTS[function]
    unknown = set(example.frame.columns) - set(dataset.column_names)
    assert not unknown, f"{function}: the docs print columns the contract lacks: {unknown}"
    assert example.columns == len(dataset.columns), (example.columns, dataset.column_names)


@pytest.mark.parametrize("function", documented_functions())
def test_the_documented_values_pass_the_contracts_checks(function):
    """Types, units (each column's plausible median), signs and the row rules, on the
    rows and columns the docs print."""
    example, dataset = documented(function), CONTRACTS[function]
    kwargs = call_kwargs(example)
    part = printed_part(dataset, list(example.frame.columns))
    frame = example.frame.replace("NaN", None)
    typed = parse_frame(part, frame, kwargs, trade_day(dataset, kwargs))
    assert len(typed) == len(example.frame)


def unit(function: str, column: str) -> str:
    return next(c.unit for c in CONTRACTS[function].columns if c.name == column)


def test_the_documented_units_are_the_contracts():
    """The units the contract says, where the printed values tell them apart from their
    neighbours (a unit checked against the real thing, not against our own fake)."""
    assert unit("stock_margin_szse", "融资余额") == "100m_CNY"
    assert unit("stock_margin_bse", "融资余额") == "10k_CNY"
    assert unit("stock_zh_a_spot", "成交量") == "shares" and unit("stock_zh_a_spot", "成交额") == "CNY"
    assert unit("stock_zh_a_daily", "outstanding_share") == "shares"
    szse, bse = documented("stock_margin_szse").frame, documented("stock_margin_bse").frame
    # SZSE's totals in 亿元: the market's financing balance is thousands of 亿, not trillions
    assert 1e3 < float(szse["融资余额"][0]) < 1e5
    # BSE's in 万元: a BSE total of some 80 亿 CNY prints as hundreds of thousands
    assert 1e5 < float(bse["融资余额"][0]) < 1e7
    spot = documented("stock_zh_a_spot").frame.astype({c: float for c in ("最低", "最新价", "成交量", "成交额")})
    traded = spot[spot["成交量"] > 0]
    average = traded["成交额"] / traded["成交量"]  # 成交量 in shares (股), not Eastmoney's 手
    assert ((average >= traded["最低"] * 0.99) & (average <= traded["最新价"] * 1.3)).all()
    daily = documented("stock_zh_a_daily").frame.astype(float, errors="ignore")
    # outstanding_share in shares (akshare multiplies Sina's 万股 by 1e4): turnover = volume /
    # outstanding_share, so amount / price / outstanding_share is about the turnover
    last = daily.iloc[-1]
    assert float(last["amount"]) / float(last["open"]) / float(last["outstanding_share"]) == pytest.approx(
        float(last["turnover"]), rel=0.05
    )


# Whole frames (every column printed), served as the site sends them, read back by akshare
# and loaded against the whole contract.
WHOLE = ["stock_margin_szse", "stock_margin_bse", "stock_margin_detail_bse",
         "stock_margin_underlying_info_bse", "stock_margin_underlying_info_szse"]  # fmt: skip


def as_akshare_returns(example: Example, dataset: Dataset) -> pd.DataFrame:
    frame = example.frame.copy()
    for column in dataset.columns:
        if column.kind == "number" and column.name in frame:
            frame[column.name] = pd.to_numeric(frame[column.name].replace("NaN", None))
    return frame


@pytest.mark.parametrize("function", WHOLE)
def test_a_documented_frame_read_by_akshare_passes_the_whole_contract(function):
    example, dataset = documented(function), CONTRACTS[function]
    assert not example.elided_columns
    served = as_akshare_returns(example, dataset)
    kwargs = call_kwargs(example)
    with AkshareSites(lambda name, args: served if name == function else None) as sites:
        got = getattr(akshare, function)(**kwargs)
    assert {name for name, _ in sites.calls} == {function}
    typed = parse_frame(dataset, got, kwargs, trade_day(dataset, kwargs))
    assert len(typed) == len(served)


def test_sinas_documented_snapshot_read_by_akshare_passes_the_fallbacks_contract():
    """The printed columns of Sina's snapshot as Sina sends them (the others empty), paged
    and read by akshare's stock_zh_a_spot, loaded against SINA_SNAPSHOT."""
    example, dataset = documented("stock_zh_a_spot"), FALLBACK_DATASETS["stock_zh_a_spot"]
    served = as_akshare_returns(example, dataset)
    for column in dataset.column_names:
        if column not in served:
            served[column] = float("nan")
    served = served[dataset.column_names]
    with AkshareSites(lambda name, args: served if name == "stock_zh_a_spot" else None) as sites:
        got = akshare.stock_zh_a_spot()
    assert sites.calls_of("stock_zh_a_spot") == [{}, {"page": "1"}]  # the count, one page
    typed = parse_frame(dataset, got, {}, dt.date(2024, 1, 2))
    assert list(typed["代码"]) == sorted(example.frame["代码"])
