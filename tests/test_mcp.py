"""Research agents and notebooks on the published snapshot (issue 23): `margin-wh mcp`
through the MCP SDK's own clients, and margin_wh.read, against the session's demo snapshot.
Answers equal the same SQL run directly on the snapshot and agree with queries/*.sql;
forbidden statements are refused; a publish during a session is picked up, never breaks it.
Nothing here leaves the machine: stdio, and HTTP on 127.0.0.1 only."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import duckdb
import pandas as pd
import pytest
from mcp import Client, StdioServerParameters

from margin_wh import read
from margin_wh.mart_docs import (
    chinese_term,
    grain_in_description,
    mart_docs,
    unit_from_name,
    unit_in_description,
)
from margin_wh.publish.snapshot import SNAPSHOT_NAME, publish_snapshot, snapshot_path
from margin_wh.read import questions
from margin_wh.read.mcp_server import build_server, render_text, structured
from margin_wh.read.readonly import (
    MartNotInSnapshot,
    QueryFailed,
    QueryTimeout,
    SnapshotMissing,
    StatementRefused,
    check_read_only,
    json_value,
    open_snapshot,
)
from margin_wh.sources.demo import DEMO_LABEL

QUERIES = Path(__file__).resolve().parents[1] / "queries"
REPORT_DAY = dt.date(2024, 7, 10)  # the report's day, inside the session warehouse's window
EVENT = "2024-07-10-refinancing-suspended"  # effective 2024-07-11, inside the window
MARGIN_WH = Path(sys.executable).with_name("margin-wh")

# Statements an agent must not run, and a word the refusal must contain.
FORBIDDEN = {
    "insert into marts.dim_policy_event (event_id) values ('x')": "INSERT",
    "update marts.dim_policy_event set title_zh = 'x'": "UPDATE",
    "delete from marts.fct_market_short_daily": "DELETE",
    "drop table marts.fct_market_short_daily": "DROP",
    "create table marts.x as select 1": "CREATE",
    "create temp table x as select 1": "CREATE",
    "attach '/tmp/other.duckdb' as other": "ATTACH",
    "detach snapshot": "DETACH",
    "copy marts.dim_policy_event to '/tmp/events.csv'": "COPY",
    "export database '/tmp/export'": "EXPORT",
    "pragma database_list": "PRAGMA",
    "set enable_external_access = true": "SET",
    "reset lock_configuration": "SET",
    "install httpfs": "LOAD",
    "load httpfs": "LOAD",
    "call checkpoint()": "CALL",
    "select 1; drop table marts.fct_market_short_daily": "one SELECT statement",
    "select * from read_csv('/etc/passwd')": "reads a file",
    "select * from '/tmp/margins.csv'": "reads a file",
    "select * from read_parquet('https://example.com/x.parquet')": "reads a file",
    "select * from read_text('/etc/hostname')": "reads a file",
    "select * from glob('/etc/*')": "reads a file",
}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _direct(path: Path, sql: str, params: dict | None = None) -> tuple[list[str], list[tuple]]:
    """The same SQL run directly on the snapshot: column names and rows as JSON takes them."""
    with duckdb.connect(str(path), read_only=True) as con:
        result = con.execute(sql, params or {})
        columns = [d[0] for d in result.description]
        rows = [tuple(json_value(v) for v in row) for row in result.fetchall()]
    return columns, rows


def _rows(content: dict) -> tuple[list[str], list[tuple]]:
    """Column names and rows of a tool's structured content."""
    columns = [c["name"] for c in content["columns"]]
    return columns, [tuple(row[c] for c in columns) for row in content["rows"]]


def _params(content: dict) -> dict:
    """A tool answer's parameters as DuckDB takes them (dates arrive as ISO text)."""
    out = {}
    for name, value in content["params"].items():
        with contextlib.suppress(TypeError, ValueError):
            value = dt.date.fromisoformat(value)
        out[name] = value
    return out


