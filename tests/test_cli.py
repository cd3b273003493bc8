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


def test_margin_wh_ui_stops_with_everything_it_started_on_sigterm(tmp_path):
    """`kill <pid>` of `margin-wh ui`, started in the background as a service would be:
    the webserver, the daemon and the code server stop with it."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    with socket.socket() as probe:  # a free port on loopback
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path / "ui.log"
    env = {**os.environ, "MARGIN_WH_HOME": str(tmp_path / "home")}
    env.pop("DAGSTER_HOME", None)
    with log.open("w") as out:
        ui = subprocess.Popen(
            [str(Path(sys.executable).with_name("margin-wh")), "ui", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # as `cmd &` does
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while "Serving dagster-webserver" not in log.read_text() and time.monotonic() < deadline:
            assert ui.poll() is None, log.read_text()
            time.sleep(0.5)
        assert "Serving dagster-webserver" in log.read_text(), log.read_text()
        assert "Warning" not in log.read_text(), log.read_text()  # e.g. no SupersessionWarning
        # dagster dev keeps its runs in the warehouse's Dagster home, not a temporary one.
        assert (tmp_path / "home" / "dagster" / "history" / "runs.db").exists(), log.read_text()
        group = os.getpgid(ui.pid)
        ui.send_signal(signal.SIGTERM)
        ui.wait(timeout=60)
        deadline = time.monotonic() + 30
        while _processes_in_group(group) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not _processes_in_group(group), _processes_in_group(group)
    finally:
        if ui.poll() is None:
            os.killpg(os.getpgid(ui.pid), signal.SIGKILL)


def _processes_in_group(group: int) -> list[str]:
    """The command lines of the live processes of a process group (from /proc)."""
    import os
    from pathlib import Path

    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != group:
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            if state != "Z":
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:120])
        except (OSError, ProcessLookupError):
            continue
    return found
