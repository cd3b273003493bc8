"""A fake of the remote sites akshare 1.19.5 reads, at the HTTP layer.

`AkshareSites(frames)` lets akshare's REAL functions run offline. It intercepts their
HTTP requests, decodes each one back to the akshare call it serves (function name and
the keyword arguments the request carries), asks `frames(function, kwargs)` for the frame
that akshare should return, and encodes that frame as the site's body: it inverts
akshare's parsing, so everything akshare does to the body (positional renames, thousands
separators, JSONP fix-ups, xlsx reading, Sina's JS decoder, sorting, paging) really runs.

    with AkshareSites(frames) as sites:
        akshare.stock_margin_detail_szse(date="20240710")

What the kwargs carry is what the request carries:

- `stock_zh_a_daily`, `stock_zh_index_daily`, `fund_etf_hist_sina`: `{"symbol": ...}`
  only. Sina serves the whole history; akshare cuts the window itself, so `frames`
  returns every row of the history (akshare's columns) and akshare does the slicing.
- `stock_zh_a_spot_em`, `tool_trade_date_hist_sina`, `stock_industry_clf_hist_sw`,
  `stock_margin_account_info`: `{}`.
- every other function: its own keyword arguments (`date`, `start_date`, ...).

`frames` may return None (or an empty frame) for "the site has nothing": each site then
answers as it does (CFFEX: a 404; the JSON sites: an empty list; ...).

Per-site details that a frame cannot carry:

- `stock_zh_a_daily`: Sina sends the share count (outstanding_share, in 10k shares) as a
  separate list of change dates, which akshare outer-merges into the prices and forward
  fills. By default the site sends one entry where the frame's outstanding_share changes.
  To send other change dates (one on a non-trading day, say), put a Series
  `{date: shares}` (shares, not 10k shares) in `frame.attrs["share_changes"]`.
- SZSE xlsx cells are text with thousands separators, as SZSE sends them;
  `AkshareSites(frames, numeric_cells=True)` writes numbers instead.
- paged sites (BSE detail / underlying, Eastmoney) cut the frame into pages of the site's
  size; `page_sizes={"stock_margin_detail_bse": 2}` makes pages smaller.

Fault injection: `sites.fail(function, times=n, error=...)` answers the next n requests
for `function` with `error`: an HTTP status (int), an exception (instance or class, e.g.
`requests.ConnectionError`) raised by the transport, or a raw body (str) served with
status 200. `sites.calls` lists (function, kwargs) of every request answered, failures
included, in order; `sites.calls_of(function)` the kwargs of one function's requests.
Faults that depend on something outside the request (the time of day, for a season run
on a fake clock): `AkshareSites(frames, outage=down)` asks `down(function, kwargs)` for
every request no queued fault answers, and answers with what it returns (an error as
`fail` takes it) or, when it returns None, with the frame.

What is replaced: `requests` is intercepted by `responses` (its HTTPAdapter.send); the
CFFEX CSV that pandas downloads itself goes through `urllib.request.urlopen`, which is
patched. Any request that no site serves raises (responses' ConnectionError, urllib's
URLError) and never reaches the network. akshare's retry and paging pauses (`time.sleep`
in akshare.utils.func / akshare.utils.request) are skipped unless `sleep=True`.
"""

from __future__ import annotations

import csv
import datetime as dt
import email.message
import io
import json
import math
import re
import sys
import types
import urllib.error
import urllib.parse
import urllib.request
import urllib.response
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import openpyxl
import pandas as pd
import requests
import responses

Frames = Callable[[str, dict], pd.DataFrame | None]


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class Hit:
    """One intercepted request, whatever the transport."""

    method: str
    url: str
    query: dict[str, str]
    form: dict[str, str]

    @property
    def path(self) -> str:
        return urllib.parse.urlsplit(self.url).path

    def param(self, name: str, default: str = "") -> str:
        return self.form.get(name, self.query.get(name, default))


def _flat(pairs: dict[str, list[str]]) -> dict[str, str]:
    return {key: values[-1] for key, values in pairs.items()}


def _hit_from_requests(request: requests.PreparedRequest) -> Hit:
    query = _flat(urllib.parse.parse_qs(urllib.parse.urlsplit(request.url).query, True))
    body = request.body or ""
    body = body.decode() if isinstance(body, bytes) else body
    form = _flat(urllib.parse.parse_qs(body, True)) if request.method == "POST" else {}
    return Hit(request.method, request.url, query, form)


@dataclass
class Reply:
    status: int
    content_type: str
    body: bytes

    @classmethod
    def text(cls, text: str, content_type="text/html;charset=UTF-8", encoding="utf-8", status=200):
        return cls(status, content_type, text.encode(encoding))

    @classmethod
    def json(cls, payload: Any) -> Reply:
        return cls.text(json.dumps(payload, ensure_ascii=False), "application/json;charset=UTF-8")


def _error_page(status: int) -> Reply:
    """The HTML an nginx front answers with when the application behind it fails."""
    title = f"{status} {_REASONS.get(status, 'Error')}"
    page = f"<html><head><title>{title}</title></head><body><center><h1>{title}</h1></center>"
    return Reply.text(page + "<hr><center>nginx</center></body></html>", status=status)


_REASONS = {404: "Not Found", 403: "Forbidden", 500: "Internal Server Error", 502: "Bad Gateway"}


# --------------------------------------------------------------------------- value text


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _plain(value: Any) -> Any:
    """A frame cell as JSON sends it: ints stay ints, floats floats, dates ISO text."""
    if _is_missing(value):
        return None
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _text(value: Any) -> str:
    value = _plain(value)
    return "" if value is None else str(value)