def _without_signal_mart(source: Path, target: Path) -> Path:
    """A copy of the snapshot at `source` (or the file itself) as one published before
    the signal mart existed."""
    if Path(source) != Path(target):
        shutil.copyfile(source, target)
    with duckdb.connect(str(target)) as con:
        con.execute("drop table if exists marts.fct_margin_signal")
        con.execute("checkpoint")
    return target


def _with_signal_mart(source: Path, target: Path) -> int:
    """A copy of the snapshot at `source` with a small marts.fct_margin_signal of known
    rows (the columns of its public contract) on the last trading days, in place of the
    demo's own; returns its row count."""
    shutil.copyfile(source, target)
    with duckdb.connect(str(target)) as con:
        con.execute("drop table if exists marts.fct_margin_signal")
        con.execute(
            """
            create table marts.fct_margin_signal as
            select
                trade_date, security_code, exchange, security_name,
                case when short_to_float_rank <= 2 then 'short_squeeze'
                     else 'financing_to_float_high' end as signal_type,
                short_to_float_ratio as value,
                0.01 as threshold,
                close_change_1d_ratio,
                close_change_1d_ratio >= 0.0995 as is_limit_up,
            from marts.fct_balance_to_float
            where short_to_float_rank <= 4
                and trade_date >= (
                    select max(trade_date) - interval 3 day from marts.fct_balance_to_float)
            """
        )
        con.execute("checkpoint")
        return con.execute("select count(*) from marts.fct_margin_signal").fetchall()[0][0]


@pytest.fixture(scope="module")
def published(warehouse, tmp_path_factory) -> Path:
    """A copy of the session's published demo snapshot, in a directory of its own."""
    target = tmp_path_factory.mktemp("mcp") / SNAPSHOT_NAME
    shutil.copyfile(snapshot_path(warehouse.settings.publish_dir), target)
    return target


# ---------------------------------------------------------------- pure pieces
def test_units_and_chinese_terms_from_the_descriptions():
    text = (
        "Financing repayments of the day (融资偿还额); CNY. Published by SSE only: null for SZSE."
    )
    assert (chinese_term(text), unit_in_description(text)) == ("融资偿还额", "CNY")
    text = (
        "Short balance (融券余额): short volume outstanding x the day's close; CNY. SZSE/BSE as "
        "published; SSE derived as 融券余量 x 收盘价."
    )
    assert (chinese_term(text), unit_in_description(text)) == ("融券余额", "CNY")
    text = "Short balance / float market cap (融券余额占流通市值比例); fraction (0.0301 = 3.01%)."
    assert unit_in_description(text) == "fraction (0.0301 = 3.01%)"
    assert chinese_term("Spot index (现货指数), Sina symbol (sh000300); text.") == "现货指数"
    assert (chinese_term("No term here; text."), unit_in_description("No unit here.")) == (
        None,
        None,
    )
    assert grain_in_description("… rows. Grain: trade_date x\n  security_code.") == (
        "trade_date x security_code"
    )


@pytest.mark.parametrize(
    "column, unit",
    [
        ("short_balance_cny", "CNY"),
        ("short_balance_100m_cny", "100 million CNY (亿元)"),
        ("short_to_float_pct", "percent"),
        ("share_of_market_change_pct_points", "percentage points"),
        ("short_volume_shares", "shares"),
        ("short_to_float_ratio", "fraction (0.0301 = 3.01%)"),
        ("trade_date", "date"),
        ("is_limit_up", "boolean"),
        ("securities_count", "count"),
        ("security_name", None),
    ],
)
def test_unit_from_the_naming_convention(column, unit):
    assert unit_from_name(column) == unit


def test_every_mart_column_has_a_unit_and_a_chinese_term():
    """The docs the MCP server and notebooks show: a mart column without them is a gap."""
    docs = mart_docs()
    assert {"fct_balance_to_float", "dim_policy_event", "fct_market_short_daily"} <= set(docs)
    missing = [
        f"{mart.name}.{column.name}"
        for mart in docs.values()
        for column in mart.columns.values()
        if not (column.unit and column.term_zh)
    ]
    assert not missing, f"mart columns whose description gives no unit or Chinese term: {missing}"
    assert all(mart.grain for mart in docs.values())


