"""`margin-wh mcp`: the published snapshot as a Model Context Protocol server, for research
agents. Built on the official MCP Python SDK (`mcp`, MCPServer); stdio by default,
streamable HTTP on 127.0.0.1 with --http.

Each tool is a thin wrapper over margin_wh.read.questions, the code behind margin_wh.read too:
the same SQL, the same rows. A tool's answer is a text block (the data note, then the rows
as a table whose headers carry the units) and the same as structured content (`TableAnswer`:
columns with type and unit, rows, whether they were cut at the row limit, the SQL and its
parameters, and the snapshot's provenance). The first line of every answer says whether the
data is SYNTHETIC demo data. A request the snapshot cannot answer (a refused statement, a
mart this snapshot lacks, a timeout) comes back as a tool error with the reason.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field
from tabulate import tabulate

from margin_wh.config import MCP_HTTP_PORT
from margin_wh.read import questions
from margin_wh.read.readonly import Answer, SnapshotAccessError, default_snapshot

SERVER_NAME = "margin-warehouse"
# Bounds on what one answer may put into an agent's context and how long it may take.
DEFAULT_QUERY_ROWS = 200
MAX_QUERY_ROWS = 5000
MAX_TOOL_ROWS = 2000
DEFAULT_QUERY_TIMEOUT_S = 30.0
MAX_QUERY_TIMEOUT_S = 300.0

INSTRUCTIONS = """\
Read-only access to a China A-share margin trading and short selling (融资融券) warehouse:
the published snapshot of its marts. Every answer starts with a data note saying whether
the data is SYNTHETIC demo data or live exchange data, and up to which trading day. Units:
money in CNY (_cny), volumes in shares (_shares), ratios as fractions (_ratio: 0.0301 =
3.01%); each answer lists the unit of every column. Start with list_marts and
describe_mart; short_balance_trend, top_short_to_float, industry_concentration,
policy_events, event_window and signals answer the research report's questions; query runs
one read-only SELECT (schemas marts, reference, main)."""

READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)


class ColumnInfo(BaseModel):
    name: str
    type: str = Field(description="Arrow type of the column")
    unit: str | None = Field(description="CNY, shares, fraction, date, text … (null: unknown)")


class TableAnswer(BaseModel):
    """The structured content of every tool's answer."""

    data_note: str = Field(
        description=(
            "What the data is: SYNTHETIC demo data or live, how fresh, which datasets lag, "
            "which symbols could not load, which marts are not built or stale"
        )
    )
    is_synthetic: bool | None = Field(description="True for the demo source's synthetic market")
    title: str
    columns: list[ColumnInfo]
    rows: list[dict[str, Any]]
    row_count: int
    truncated: bool = Field(description="True when there were more rows than row_limit")
    row_limit: int | None
    sql: str | None = Field(description="The SQL that produced the rows (run it: same rows)")
    params: dict[str, Any]
    snapshot: dict[str, Any] = Field(description="Path, source, publish time, lagging datasets")


def structured(answer: Answer) -> TableAnswer:
    return TableAnswer(
        data_note=answer.snapshot.note,
        is_synthetic=answer.snapshot.is_synthetic,
        title=answer.title,
        columns=[
            ColumnInfo(name=name, type=kind, unit=answer.units.get(name))
            for name, kind in answer.column_types.items()
        ],
        rows=answer.rows(),
        row_count=answer.table.num_rows,
        truncated=answer.truncated,
        row_limit=answer.row_limit,
        sql=answer.sql.strip() if answer.sql else None,
        params={
            k: v.isoformat() if isinstance(v, dt.date) else v for k, v in answer.params.items()
        },
        snapshot=answer.snapshot.as_dict(),
    )


def _cell(value: Any) -> str:
    """A cell as text: floats in full (repr), nulls empty."""
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def render_text(content: TableAnswer) -> str:
    """The answer as text for the model to read: data note, title, table, row count."""
    headers = [
        f"{c.name} ({c.unit})" if c.unit and c.unit != "text" else c.name for c in content.columns
    ]
    rows = [[_cell(row.get(c.name)) for c in content.columns] for row in content.rows]
    table = tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)
    footer = f"{content.row_count} row{'s' if content.row_count != 1 else ''}"
    if content.truncated:
        footer += (
            f", cut at the limit of {content.row_limit}: narrow the question or raise the limit"
        )
    return (
        f"{content.data_note}\n\n{content.title}\n\n{table if rows else '(no rows)'}\n\n{footer}."
    )


def to_result(answer: Answer) -> CallToolResult:
    content = structured(answer)
    return CallToolResult(
        content=[TextContent(type="text", text=render_text(content))],
        structured_content=content.model_dump(mode="json"),
    )


def _answer(question: Callable[[], Answer]) -> CallToolResult:
    """Run a question; a request the snapshot cannot answer is a tool error with the reason."""
    try:
        return to_result(question())
    except SnapshotAccessError as error:
        raise ToolError(str(error)) from None


def _description(question: Callable) -> str:
    """A tool's description: the docstring of the question it wraps, on one paragraph."""
    return " ".join((question.__doc__ or "").split())


