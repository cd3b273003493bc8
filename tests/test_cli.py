"""The CLI's own words: its help and its refusal of arguments."""

from __future__ import annotations

import pytest

from margin_wh import cli


@pytest.mark.parametrize("text, says", [
    ("2024-13-01", "'2024-13-01' is not a date"),
    ("2024-02-30", "'2024-02-30' is not a date"),
    ("2024/1/1", "expected a date as YYYY-MM-DD, got '2024/1/1'"),
])  # fmt: skip
def test_a_day_that_is_no_date_is_called_so(text, says, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["refresh", "--start", text, "--end", "2024-12-31"])
    assert exit_.value.code == 2
    assert says in capsys.readouterr().err


SUBCOMMANDS = ("refresh", "load-raw", "demo", "doctor", "replay", "ui", "dbt", "mcp")


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_has_a_description_and_shows_its_defaults(name, capsys):
    assert name in cli.build_parser().format_help()
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args([name, "--help"])
    usage, description, *_ = capsys.readouterr().out.split("\n\n")
    assert usage.startswith(f"usage: margin-wh {name}") and description.endswith("."), description
    if name == "ui":
        assert "(default: 3000)" in _[0]