@pytest.mark.parametrize("sql, word", FORBIDDEN.items())
def test_statements_other_than_one_select_are_refused_by_the_parser(sql, word):
    if word == "reads a file":  # a SELECT: DuckDB's own settings refuse it (below)
        check_read_only(sql)
        return
    with pytest.raises(StatementRefused, match=word):
        check_read_only(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "select 1",
        "with a as (select 1 as x) select x from a",
        "from marts.fct_market_short_daily",
        "values (1, 2)",
        "describe marts.fct_balance_to_float",
        "show tables",
        "summarize marts.fct_market_short_daily",
    ],
)
def test_one_select_is_accepted(sql):
    check_read_only(sql)


def test_json_values():
    from decimal import Decimal

    assert [
        json_value(v)
        for v in (dt.date(2024, 7, 10), Decimal("12.50"), Decimal("3"), float("nan"), 1.5, None)
    ] == ["2024-07-10", 12.5, 3, None, 1.5, None]


# ---------------------------------------------------------------- the snapshot, read-only
def test_forbidden_statements_are_refused_and_the_snapshot_is_unchanged(published):
    before = _sha256(published)
    for sql, word in FORBIDDEN.items():
        with pytest.raises(StatementRefused, match=word):
            questions.query(sql, snapshot=published)
    assert _sha256(published) == before


def test_a_slow_query_is_stopped_and_rows_are_bounded(published):
    started = time.perf_counter()
    with pytest.raises(QueryTimeout, match="longer than 0.5 s"):
        questions.query(
            "select count(*) from range(1e13::bigint)", timeout_s=0.5, snapshot=published
        )
    assert time.perf_counter() - started < 10
    answer = questions.query(
        "select * from marts.fct_balance_to_float", limit=7, snapshot=published
    )
    assert (answer.table.num_rows, answer.truncated) == (7, True)
    answer = questions.query("select * from marts.dim_policy_event", limit=500, snapshot=published)
    assert not answer.truncated
    with pytest.raises(QueryFailed, match="Catalog Error"):
        questions.query("select * from marts.no_such_mart", snapshot=published)


def test_every_answer_says_the_data_is_synthetic(published):
    info = read.snapshot_info(published)
    assert (info.source, info.is_synthetic, info.data_label) == ("demo", True, DEMO_LABEL)
    assert info.note.startswith(DEMO_LABEL) and "2024-07-31" in info.note
    frame = read.top_short_to_float(snapshot=published)
    assert frame.attrs["is_synthetic"] is True and frame.attrs["data_note"] == info.note
    assert frame.attrs["units"]["short_balance_cny"] == "CNY"
    assert frame.attrs["units"]["short_to_float_ratio"].startswith("fraction")
    text = render_text(structured(questions.top_short_to_float(limit=2, snapshot=published)))
    assert text.startswith(DEMO_LABEL) and "short_balance_cny (CNY)" in text


def test_answers_equal_the_same_sql_run_directly(published):
    answers = [
        questions.list_marts(published),
        questions.describe_mart("fct_balance_to_float", published),
        questions.short_balance_trend(period="week", snapshot=published),
        questions.top_short_to_float(REPORT_DAY, 8, snapshot=published),
        questions.industry_concentration(level=1, snapshot=published),
        questions.policy_events("tighten", snapshot=published),
        questions.event_window(EVENT, offsets=[-5, 0, 5], snapshot=published),
        questions.event_window(EVENT, by_industry=True, industry_code="270000", snapshot=published),
        questions.query("select * from marts.fct_market_margin_daily", snapshot=published),
    ]
    for answer in answers[2:]:
        assert answer.table.num_rows > 0, answer.title
        direct = _direct(published, answer.sql, answer.params)
        assert (answer.table.column_names, [tuple(r.values()) for r in answer.rows()]) == direct
    # the catalog answers: what the snapshot holds, described by the dbt docs
    listed = answers[0].rows()
    in_snapshot = _direct(
        published,
        "select table_name from information_schema.tables where table_schema = 'marts' order by 1",
    )[1]
    assert [(r["mart"],) for r in listed] == in_snapshot
    assert all(r["grain"] and r["description"] and r["rows"] > 0 for r in listed)
    described = answers[1].rows()
    assert [r["column"] for r in described] == [
        r[0] for r in _direct(published, "describe marts.fct_balance_to_float")[1]
    ]
    short = next(r for r in described if r["column"] == "short_balance_cny")
    assert (short["unit"], short["term_zh"]) == ("CNY", "融券余额")
    # the notebook frame is the frame DuckDB gives for the same SQL
    answer = answers[3]
    with duckdb.connect(str(published), read_only=True) as con:
        expected = con.execute(answer.sql, answer.params).df()
    frame = read.top_short_to_float(REPORT_DAY, 8, snapshot=published)
    pd.testing.assert_frame_equal(frame, expected)
    polars = read.top_short_to_float(REPORT_DAY, 8, snapshot=published, as_polars=True)
    assert polars.to_dicts() == answer.table.to_pylist()


