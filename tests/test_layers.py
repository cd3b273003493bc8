"""Data flows down the layers, and so do imports: no module of margin_wh/ or
orchestration/ imports one of a higher layer (issue #32). Read from the source with
`ast`, so it costs no import and sees the imports inside functions too.

A module that no row of LAYERS names fails here, so a new module is given its place.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("margin_wh", "orchestration")

# Lowest first. A module may import its own layer and the ones below it; the longest
# prefix that matches a module's dotted name gives its layer.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # Settings, trading-day arithmetic, durations as text, leftovers of killed processes.
    ("base", ("margin_wh", "margin_wh.config", "margin_wh.calendar", "margin_wh.durations",
              "margin_wh.leftovers")),
    # The akshare calls, the demo market, their contract and the parsing of a frame.
    ("sources", ("margin_wh.sources",)),
    # Loading frames into DuckDB's raw tables, and the landing zone.
    ("raw", ("margin_wh.raw",)),
    # What the dbt models' YAML says of the marts (the dbt layer has no Python of its own):
    # the publication reads the marts' grains from it, the readers their units.
    ("dbt", ("margin_wh.mart_docs",)),
    ("publish", ("margin_wh.publish",)),
    # The reader interfaces: the Python API, the MCP server, the questions behind both.
    ("read", ("margin_wh.read",)),
    ("orchestration", ("orchestration",)),
    # The command line drives everything; `margin-wh demo` prints its summary.
    ("cli", ("margin_wh.cli", "margin_wh.summary")),
)
RANK = {prefix: rank for rank, (_, prefixes) in enumerate(LAYERS) for prefix in prefixes}


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        if end == 1 and len(parts) > 1 and parts[0] == "margin_wh":
            return None  # the package's own __init__ is base, not all it holds
        rank = RANK.get(".".join(parts[:end]))
        if rank is not None:
            return rank
    return None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """The project modules `path` imports, absolute and relative, anywhere in the file."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from margin_wh.read import questions` imports a module, not a name.
            out.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in out if name.split(".")[0] in PACKAGES}


def product_modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (REPO / package).rglob("*.py"))


def upward_imports(paths: list[Path]) -> list[str]:
    arrows = []
    for path in paths:
        module = module_name(path)
        own = layer_of(module)
        for target in sorted(imported(path)):
            theirs = layer_of(target)
            if own is not None and theirs is not None and theirs > own:
                arrows.append(f"{module} ({LAYERS[own][0]}) -> {target} ({LAYERS[theirs][0]})")
    return arrows


def test_every_module_has_a_layer():
    unplaced = [module_name(p) for p in product_modules() if layer_of(module_name(p)) is None]
    assert unplaced == []


def test_no_module_imports_a_higher_layer():
    assert upward_imports(product_modules()) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from margin_wh.raw.landing import read_landed", {"margin_wh.raw.landing.read_landed"}),
        ("import orchestration.runner", {"orchestration.runner"}),
        ("def f():\n    from ..raw import load", {"margin_wh.raw.load"}),
        ("import pandas\nfrom dagster import asset", set()),
    ],
)
def test_imports_are_read_as_written(tmp_path, monkeypatch, source, expected):
    """The check sees absolute, relative and function-level imports, and only ours."""
    module = tmp_path / "margin_wh" / "sources" / "probe.py"
    module.parent.mkdir(parents=True)
    module.write_text(source, encoding="utf-8")
    monkeypatch.setitem(globals(), "REPO", tmp_path)
    assert imported(module) == expected


def test_an_upward_import_is_named(tmp_path, monkeypatch):
    module = tmp_path / "margin_wh" / "calendar.py"
    module.parent.mkdir(parents=True)
    module.write_text("from margin_wh.config import Settings\nfrom margin_wh.raw import landing\n")
    monkeypatch.setitem(globals(), "REPO", tmp_path)
    assert upward_imports([module]) == ["margin_wh.calendar (base) -> margin_wh.raw.landing (raw)"]