Result = Annotated[CallToolResult, TableAnswer]
Day = Annotated[dt.date | None, Field(description="A trading day, YYYY-MM-DD; omit for the latest")]
Start = Annotated[dt.date | None, Field(description="First day, YYYY-MM-DD (inclusive)")]
End = Annotated[dt.date | None, Field(description="Last day, YYYY-MM-DD (inclusive)")]
Top = Annotated[int, Field(ge=1, le=MAX_TOOL_ROWS, description="How many rows")]


def build_server(snapshot: Path | str | None = None) -> MCPServer:
    """The MCP server over the snapshot file at `snapshot` (default: the one this
    warehouse's settings publish to). The file is opened anew for every call."""
    path = Path(snapshot) if snapshot is not None else default_snapshot()
    server = MCPServer(
        SERVER_NAME,
        instructions=INSTRUCTIONS,
        version=importlib.metadata.version("margin-warehouse"),
        log_level="WARNING",
    )

    def tool(question: Callable):
        return server.tool(
            name=question.__name__, description=_description(question), annotations=READ_ONLY
        )

    @tool(questions.list_marts)
    def list_marts() -> Result:
        return _answer(lambda: questions.list_marts(path))

    @tool(questions.describe_mart)
    def describe_mart(
        mart: Annotated[str, Field(description="A mart name, e.g. fct_balance_to_float")],
    ) -> Result:
        return _answer(lambda: questions.describe_mart(mart, path))

    @tool(questions.query)
    def query(
        sql: Annotated[str, Field(description="One SELECT on the snapshot")],
        limit: Annotated[int, Field(ge=1, le=MAX_QUERY_ROWS)] = DEFAULT_QUERY_ROWS,
        timeout_s: Annotated[float, Field(gt=0, le=MAX_QUERY_TIMEOUT_S)] = DEFAULT_QUERY_TIMEOUT_S,
    ) -> Result:
        return _answer(lambda: questions.query(sql, limit, timeout_s, snapshot=path))

    @tool(questions.short_balance_trend)
    def short_balance_trend(
        start: Start = None,
        end: End = None,
        period: Annotated[
            Literal["day", "week", "month"],
            Field(
                description="One row per trading day, or the last trading day of each week or month"
            ),
        ] = "month",
    ) -> Result:
        return _answer(
            lambda: questions.short_balance_trend(
                start, end, period, snapshot=path, max_rows=MAX_TOOL_ROWS
            )
        )

    @tool(questions.top_short_to_float)
    def top_short_to_float(trade_date: Day = None, limit: Top = 10) -> Result:
        return _answer(lambda: questions.top_short_to_float(trade_date, limit, snapshot=path))

    @tool(questions.industry_concentration)
    def industry_concentration(
        trade_date: Day = None,
        level: Annotated[Literal[1, 2], Field(description="Shenwan level: 1 一级, 2 二级")] = 2,
        limit: Top = 10,
    ) -> Result:
        return _answer(
            lambda: questions.industry_concentration(trade_date, level, limit, snapshot=path)
        )

    @tool(questions.policy_events)
    def policy_events(
        direction: Annotated[
            Literal["tighten", "loosen", "neutral"] | None,
            Field(description="Only events with this direction for short selling"),
        ] = None,
        start: Start = None,
        end: End = None,
    ) -> Result:
        return _answer(lambda: questions.policy_events(direction, start, end, snapshot=path))

    @tool(questions.event_window)
    def event_window(
        event_id: Annotated[str, Field(description="An event_id from policy_events")],
        by_industry: bool = False,
        offsets: Annotated[
            list[int] | None, Field(description="Offsets in trading days, e.g. [-20, -5, 0, 5, 20]")
        ] = None,
        industry_code: Annotated[
            str | None, Field(description="One Shenwan level-1 code (with by_industry)")
        ] = None,
    ) -> Result:
        return _answer(
            lambda: questions.event_window(
                event_id, by_industry, offsets, industry_code, snapshot=path
            )
        )

    @tool(questions.signals)
    def signals(
        start: Start = None,
        end: End = None,
        signal_type: Annotated[str | None, Field(description="e.g. short_squeeze")] = None,
        security_code: Annotated[str | None, Field(description="6-digit code")] = None,
        limit: Top = 100,
    ) -> Result:
        return _answer(
            lambda: questions.signals(start, end, signal_type, security_code, limit, snapshot=path)
        )

    return server


def serve(snapshot: Path | None, http: bool, port: int = MCP_HTTP_PORT) -> None:
    """Run the server until the client closes stdio (or, over HTTP, until interrupted).
    Nothing but the protocol may reach stdout: the note goes to stderr."""
    server = build_server(snapshot)
    path = Path(snapshot) if snapshot is not None else default_snapshot()
    where = f"http://127.0.0.1:{port}/mcp" if http else "stdio"
    print(f"margin-wh mcp: serving {path} (read-only) over {where}", file=sys.stderr)
    if not path.is_file():
        print(
            f"margin-wh mcp: note: no snapshot at {path} yet; tools answer once one is "
            "published (margin-wh demo, or a refresh)",
            file=sys.stderr,
        )
    if http:
        server.run("streamable-http", host="127.0.0.1", port=port)
    else:
        server.run("stdio")