def _example(name: str, path: Path) -> list[tuple]:
    return _direct(path, (QUERIES / name).read_text())[1]


def test_answers_agree_with_the_example_queries(published):
    """queries/*.sql round to the report's 亿 and percent; the tools keep the stored units."""
    near = pytest.approx
    top = read.top_short_to_float(REPORT_DAY, 8, snapshot=published)
    assert _example("top_short_to_float_securities.sql", published) == [
        (r.short_to_float_rank, r.security_name, r.security_code, r.sw_l2_name,
         near(r.short_balance_cny / 1e8, abs=0.0051), near(r.short_to_float_ratio * 100, abs=0.0051))
        for r in top.itertuples()
    ]  # fmt: skip
    industries = read.industry_concentration(REPORT_DAY, 2, 10, snapshot=published)
    assert _example("industry_short_concentration.sql", published) == [
        (r.industry_name, r.industry_code, near(r.short_balance_cny / 1e8, abs=0.0051),
         near(r.share_of_market_short_ratio * 100, abs=0.051),
         near(r.short_to_float_ratio * 100, abs=0.00051), r.securities_with_short_count,
         near(r.short_hhi, abs=0.00051), r.top_short_security_name, r.top_short_security_code)
        for r in industries.itertuples()
    ]  # fmt: skip
    trend = read.short_balance_trend(start="2024-01-01", snapshot=published)
    expected = _example("short_balance_trend_with_policy_events.sql", published)
    assert [row[0] for row in expected] == [d.date().isoformat() for d in trend.trade_date]
    for (_, balance, events, _), row in zip(expected, trend.itertuples(), strict=True):
        assert balance == near(row.short_balance_cny / 1e8, abs=0.051)
        titles = "" if pd.isna(row.policy_events) else row.policy_events
        assert set((events or "").split("; ")) == set(titles.split("; "))
    assert trend.policy_events.notna().sum() >= 1  # the 2024-07-11 suspension is in the window
    tightenings = read.policy_events("tighten", "2024-01-01", "2024-12-31", snapshot=published)
    windows = pd.concat(
        [read.event_window(e, offsets=[-20, -5, 0, 5, 20], snapshot=published)
         for e in tightenings.event_id]
    )  # fmt: skip
    assert _example("policy_event_window.sql", published) == [
        (r.event_id, r.title_zh, r.offset_trading_days, r.trade_date.date().isoformat(),
         near(r.short_balance_cny / 1e8, abs=0.051),
         near(r.short_balance_change_from_event_ratio * 100, abs=0.051),
         near(r.short_to_float_ratio * 100, abs=0.00051))
        for r in windows.itertuples()
    ]  # fmt: skip


