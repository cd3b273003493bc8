"""What the marts mean: grain, column descriptions, units and Chinese terms, read from the
dbt YAML docs (`models/marts/*.yml`), the one place they are written.

Every mart column's description follows one pattern, which the marts' YAML states at its
top: "English name (中文术语), details; unit." — e.g. "Short balance (融券余额): short
volume outstanding x the day's close; CNY." So the Chinese term is the first parenthesis
holding Chinese, and the unit the text after the last semicolon. A column the docs do not
cover (a mart newer than this checkout, or a computed column of a query) gets its unit
from the warehouse's naming convention (`_cny`, `_shares`, `_ratio` …), the same one the
README and the example queries follow.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from margin_wh.config import REPO_ROOT

MARTS_DOCS_DIR = REPO_ROOT / "models" / "marts"

# Any CJK ideograph: a parenthesis holding one is the Chinese source term.
_CHINESE = re.compile(r"[\u3400-\u9fff]")
_PARENTHESES = re.compile(r"\(([^()]*)\)")
_GRAIN = re.compile(r"Grain:\s*(.+?)\.?\s*$", re.DOTALL)
# A sentence ends at a full stop followed by a capital or a quote ("…; CNY. Published by
# SSE only …"), not inside numbers ("0.0301") or abbreviations ("e.g. a margin ratio").
_SENTENCE_END = re.compile(r"(?<=\.)\s+(?=[A-Z'])")

# Units by column-name suffix, longest first: the marts hold CNY, shares and fractions;
# the example queries convert to the report's 亿 (1e8), 万 (1e4) and percent.
SUFFIX_UNITS: tuple[tuple[str, str], ...] = (
    ("_100m_cny", "100 million CNY (亿元)"),
    ("_10k_cny", "10 thousand CNY (万元)"),
    ("_trillion_cny", "trillion CNY (万亿元)"),
    ("_cny", "CNY"),
    ("_pct_points", "percentage points"),
    ("_pct", "percent"),
    ("_ratio", "fraction (0.0301 = 3.01%)"),
    ("_shares", "shares"),
    ("_count", "count"),
    ("_date", "date"),
    ("_days", "days"),
)


@dataclass(frozen=True)
class ColumnDoc:
    name: str
    description: str
    term_zh: str | None  # the Chinese source term, e.g. 融券余额
    unit: str | None  # e.g. "CNY", "shares", "fraction (0.0301 = 3.01%)", "date", "text"


@dataclass(frozen=True)
class MartDoc:
    name: str
    description: str
    grain: str | None  # e.g. "trade_date x security_code"
    columns: dict[str, ColumnDoc]


def chinese_term(description: str) -> str | None:
    """The first parenthesised text holding Chinese: 'Short balance (融券余额); CNY.' ->
    '融券余额'; None when the description names no Chinese term."""
    for match in _PARENTHESES.finditer(description):
        if _CHINESE.search(match.group(1)):
            return match.group(1).strip()
    return None


def unit_in_description(description: str) -> str | None:
    """The unit closing the first sentence that has a semicolon: '…; CNY. Published by SSE
    only …' -> 'CNY'; None when no sentence has one (the description states no unit)."""
    for sentence in _SENTENCE_END.split(description):
        if ";" in sentence:
            unit = sentence.rsplit(";", 1)[1].strip().rstrip(".").strip()
            return unit or None
    return None


def unit_from_name(column: str) -> str | None:
    """The unit the warehouse's naming convention gives a column name: 'short_balance_cny'
    -> 'CNY', 'short_to_float_pct' -> 'percent', 'is_limit_up' -> 'boolean'; None when the
    name follows no convention."""
    name = column.lower()
    if name == "trade_date":
        return "date"
    if name.startswith(("is_", "has_")):
        return "boolean"
    for suffix, unit in SUFFIX_UNITS:
        if name.endswith(suffix):
            return unit
    return None


def grain_in_description(description: str) -> str | None:
    """'… Grain: trade_date x security_code.' -> 'trade_date x security_code'."""
    match = _GRAIN.search(description)
    return " ".join(match.group(1).split()) if match else None


def _primary_key(model: dict) -> str | None:
    """The columns of the model's primary_key test, as a grain, when it has one."""
    for test in model.get("data_tests") or ():
        if isinstance(test, dict) and "primary_key" in test:
            columns = (test["primary_key"].get("arguments") or {}).get("columns") or ()
            if columns:
                return " x ".join(columns)
    return None


def column_doc(name: str, description: str) -> ColumnDoc:
    description = " ".join((description or "").split())
    return ColumnDoc(
        name=name,
        description=description,
        term_zh=chinese_term(description),
        unit=unit_in_description(description) or unit_from_name(name),
    )


def parse_models(document: dict) -> dict[str, MartDoc]:
    """MartDoc per model of one dbt YAML document (`version: 2`, `models:`)."""
    out: dict[str, MartDoc] = {}
    for model in (document or {}).get("models") or ():
        description = " ".join((model.get("description") or "").split())
        out[model["name"]] = MartDoc(
            name=model["name"],
            description=description,
            grain=grain_in_description(description) or _primary_key(model),
            columns={
                column["name"]: column_doc(column["name"], column.get("description") or "")
                for column in model.get("columns") or ()
            },
        )
    return out


def load_docs(paths: Iterable[Path]) -> dict[str, MartDoc]:
    docs: dict[str, MartDoc] = {}
    for path in sorted(paths):
        docs.update(parse_models(yaml.safe_load(Path(path).read_text(encoding="utf-8"))))
    return docs


@functools.cache
def mart_docs(directory: Path = MARTS_DOCS_DIR) -> dict[str, MartDoc]:
    """Every mart's docs from the YAML files in `directory` (empty when it is absent, e.g.
    an install without the dbt project: the snapshot's own comments are used then)."""
    directory = Path(directory)
    if not directory.is_dir():
        return {}
    return load_docs(directory.glob("*.yml"))


def column_units(columns: Iterable[str], docs: dict[str, MartDoc]) -> dict[str, str | None]:
    """The unit of each result column: the unit the mart docs give a column of that name
    (names mean the same in every mart), else the naming convention's."""
    documented: dict[str, str] = {}
    for mart in docs.values():
        for name, column in mart.columns.items():
            if column.unit:
                documented.setdefault(name, column.unit)
    return {name: documented.get(name) or unit_from_name(name) for name in columns}
