"""The frames akshare's own documentation prints (its repository's docs/, each function's
"数据示例"): real answers of the sites, fetched by akshare's maintainers. Copied verbatim into
tests/akshare_docs/<function>.txt, each with the address and commit it was copied from.

pandas prints a long frame's first and last five rows and elides the middle columns
("..."): `documented(function)` gives the rows and columns printed, as text cells, and the
frame's full size from the footer. Cells hold no spaces, except a short name that SZSE pads
(万  科Ａ): surplus words join the name column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

DOCS = Path(__file__).parent / "akshare_docs"
_FOOTER = re.compile(r"^\[(?P<rows>\d+) rows x (?P<columns>\d+) columns\]$")
_NAME_COLUMNS = ("证券简称", "标的证券简称", "名称")


@dataclass(frozen=True)
class Example:
    function: str
    call: str  # the call the docs printed, e.g. ak.stock_margin_detail_szse(date="20230925")
    frame: pd.DataFrame  # the printed rows and columns, text cells
    rows: int  # the whole frame's rows (the footer; the printed rows when there is none)
    columns: int  # the whole frame's columns
    elided_columns: bool  # whether pandas left columns out ("...")


def documented_functions() -> list[str]:
    return sorted(p.stem for p in DOCS.glob("*.txt"))


def documented(function: str) -> Example:
    lines = (DOCS / f"{function}.txt").read_text(encoding="utf-8").splitlines()
    call = lines[0].split(": ", 1)[1]
    body = [line for line in lines if line.strip() and not line.startswith("#")]
    header = body[0].split()
    names = [name for name in header if name != "..."]
    footer = _FOOTER.match(body[-1].strip())
    rows = []
    for line in body[1:]:
        words = line.split()
        if _FOOTER.match(line.strip()) or words[0] == "...":
            continue
        values = [w for w in words[1:] if w != "..."]  # words[0]: the printed index
        surplus = len(values) - len(names)
        if surplus > 0:
            at = next(i for i, n in enumerate(names) if n in _NAME_COLUMNS)
            values[at : at + surplus + 1] = [" ".join(values[at : at + surplus + 1])]
        if len(values) != len(names):
            raise ValueError(f"{function}: cannot read the printed row {line!r} as {names}")
        rows.append(values)
    frame = pd.DataFrame(rows, columns=names)
    return Example(
        function, call, frame,
        rows=int(footer["rows"]) if footer else len(frame),
        columns=int(footer["columns"]) if footer else len(names),
        elided_columns="..." in header,
    )  # fmt: skip