def test_signals_say_when_the_mart_is_absent_and_answer_when_it_is_there(published, tmp_path):
    older = _without_signal_mart(published, tmp_path / "older.duckdb")
    with pytest.raises(MartNotInSnapshot, match="marts.fct_margin_signal is not in this snapshot"):
        read.signals(snapshot=older)
    assert len(read.signals(snapshot=published)) > 0  # the demo's own signals
    with_signals = tmp_path / SNAPSHOT_NAME
    rows = _with_signal_mart(published, with_signals)
    latest = read.signals(snapshot=with_signals)
    assert 0 < len(latest) < rows and latest.trade_date.nunique() == 1
    answer = questions.signals(start="2024-01-01", snapshot=with_signals)
    assert answer.table.num_rows == rows
    assert (answer.table.column_names, [tuple(r.values()) for r in answer.rows()]) == _direct(
        with_signals, answer.sql, answer.params
    )
    squeezes = read.signals(start="2024-01-01", signal_type="short_squeeze", snapshot=with_signals)
    assert set(squeezes.signal_type) == {"short_squeeze"}
    assert "fct_margin_signal" in set(read.list_marts(snapshot=with_signals).mart)
    # described from the dbt docs once they cover the mart, from the naming convention before
    columns = read.describe_mart("fct_margin_signal", snapshot=with_signals).set_index("column")
    assert list(columns.index) == list(latest.columns)
    assert columns.unit["trade_date"] == "date" and columns.unit["is_limit_up"] == "boolean"


def test_clear_errors_for_missing_snapshot_day_and_event(published, tmp_path):
    with pytest.raises(SnapshotMissing, match="no published snapshot at .*margin-wh demo"):
        read.list_marts(snapshot=tmp_path / "nothing.duckdb")
    with pytest.raises(QueryFailed, match="no rows on 2024-07-13: it holds trading days"):
        read.top_short_to_float("2024-07-13", snapshot=published)
    with pytest.raises(QueryFailed, match="no policy event 'no-such-event'"):
        read.event_window("no-such-event", snapshot=published)
    with pytest.raises(QueryFailed, match="YYYY-MM-DD, got '10/07/2024'"):
        read.top_short_to_float("10/07/2024", snapshot=published)
    with pytest.raises(MartNotInSnapshot, match="list_marts"):
        read.describe_mart("fct_nothing", snapshot=published)


def test_a_request_open_during_a_publish_keeps_its_snapshot(published, tmp_path):
    path = _without_signal_mart(published, tmp_path / SNAPSHOT_NAME)
    newer = tmp_path / "newer.duckdb"
    _with_signal_mart(published, newer)
    with open_snapshot(path) as con:
        os.replace(newer, path)  # what a publish does
        assert con.execute("select count(*) from marts.fct_market_short_daily").fetchall()[0][0]
        assert "fct_margin_signal" not in {
            r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()
        }
    assert len(read.signals(snapshot=path)) > 0  # the next request reads the new file


# ---------------------------------------------------------------- the MCP server
async def _call(client: Client, tool: str, arguments: dict | None = None):
    result = await client.call_tool(tool, arguments or {})
    text = result.content[0].text
    return result, text