def _thousands(value: Any) -> str:
    """SZSE's number text: '1,234,567' for amounts and volumes, '16,254.85' for 亿."""
    value = _plain(value)
    return "" if value is None else f"{value:,}"


def _records(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
    if frame is None:
        return []
    return [
        dict(zip(frame.columns, row, strict=True))
        for row in frame.itertuples(index=False, name=None)
    ]


def _compact(day: Any) -> str:
    return pd.Timestamp(day).strftime("%Y%m%d")


def _dashed(day: str) -> str:
    return f"{day[:4]}-{day[4:6]}-{day[6:]}"


def _pages(rows: list, size: int) -> list[list]:
    return [rows[i : i + size] for i in range(0, len(rows), size)] or [[]]


# --------------------------------------------------------------------------- SSE
# queryMargin.do answers both tabs with one record shape: 13 keys whose order akshare's
# positional rename relies on. Fields a tab does not fill come as "". The names at
# positions 0 and 6 are not known from any sample (akshare drops them): fillers.
SSE_KEYS = [
    "num", "opDate", "rqchl", "rqmcl", "rqyl", "rqylje", "rzbl",
    "rzche", "rzmre", "rzrqjyzl", "rzye", "securityAbbr", "stockCode",
]  # fmt: skip
SSE_SUMMARY = {
    "opDate": "信用交易日期", "rqmcl": "融券卖出量", "rqyl": "融券余量", "rqylje": "融券余量金额",
    "rzmre": "融资买入额", "rzrqjyzl": "融资融券余额", "rzye": "融资余额",
}  # fmt: skip
SSE_DETAIL = {
    "opDate": "信用交易日期", "rqchl": "融券偿还量", "rqmcl": "融券卖出量", "rqyl": "融券余量",
    "rzche": "融资偿还额", "rzmre": "融资买入额", "rzye": "融资余额",
    "securityAbbr": "标的证券简称", "stockCode": "标的证券代码",
}  # fmt: skip


def _sse_call(hit: Hit) -> tuple[str, dict]:
    if hit.param("tabType") == "mxtype":
        return "stock_margin_detail_sse", {"date": hit.param("detailsDate")}
    return "stock_margin_sse", {
        "start_date": hit.param("beginDate"),
        "end_date": hit.param("endDate"),
    }


def _sse_body(columns: dict[str, str]):
    def encode(sites: AkshareSites, frame, hit: Hit) -> Reply:
        rows = _records(frame)
        result = [
            {
                key: (i + 1 if key == "num" else _plain(row[columns[key]]))
                if key in columns or key == "num"
                else ""
                for key in SSE_KEYS
            }
            for i, row in enumerate(rows)
        ]
        page = {"pageNo": 1, "pageSize": 5000, "total": len(result), "data": result}
        return Reply.json({"actionErrors": [], "pageHelp": page, "result": result})

    return encode


# --------------------------------------------------------------------------- SZSE
# ShowReport serves each report tab as xlsx (SHOWTYPE=xlsx) or JSON (ShowReport/data).
SZSE_DETAIL_HEADER = [
    "证券代码", "证券简称", "融资买入额(元)", "融资余额(元)", "融券卖出量(股/份)",
    "融券余量(股/份)", "融券余额(元)", "融资融券余额(元)",
]  # fmt: skip
SZSE_SUMMARY_KEYS = ["jrrzmr", "jrrzye", "jrrjmc", "jrrjyl", "jrrjye", "jrrzrjye"]
SZSE_SUMMARY_COLS = {
    "jrrzmr": "融资买入额<br>(亿元)", "jrrzye": "融资余额<br>(亿元)", "jrrjmc": "融券卖出量<br>(亿股/亿份)",
    "jrrjyl": "融券余量<br>(亿股/亿份)", "jrrjye": "融券余额<br>(亿元)", "jrrzrjye": "融资融券余额<br>(亿元)",
}  # fmt: skip


def _szse_call(hit: Hit) -> tuple[str, dict]:
    date = hit.param("txtDate").replace("-", "")
    catalog = hit.param("CATALOGID")
    if hit.path.endswith("/data"):
        return "stock_margin_szse", {"date": date}
    if catalog == "1834_xxpl":
        return "stock_margin_underlying_info_szse", {"date": date}
    return "stock_margin_detail_szse", {"date": date}


def _xlsx(header: list[str], rows: Iterable[list[Any]]) -> Reply:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Reply(200, xlsx, out.getvalue())


def _szse_detail(sites: AkshareSites, frame, hit: Hit) -> Reply:
    cell = _plain if sites.numeric_cells else _thousands
    rows = [
        [str(row[0]), str(row[1]), *(cell(v) for v in row[2:])]
        for row in (list(r.values()) for r in _records(frame))
    ]
    return _xlsx(SZSE_DETAIL_HEADER, rows)


def _szse_underlying(sites: AkshareSites, frame, hit: Hit) -> Reply:
    header = [] if frame is None else list(frame.columns)
    return _xlsx(header, ([_plain(v) for v in row.values()] for row in _records(frame)))


def _szse_summary(sites: AkshareSites, frame, hit: Hit) -> Reply:
    cell = _plain if sites.numeric_cells else _thousands
    data = [
        dict(zip(SZSE_SUMMARY_KEYS, (cell(v) for v in row.values()), strict=True))
        for row in _records(frame)
    ]
    tab1 = {
        "metadata": {
            "catalogid": "1837_xxpl", "name": "融资融券交易总量", "excel": "xlsx", "tabkey": "tab1",
            "subname": _dashed(hit.param("txtDate").replace("-", "")),
            "cols": SZSE_SUMMARY_COLS, "pagesize": 20, "pageno": 1, "recordcount": len(data),
        },
        "data": data,
        "error": None,
    }  # fmt: skip
    tab2 = {"metadata": {"catalogid": "1837_xxpl", "name": "融资融券交易明细", "tabkey": "tab2"}}
    return Reply.json([tab1, {**tab2, "data": [], "error": None}])


# --------------------------------------------------------------------------- BSE
# JSONP `cb([<payload>, '<date>'])`: the trailing date in single quotes is not JSON,
# which is why akshare rewrites it before json.loads. Detail and underlying pages are
# Spring pages (content, totalPages, ...); the summary payload is a plain list.
BSE_DETAIL = {
    "zqdm": "证券代码", "zqjc": "证券简称", "rzmre": "融资买入额", "rzye": "融资余额",
    "rqmcl": "融券卖出量", "rqyl": "融券余量", "rqye": "融券余额", "rzrqye": "融资融券余额",
}  # fmt: skip
BSE_UNDERLYING = {
    "zqdm": "证券代码", "zqjc": "证券简称", "rzbd": "融资标的", "rqbd": "融券标的",
    "drkrz": "当日可融资", "drkrq": "当日可融券",
}  # fmt: skip
# 万元 / 万股, as the site rounds them for display; the frame is already in these units.
BSE_SUMMARY = {
    "rzmreRound": "融资买入额", "rzyeRound": "融资余额", "rqmclRound": "融券卖出量",
    "rqylRound": "融券余量", "rqyeRound": "融券余额", "rzrqyeRound": "融资融券余额",
}  # fmt: skip


def _bse_call(function: str) -> Callable[[Hit], tuple[str, dict]]:
    return lambda hit: (function, {"date": hit.param("transDate").replace("-", "")})


def _jsonp(payload: Any, date: str) -> Reply:
    text = json.dumps(payload, ensure_ascii=False)
    return Reply.text(f"cb([{text}, '{date}'])")


def _bse_paged(function: str, columns: dict[str, str]):
    def encode(sites: AkshareSites, frame, hit: Hit) -> Reply:
        rows = [{key: _plain(row[col]) for key, col in columns.items()} for row in _records(frame)]
        pages = _pages(rows, sites.page_size(function))
        number = int(hit.param("page", "0"))
        content = pages[number] if number < len(pages) else []
        page = {
            "content": content, "totalPages": len(pages) if rows else 0,
            "totalElements": len(rows), "number": number, "size": sites.page_size(function),
            "first": number == 0, "last": number >= len(pages) - 1,
        }  # fmt: skip
        return _jsonp([page], hit.param("transDate"))

    return encode


def _bse_summary(sites: AkshareSites, frame, hit: Hit) -> Reply:
    rows = [{key: _plain(row[col]) for key, col in BSE_SUMMARY.items()} for row in _records(frame)]
    return _jsonp(rows, hit.param("transDate"))


# --------------------------------------------------------------------------- Eastmoney
# clist/get sends each quote as f-coded fields in this order (f128 brings f140/f141 with
# it); akshare renames them by position. "-" stands for a missing value.
EM_SPOT_FIELDS = [
    ("f1", 2), ("f2", "最新价"), ("f3", "涨跌幅"), ("f4", "涨跌额"), ("f5", "成交量"),
    ("f6", "成交额"), ("f7", "振幅"), ("f8", "换手率"), ("f9", "市盈率-动态"), ("f10", "量比"),
    ("f11", "5分钟涨跌"), ("f12", "代码"), ("f13", None), ("f14", "名称"), ("f15", "最高"),
    ("f16", "最低"), ("f17", "今开"), ("f18", "昨收"), ("f20", "总市值"), ("f21", "流通市值"),
    ("f22", "涨速"), ("f23", "市净率"), ("f24", "60日涨跌幅"), ("f25", "年初至今涨跌幅"),
    ("f62", "-"), ("f115", "-"), ("f128", "-"), ("f140", "-"), ("f141", "-"), ("f136", "-"),
    ("f152", 2),
]  # fmt: skip
EM_ACCOUNT = {
    "STATISTICS_DATE": "日期", "FIN_BALANCE": "融资余额", "LOAN_BALANCE": "融券余额",
    "FIN_BUY_AMT": "融资买入额", "LOAN_SELL_AMT": "融券卖出额", "SECURITY_ORG_NUM": "证券公司数量",
    "OPERATEDEPT_NUM": "营业部数量", "PERSONAL_INVESTOR_NUM": "个人投资者数量",
    "ORG_INVESTOR_NUM": "机构投资者数量", "INVESTOR_NUM": "参与交易的投资者数量",
    "MARGINLIAB_INVESTOR_NUM": "有融资融券负债的投资者数量", "TOTAL_GUARANTEE": "担保物总价值",
    "AVG_GUARANTEE_RATIO": "平均维持担保比例",
}  # fmt: skip
EM_KLINE_COLUMNS = [
    "日期", "开盘", "收盘", "最高", "最低", "成交量", "成交额", "振幅", "涨跌幅", "涨跌额", "换手率",
]  # fmt: skip


def _em_value(value: Any) -> Any:
    value = _plain(value)
    return "-" if value is None else value


def _em_market(code: str) -> int:
    return 1 if code.startswith(("6", "9", "5")) else 0


def _em_spot(sites: AkshareSites, frame, hit: Hit) -> Reply:
    # The list is ordered by code (fid=f12), not by change: akshare sorts it by f3.
    rows = sorted(_records(frame), key=lambda row: row["代码"], reverse=True)
    diff = [
        {
            key: _em_market(row["代码"]) if source is None
            else _em_value(row[source]) if source in row
            else source
            for key, source in EM_SPOT_FIELDS
        }
        for row in rows
    ]  # fmt: skip
    size = int(hit.param("pz", "100"))
    size = min(size, sites.page_sizes.get("stock_zh_a_spot_em", size))
    pages = _pages(diff, size)
    number = int(hit.param("pn", "1"))
    page = pages[number - 1] if number <= len(pages) else []
    return Reply.json(
        {"rc": 0, "rt": 6, "lt": 1, "full": 1, "data": {"total": len(diff), "diff": page}}
    )


def _em_account(sites: AkshareSites, frame, hit: Hit) -> Reply:
    rows = sorted(_records(frame), key=lambda row: row["日期"], reverse=True)  # newest first
    data = [
        {key: _em_value(row[col]) if key != "STATISTICS_DATE" else f"{_plain(row[col])} 00:00:00"
         for key, col in EM_ACCOUNT.items()}
        for row in rows
    ]  # fmt: skip
    pages = _pages(data, sites.page_size("stock_margin_account_info"))
    number = int(hit.param("pageNumber", "1"))
    result = {"pages": len(pages), "data": pages[number - 1], "count": len(data)}
    return Reply.json(
        {"version": None, "result": result, "success": True, "message": "ok", "code": 0}
    )


def _em_kline_call(hit: Hit) -> tuple[str, dict]:
    periods = {"101": "daily", "102": "weekly", "103": "monthly"}
    adjusts = {"0": "", "1": "qfq", "2": "hfq"}
    return "fund_etf_hist_em", {
        "symbol": hit.param("secid").split(".", 1)[1],
        "period": periods[hit.param("klt")],
        "start_date": hit.param("beg"),
        "end_date": hit.param("end"),
        "adjust": adjusts[hit.param("fqt")],
    }


def _em_kline(sites: AkshareSites, frame, hit: Hit) -> Reply:
    rows = _records(frame)
    if not rows:
        return Reply.json({"rc": 0, "data": None})
    market, code = hit.param("secid").split(".", 1)
    klines = [",".join(_text(row[col]) for col in EM_KLINE_COLUMNS) for row in rows]
    data = {"code": code, "market": int(market), "name": code, "decimal": 3, "klines": klines}
    return Reply.json({"rc": 0, "rt": 17, "data": data})


# --------------------------------------------------------------------------- Sina
# Sina ships price histories and its trading calendar as a compact bit stream (base64
# alphabet, bits least-significant first) that the page decodes with the JS function
# akshare keeps as `hk_js_decode`. The encoders below write that stream, so akshare runs
# the real decoder. Two of its record formats are written: 3466 (daily bars: date,
# [prevclose], open, high, low, close, volume, amount) and 139 (the list of trading days).
SINA_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
SINA_EPOCH = dt.date(1990, 12, 19)  # day 0 of the decoder: the first SSE session


class _Bits:
    def __init__(self) -> None:
        self.bits: list[int] = []

    def flag(self, value: Any) -> None:
        self.bits.append(1 if value else 0)

    def unsigned(self, value: int, width: int) -> None:
        if not 0 <= value < (1 << width) and width:
            raise ValueError(f"{value} does not fit {width} bits")
        self.bits.extend((value >> k) & 1 for k in range(width))

    def signed(self, value: int, width: int) -> None:
        if not -(1 << (width - 1)) <= value < (1 << (width - 1)):
            raise ValueError(f"{value} does not fit {width} signed bits")
        self.unsigned(value % (1 << width), width)

    def step(self, value: int) -> None:
        """The decoder's N(): a sign bit, then the magnitude in unary."""
        self.flag(value > 0)
        self.bits.extend([1] * (abs(value) - 1) + [0])

    def change(self, delta: int) -> None:
        """Whether this setting changes, then, if it does, by how much."""
        self.flag(delta)
        if delta:
            self.step(delta)

    def header(self, record_format: int) -> None:
        self.unsigned(record_format, 12)
        self.unsigned(63, 6)  # version bits: 63 means "current", which every format reads

    def text(self) -> str:
        bits = self.bits + [0] * (-len(self.bits) % 6)
        chars = (sum(bits[i + k] << k for k in range(6)) for i in range(0, len(bits), 6))
        return "".join(SINA_ALPHABET[c] for c in chars)


def _decimals(values: list[float]) -> int:
    for k in range(7):
        if all(abs(v * 10**k - round(v * 10**k)) < 1e-6 for v in values):
            return k
    raise ValueError("Sina's bars carry at most 6 decimals")


def _signed_width(value: int) -> int:
    return (value if value >= 0 else -value - 1).bit_length() + 1


def _sina_day(day: Any) -> int:
    return (pd.Timestamp(day).date() - SINA_EPOCH).days


SINA_BAR = ["open", "high", "low", "close", "volume", "amount"]


def sina_bars(rows: list[dict[str, Any]]) -> str:
    """Format 3466 with every value sent as a change from the previous bar's value
    ("separate" mode), the amount sent as such rather than estimated from the average
    price, and each bar's date set explicitly (holidays need no calendar)."""
    with_prevclose = any(not _is_missing(row.get("prevclose")) for row in rows)
    prices = ["open", "high", "low", "close"] + (["prevclose"] if with_prevclose else [])
    groups = {"p": prices, "v": ["volume"], "a": ["amount"]}
    places = {g: _decimals([float(r[c]) for r in rows for c in cols]) for g, cols in groups.items()}
    scaled = [
        {c: round(float(r[c]) * 10 ** places[g]) for g, cols in groups.items() for c in cols}
        for r in rows
    ]
    last = dict.fromkeys(SINA_BAR, 0)
    steps = []
    for bar in scaled:
        step = {c: bar[c] - last[c] for c in SINA_BAR}
        if with_prevclose:  # sent against the previous close, with the open's width
            step["prevclose"] = bar["prevclose"] - last["close"]
        steps.append(step)
        last = {c: bar[c] for c in SINA_BAR}
    owners = {"open": ["open", "prevclose"] if with_prevclose else ["open"]}
    widths = {  # in units of 3 bits, as the decoder counts them
        c: max(
            1, math.ceil(max(_signed_width(s[k]) for s in steps for k in owners.get(c, [c])) / 3)
        )
        for c in SINA_BAR
    }
    start_width = {"open": 3, "high": 3, "low": 3, "close": 3, "volume": 5, "amount": 5}
    start_places = {"p": 6, "v": 0, "a": 0}  # code 3k means k decimals
    bits = _Bits()
    bits.header(3466)
    for i, (row, step) in enumerate(zip(rows, steps, strict=True)):
        first = i == 0
        bits.flag(1), bits.flag(1)  # a control record
        bits.flag(first)  # mode and precision change, once
        if first:
            for value in (1, 1, 0, 0, 1, 0):  # present; avg-price amount off; sep on; same wd
                bits.flag(value)
            for g in "pva":
                bits.change(3 * places[g] - start_places[g])
        bits.flag(1)  # widths, and the date
        for c in SINA_BAR:
            bits.change(widths[c] - start_width[c] if first else 0)
        bits.flag(1)
        bits.unsigned(1, 3)  # "absolute day follows"
        bits.signed(_sina_day(row["date"]), 18)
        bits.flag(with_prevclose)
        if with_prevclose:
            bits.flag(0)
            bits.signed(step["prevclose"], 3 * widths["open"])
        for c in SINA_BAR:
            bits.signed(step[c], 3 * widths[c])
    for value in (1, 1, 0, 0, 0):  # a control record that changes nothing: the end
        bits.flag(value)
    return bits.text()


def sina_calendar(days: Iterable[dt.date]) -> str:
    """Format 139: walking the weekdays from the first day to the last, runs of trading
    days, each run after the first preceded by one skipped weekday (a longer holiday is a
    chain of empty runs)."""
    offsets = sorted({_sina_day(d) for d in days})
    if any((SINA_EPOCH + dt.timedelta(days=o)).weekday() >= 5 for o in offsets):
        raise ValueError("Sina's calendar format cannot carry a weekend session")
    trading = set(offsets)
    walk, day = [], offsets[0]
    while day <= offsets[-1]:
        walk.append(day in trading)
        day += 1
        if day % 7 in (3, 4):  # Saturday, Sunday of the decoder's week
            day += 5 - day % 7
    runs, i = [], 0
    while i < len(walk):
        gap = 0
        while runs and not walk[i]:
            gap, i = gap + 1, i + 1
        length = 0
        while i < len(walk) and walk[i]:
            length, i = length + 1, i + 1
        runs.extend([0] * (gap - 1) + [length] if runs else [length])
    width = max(1, math.ceil(max(runs).bit_length() / 3))
    bits = _Bits()
    bits.header(139)
    bits.unsigned(offsets[0], 18)
    bits.unsigned(offsets[-1], 18)
    for i, run in enumerate(runs):
        bits.flag(i == 0)
        if i == 0:
            bits.step(width)
        bits.unsigned(run, 3 * width)
    return bits.text()


def _sina_js(name: str, code: str) -> Reply:
    return Reply.text(f'var {name}="{code}";\n', "application/x-javascript; charset=GBK", "gbk")


SINA_ROUTES = {  # URLs shared by several akshare functions are told apart by the caller
    "hisdata_klc2": ("stock_zh_a_daily", "fund_etf_hist_sina"),
    "hisdata": ("stock_zh_index_daily",),
}


def _calling(candidates: tuple[str, ...]) -> str:
    """The one place the fake looks beyond the request: stock_zh_a_daily and
    fund_etf_hist_sina read the very same URL, so the Python stack says which is asking."""
    frame = sys._getframe()
    while frame is not None:
        if frame.f_code.co_name in candidates and "akshare" in frame.f_code.co_filename:
            return frame.f_code.co_name
        frame = frame.f_back
    return candidates[0]


def _sina_hist_call(hit: Hit) -> tuple[str, dict]:
    match = re.search(r"/company/(\w+)/(hisdata\w*)/klc_kl\.js", hit.url)
    symbol, folder = match.group(1), match.group(2)
    return _calling(SINA_ROUTES[folder]), {"symbol": symbol}


def _sina_bars_body(sites: AkshareSites, frame, hit: Hit) -> Reply:
    symbol = re.search(r"/company/(\w+)/", hit.url).group(1)
    rows = _records(frame)
    return _sina_js(f"KLC_KL_{symbol}", sina_bars(rows) if rows else "")


def _sina_share_call(hit: Hit) -> tuple[str, dict]:
    return "stock_zh_a_daily", {"symbol": hit.param("symbol")}


def share_changes(frame: pd.DataFrame) -> pd.Series:
    """The share-count change dates Sina lists for a history: frame.attrs["share_changes"]
    if set, else every date where outstanding_share differs from the day before."""
    if "share_changes" in frame.attrs:
        return pd.Series(frame.attrs["share_changes"], dtype=float)
    shares = frame.set_index("date")["outstanding_share"]
    return shares[shares.ne(shares.shift())]


def _sina_share_body(sites: AkshareSites, frame, hit: Hit) -> Reply:
    symbol = hit.param("symbol")
    changes = share_changes(frame) if frame is not None and len(frame) else pd.Series()
    items = [
        {"date": pd.Timestamp(day).strftime("%Y-%m-%d"), "amount": round(shares / 10_000, 4)}
        for day, shares in sorted(changes.items(), reverse=True)  # newest first, as Sina
    ]
    guard = "/*<script>location.href='//sina.com';</script>*/\n"
    body = f"{guard}var KKE_ShareAmount_{symbol}=({json.dumps(items)});"
    return Reply.text(body, "application/javascript; charset=GBK", "gbk")


def _sina_calendar_body(sites: AkshareSites, frame, hit: Hit) -> Reply:
    # Sina's list lacks 1992-05-04; akshare appends it, so the site leaves it out.
    days = [d for d in pd.to_datetime(frame["trade_date"]).dt.date if d != dt.date(1992, 5, 4)]
    return _sina_js("datelist", sina_calendar(days))


# --------------------------------------------------------------------------- Sina's snapshot
# stock_zh_a_spot: getHQNodeStockCount answers the number of A shares (akshare reads its
# first run of digits and asks for ceil(n / 80) pages); getHQNodeData answers one page, sorted
# by symbol, each quote as these 20 fields in this order (akshare renames them by position
# and keeps 14). Sina sends the prices as text with three decimals and the rest as numbers.
SINA_SPOT_FIELDS = [
    ("symbol", "代码"), ("code", None), ("name", "名称"), ("trade", "最新价"),
    ("pricechange", "涨跌额"), ("changepercent", "涨跌幅"), ("buy", "买入"), ("sell", "卖出"),
    ("settlement", "昨收"), ("open", "今开"), ("high", "最高"), ("low", "最低"),
    ("volume", "成交量"), ("amount", "成交额"), ("ticktime", "时间戳"), ("per", None),
    ("pb", None), ("mktcap", None), ("nmc", None), ("turnoverratio", None),
]  # fmt: skip
SINA_SPOT_TEXT_PRICES = {"trade", "buy", "sell", "settlement", "open", "high", "low"}


def _sina_spot_call(hit: Hit) -> tuple[str, dict]:
    if "getHQNodeStockCount" in hit.url:
        return "stock_zh_a_spot", {}
    return "stock_zh_a_spot", {"page": hit.param("page")}


def _sina_spot_value(field_name: str, value: Any) -> Any:
    value = _plain(value)
    if value is None:
        return None
    return f"{value:.3f}" if field_name in SINA_SPOT_TEXT_PRICES else value


def _sina_spot(sites: AkshareSites, frame, hit: Hit) -> Reply:
    rows = sorted(_records(frame), key=lambda row: row["代码"])
    if "getHQNodeStockCount" in hit.url:
        return Reply.text(f'"{len(rows)}"', "application/json; charset=GBK", "gbk")
    pages = _pages(rows, int(hit.param("num", "80")))
    number = int(hit.param("page", "1"))
    page = pages[number - 1] if number <= len(pages) else []
    quotes = [
        {
            name: (row["代码"][2:] if name == "code" else None) if column is None
            else _sina_spot_value(name, row[column])
            for name, column in SINA_SPOT_FIELDS
        }
        for row in page
    ]  # fmt: skip
    return Reply.text(json.dumps(quotes, ensure_ascii=False), "application/json; charset=GBK", "gbk")


# --------------------------------------------------------------------------- CFFEX
# The daily report CSV (GBK): one row per contract, a 小计 row after each product and a
# 合计 row at the end; options (IO/MO/HO) are in the same file and carry a Delta.
CFFEX_HEADER = [
    "合约代码", "今开盘", "最高价", "最低价", "成交量", "成交金额", "持仓量", "持仓变化",
    "今收盘", "今结算", "前结算", "涨跌1", "涨跌2", "Delta",
]  # fmt: skip
CFFEX_OPTIONS = {"IF": "IO", "IM": "MO", "IH": "HO"}  # the option written on each product


def _cffex_call(hit: Hit) -> tuple[str, dict]:
    return "futures_hist_daily_cffex", {"date": re.search(r"/(\d{8})_1\.csv", hit.url).group(1)}


def _cffex_row(row: dict[str, Any]) -> list[str]:
    change = lambda a, b: _text(round(float(row[a]) - float(row[b]), 4))  # noqa: E731
    return [
        f"{row['symbol']:<8}", *(_text(row[c]) for c in ("open", "high", "low", "volume")),
        _text(row["turnover"]), _text(row["open_interest"]), "0", _text(row["close"]),
        _text(row["settle"]), _text(row["pre_settle"]), change("close", "pre_settle"),
        change("settle", "pre_settle"), "",
    ]  # fmt: skip


def _cffex_total(label: str, rows: list[dict[str, Any]]) -> list[str]:
    total = lambda c: _text(sum(r[c] for r in rows))  # noqa: E731
    return [label, "", "", "", total("volume"), total("turnover"), total("open_interest")] + [
        ""
    ] * 7


def _cffex_option(variety: str, future: dict[str, Any]) -> list[str]:
    code = (
        f"{CFFEX_OPTIONS[variety]}{future['symbol'][2:]}-C-{round(float(future['close']), -2):.0f}"
    )
    return [code, "30.2", "35.0", "28.4", "512", "1603.3", "2210", "15", "33.2", "33.6", "31.0",
            "2.2", "2.6", "0.5123"]  # fmt: skip


def _cffex_body(sites: AkshareSites, frame, hit: Hit) -> Reply:
    rows = _records(frame)
    if not rows:
        return _error_page(404)  # no report is published for a non-trading day
    lines = [CFFEX_HEADER]
    by_variety: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_variety[row["variety"]].append(row)
    for variety, futures in by_variety.items():
        lines += [_cffex_row(r) for r in futures] + [_cffex_total("小计", futures)]
        if variety in CFFEX_OPTIONS:
            lines += [_cffex_option(variety, futures[0]), _cffex_total("小计", [])]
    lines.append(_cffex_total("合计", rows))
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(lines)
    return Reply.text(out.getvalue(), "text/csv", "gbk")


# --------------------------------------------------------------------------- Shenwan
SW_COLUMNS = {"symbol": "股票代码", "start_date": "计入日期", "industry_code": "行业代码",
              "update_time": "更新日期"}  # fmt: skip


def _sw_body(sites: AkshareSites, frame, hit: Hit) -> Reply:
    header = [SW_COLUMNS.get(c, c) for c in frame.columns]
    as_cell = lambda v: dt.datetime.combine(v, dt.time()) if type(v) is dt.date else _plain(v)  # noqa: E731
    return _xlsx(header, ([as_cell(v) for v in row.values()] for row in _records(frame)))


# --------------------------------------------------------------------------- routes


@dataclass(frozen=True)
class Route:
    method: str
    url: str  # a regex on the whole URL
    call: Callable[[Hit], tuple[str, dict]]

    @property
    def pattern(self) -> re.Pattern:
        return re.compile(self.url)


def _fixed(function: str) -> Callable[[Hit], tuple[str, dict]]:
    return lambda hit: (function, {})


ROUTES = [
    Route("GET", r"https://query\.sse\.com\.cn/marketdata/tradedata/queryMargin\.do", _sse_call),
    Route("GET", r"https://www\.szse\.cn/api/report/ShowReport(/data)?\?", _szse_call),
    Route("POST", r"https://www\.bse\.cn/rzrqjyyexxController/detailInfoResult\.do",
          _bse_call("stock_margin_detail_bse")),
    Route("GET", r"https://www\.bse\.cn/rzrqjyyexxController/summaryInfoResult\.do",
          _bse_call("stock_margin_bse")),
    Route("POST", r"https://www\.bse\.cn/rzrqbdzqController/infoResult\.do",
          _bse_call("stock_margin_underlying_info_bse")),
    Route("GET", r"https://82\.push2\.eastmoney\.com/api/qt/clist/get", _fixed("stock_zh_a_spot_em")),
    Route("GET", r"https://datacenter-web\.eastmoney\.com/api/data/v1/get\?.*"
          r"RPTA_WEB_MARGIN_DAILYTRADE", _fixed("stock_margin_account_info")),
    Route("GET", r"https://push2his\.eastmoney\.com/api/qt/stock/kline/get", _em_kline_call),
    Route("GET", r"https://finance\.sina\.com\.cn/realstock/company/\w+/hisdata(_klc2)?/klc_kl\.js",
          _sina_hist_call),
    Route("GET", r"https://stock\.finance\.sina\.com\.cn/stock/api/jsonp\.php/"
          r"var%20KKE_ShareAmount_\w+=/StockService\.getAmountBySymbol", _sina_share_call),
    Route("GET", r"https://finance\.sina\.com\.cn/realstock/company/klc_td_sh\.txt",
          _fixed("tool_trade_date_hist_sina")),
    Route("GET", r"https://www\.swsresearch\.com/swindex/pdf/SwClass2021/StockClassifyUse_stock\.xls",
          _fixed("stock_industry_clf_hist_sw")),
    Route("GET", r"http://www\.cffex\.com\.cn/sj/hqsj/rtj/\d{6}/\d{2}/\d{8}_1\.csv", _cffex_call),
    Route("GET", r"http://vip\.stock\.finance\.sina\.com\.cn/quotes_service/api/json_v2\.php/"
          r"Market_Center\.getHQNode(StockCount|Data)", _sina_spot_call),
]  # fmt: skip

ENCODERS = {
    "stock_margin_detail_sse": _sse_body(SSE_DETAIL),
    "stock_margin_sse": _sse_body(SSE_SUMMARY),
    "stock_margin_detail_szse": _szse_detail,
    "stock_margin_szse": _szse_summary,
    "stock_margin_underlying_info_szse": _szse_underlying,
    "stock_margin_detail_bse": _bse_paged("stock_margin_detail_bse", BSE_DETAIL),
    "stock_margin_bse": _bse_summary,
    "stock_margin_underlying_info_bse": _bse_paged(
        "stock_margin_underlying_info_bse", BSE_UNDERLYING
    ),
    "stock_zh_a_spot_em": _em_spot,
    "stock_margin_account_info": _em_account,
    "fund_etf_hist_em": _em_kline,
    "stock_zh_a_daily": _sina_bars_body,
    "fund_etf_hist_sina": _sina_bars_body,
    "stock_zh_index_daily": _sina_bars_body,
    "tool_trade_date_hist_sina": _sina_calendar_body,
    "stock_industry_clf_hist_sw": _sw_body,
    "futures_hist_daily_cffex": _cffex_body,
    "stock_zh_a_spot": _sina_spot,
}
SHARE_ROUTE = ROUTES[9]  # stock_zh_a_daily's second request: same function, other body

PAGE_SIZES = {  # rows per page as each site pages them
    "stock_margin_detail_bse": 20,
    "stock_margin_underlying_info_bse": 20,
    "stock_margin_account_info": 500,
}

_NO_SLEEP = types.SimpleNamespace(sleep=lambda seconds: None)


# --------------------------------------------------------------------------- the sites


@dataclass
class AkshareSites:
    frames: Frames
    numeric_cells: bool = False
    page_sizes: dict[str, int] = field(default_factory=dict)
    sleep: bool = False
    calls: list[tuple[str, dict]] = field(default_factory=list)
    outage: Callable[[str, dict], Any] | None = None  # (function, kwargs) -> error, or None

    def __post_init__(self) -> None:
        self._faults: dict[str, deque] = defaultdict(deque)
        self._mock = responses.RequestsMock(assert_all_requests_are_fired=False)
        self._patches: list[Any] = []

    # ---- the test's side

    def fail(self, function: str, times: int = 1, error: Any = 500) -> AkshareSites:
        self._faults[function].extend([error] * times)
        return self

    def calls_of(self, function: str) -> list[dict]:
        return [kwargs for name, kwargs in self.calls if name == function]

    def page_size(self, function: str) -> int:
        return self.page_sizes.get(function, PAGE_SIZES.get(function, 100))

    def __enter__(self) -> AkshareSites:
        for route in ROUTES:
            if route.url.startswith("http://www\\.cffex"):
                continue
            callback = lambda request, route=route: self._answer_requests(route, request)  # noqa: E731
            self._mock.add_callback(route.method, route.pattern, callback, content_type=None)
        self._mock.start()
        # pandas.read_csv(url) downloads through urllib.request.urlopen (pandas.io.common
        # looks it up at call time): replaced for the CFFEX report.
        self._patches = [mock.patch.object(urllib.request, "urlopen", self._urlopen)]
        if not self.sleep:
            import akshare.utils.func
            import akshare.utils.request

            for module in (akshare.utils.func, akshare.utils.request):
                self._patches.append(mock.patch.object(module, "time", _NO_SLEEP))
        for patch in self._patches:
            patch.start()
        return self

    def __exit__(self, *exc_info) -> None:
        for patch in reversed(self._patches):
            patch.stop()
        self._mock.stop()
        self._mock.reset()

    # ---- the sites' side

    def _serve(self, route: Route, hit: Hit) -> Reply | BaseException:
        function, kwargs = route.call(hit)
        self.calls.append((function, kwargs))
        if self._faults[function]:
            return self._fault(self._faults[function].popleft())
        error = self.outage(function, dict(kwargs)) if self.outage else None
        if error is not None:
            return self._fault(error)
        frame = self.frames(function, dict(kwargs))
        if route is SHARE_ROUTE:
            return _sina_share_body(self, frame, hit)
        return ENCODERS[function](self, frame, hit)

    @staticmethod
    def _fault(error: Any) -> Reply | BaseException:
        if isinstance(error, bool) or not isinstance(error, (int, str)):
            return error() if isinstance(error, type) else error
        if isinstance(error, int):
            return _error_page(error)
        return Reply.text(error)

    def _answer_requests(self, route: Route, request: requests.PreparedRequest):
        reply = self._serve(route, _hit_from_requests(request))
        if isinstance(reply, BaseException):
            raise reply
        return reply.status, {"Content-Type": reply.content_type}, reply.body

    def _urlopen(self, request, *args, **kwargs):
        url = request.full_url if isinstance(request, urllib.request.Request) else str(request)
        route = next((r for r in ROUTES if "cffex" in r.url and r.pattern.match(url)), None)
        if route is None:
            raise urllib.error.URLError(f"AkshareSites serves no {url} (network is off)")
        query = _flat(urllib.parse.parse_qs(urllib.parse.urlsplit(url).query, True))
        reply = self._serve(route, Hit("GET", url, query, {}))
        if isinstance(reply, requests.ConnectionError):
            reply = urllib.error.URLError(str(reply) or "connection refused")
        if isinstance(reply, BaseException):
            raise reply
        headers = email.message.Message()
        headers["Content-Type"] = reply.content_type
        if reply.status >= 400:
            reason = _REASONS.get(reply.status, "Error")
            raise urllib.error.HTTPError(url, reply.status, reason, headers, io.BytesIO(reply.body))
        return urllib.response.addinfourl(io.BytesIO(reply.body), headers, url, reply.status)


# --------------------------------------------------------------------------- the demo market


def demo_frames(market: Any, snapshot_day: dt.date | None = None) -> Frames:
    """Sites that hold the demo market (margin_wh.sources.demo.DemoMarket): what akshare
    would return for each request, so a live refresh through akshare's real functions
    can be compared with the demo source's. `snapshot_day`: the close Eastmoney's
    snapshot shows (default: the market's last day)."""
    import numpy as np

    def frames(function: str, kwargs: dict) -> pd.DataFrame | None:
        if function == "stock_zh_a_spot_em":
            return market.snapshot(function, snapshot_day or market.trading_days[-1])
        if function == "stock_zh_a_spot":  # Sina's view of the same close
            return sina_snapshot_of(market.snapshot("stock_zh_a_spot_em",
                                                    snapshot_day or market.trading_days[-1]))  # fmt: skip
        frame = market.call(function, **kwargs)
        if function in ("stock_zh_index_daily", "fund_etf_hist_sina") and len(frame):
            # Sina's bar files carry the day's amount too: akshare keeps it as it comes
            frame = frame.assign(amount=np.round(frame["volume"] * frame["close"]))
        return frame

    return frames


def sina_snapshot_of(eastmoney: pd.DataFrame) -> pd.DataFrame:
    """The frame akshare's stock_zh_a_spot returns for the close an Eastmoney snapshot
    (stock_zh_a_spot_em's frame) shows: Sina's symbols, 成交量 in shares, 0 where Eastmoney
    has no price (a suspended stock), the bid and ask at the close."""
    from margin_wh.sources.datasets import sina_symbol

    def zero(column: str) -> pd.Series:
        return eastmoney[column].astype(float).fillna(0.0)

    return pd.DataFrame({
        "代码": eastmoney["代码"].map(sina_symbol), "名称": eastmoney["名称"],
        "最新价": zero("最新价"), "涨跌额": zero("涨跌额"), "涨跌幅": zero("涨跌幅"),
        "买入": zero("最新价"), "卖出": zero("最新价"), "昨收": zero("昨收"),
        "今开": zero("今开"), "最高": zero("最高"), "最低": zero("最低"),
        "成交量": zero("成交量") * 100, "成交额": zero("成交额"), "时间戳": "15:00:00",
    })  # fmt: skip