def test_mcp_server_over_stdio_answers_every_tool_and_survives_a_publish(warehouse, tmp_path):
    """`margin-wh mcp` started as an MCP client starts it, called with the SDK's stdio
    client: every tool, equal to its SQL run directly; then two publishes while the session
    is open (a snapshot with a signal mart of known rows, then a real publish)."""
    publish_dir = tmp_path / "published"
    path = publish_snapshot(warehouse.settings.db_path, publish_dir, source="demo",
                            data_label=DEMO_LABEL).path  # fmt: skip
    _without_signal_mart(path, path)  # as published before the signal mart existed
    server = StdioServerParameters(command=str(MARGIN_WH), args=["mcp", "--snapshot", str(path)])
    calls = {
        "list_marts": {},
        "describe_mart": {"mart": "fct_market_short_daily"},
        "query": {"sql": "select exchange, sum(short_balance_cny) as short_balance_cny "
                         "from marts.fct_balance_to_float group by 1 order by 1"},
        "short_balance_trend": {"start": "2024-06-01", "period": "week"},
        "top_short_to_float": {"trade_date": REPORT_DAY.isoformat(), "limit": 5},
        "industry_concentration": {"level": 2, "limit": 5},
        "policy_events": {"direction": "tighten"},
        "event_window": {"event_id": EVENT, "offsets": [-5, 0, 5]},
    }  # fmt: skip

    async def session() -> None:
        async with Client(server, read_timeout_seconds=60) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert names == {*calls, "signals"}
            for tool, arguments in calls.items():
                result, text = await _call(client, tool, arguments)
                assert not result.is_error, text
                content = result.structured_content
                assert content["is_synthetic"] is True and text.startswith(DEMO_LABEL), tool
                assert content["rows"], tool
                if tool not in ("list_marts", "describe_mart"):
                    assert _rows(content) == _direct(path, content["sql"], _params(content)), tool
            units = {c["name"]: c["unit"] for c in content["columns"]}
            assert units["short_balance_cny"] == "CNY"

            for sql, word in list(FORBIDDEN.items())[::4]:
                result, text = await _call(client, "query", {"sql": sql})
                assert result.is_error and word in text, (sql, text)
            result, text = await _call(client, "signals")
            assert result.is_error and "fct_margin_signal is not in this snapshot" in text

            # a snapshot with the signal mart replaces the file, as a publish does
            newer = publish_dir / "newer.duckdb"
            rows = _with_signal_mart(path, newer)
            os.replace(newer, path)
            result, text = await _call(client, "signals", {"start": "2024-01-01"})
            assert not result.is_error, text
            content = result.structured_content
            assert content["row_count"] == rows and text.startswith(DEMO_LABEL)
            assert _rows(content) == _direct(path, content["sql"], _params(content))

            # a real publish from the warehouse, with the demo's own signals
            publish_snapshot(warehouse.settings.db_path, publish_dir, source="demo",
                             data_label=DEMO_LABEL)  # fmt: skip
            result, text = await _call(client, "signals", {"start": "2024-01-01"})
            assert not result.is_error, text
            assert _rows(result.structured_content) == _direct(
                path, result.structured_content["sql"], _params(result.structured_content)
            )
            result, text = await _call(client, "top_short_to_float", {"limit": 3})
            assert not result.is_error and result.structured_content["row_count"] == 3

    anyio.run(session)


def test_mcp_tools_in_process_validate_their_arguments(published):
    """The SDK's in-memory client on the same server: bad arguments and questions the
    snapshot cannot answer come back as tool errors that say why."""

    async def session() -> None:
        async with Client(build_server(published)) as client:
            result, text = await _call(client, "query", {"sql": "select 1", "limit": 100000})
            assert result.is_error and "limit" in text
            result, text = await _call(client, "top_short_to_float", {"trade_date": "2024-07-13"})
            assert result.is_error and "no rows on 2024-07-13" in text
            result, text = await _call(client, "describe_mart", {"mart": "fct_nothing"})
            assert result.is_error and "not in this snapshot" in text
            result, text = await _call(client, "query", {"sql": "select * from marts.fct_balance_to_float", "limit": 3})  # fmt: skip
            content = result.structured_content
            assert (content["row_count"], content["truncated"]) == (3, True)
            assert "cut at the limit of 3" in text

    anyio.run(session)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_mcp_server_over_streamable_http_on_loopback(published):
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    port = _free_port()
    process = subprocess.Popen(
        [str(MARGIN_WH), "mcp", "--http", "--port", str(port), "--snapshot", str(published)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "the HTTP server did not listen within 30 s"
            time.sleep(0.2)

        async def session() -> None:
            # no proxy from the environment: the request stays on the loopback interface
            async with httpx2.AsyncClient(trust_env=False, timeout=60) as http:
                url = f"http://127.0.0.1:{port}/mcp"
                async with Client(streamable_http_client(url, http_client=http)) as client:
                    result, text = await _call(client, "list_marts")
                    assert not result.is_error and text.startswith(DEMO_LABEL)
                    assert {r["mart"] for r in result.structured_content["rows"]} >= {
                        "fct_balance_to_float", "fct_market_short_daily"}  # fmt: skip

        anyio.run(session)
    finally:
        process.terminate()
        process.wait(timeout=30)
