"""`margin-wh`: run the warehouse from a terminal, through the same Dagster definitions as the UI.

    margin-wh doctor                                 call every akshare function once, check each
    margin-wh demo                                   the whole demo range, then a summary
    margin-wh refresh --start 2024-07-01 --end 2024-07-31
    margin-wh load-raw --start … --end …             raw datasets only, no dbt
    margin-wh replay                                 rebuild raw tables from the landing zone
    margin-wh ui                                     the Dagster UI on this warehouse
    margin-wh dbt -- build --select marts            dbt with the warehouse's settings
    margin-wh mcp [--http]                           the published snapshot for research agents (MCP)
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import warnings
from pathlib import Path

from margin_wh.config import DBT_PROJECT_DIR, MCP_HTTP_PORT, REPO_ROOT, Settings


def _date(text: str) -> dt.date:
    """A day as YYYY-MM-DD; a well-formed day that does not exist is said to be no date."""
    import re

    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}")
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError as error:  # 2024-13-01, 2024-02-30
        raise argparse.ArgumentTypeError(f"{text!r} is not a date ({error})") from None


class _ShowDefaults(argparse.HelpFormatter):
    """Each option's default after its help, where it has one worth saying."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" in text or not action.option_strings:
            return text
        if action.default in (None, False, argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)"


def _subcommand(sub, name: str, summary: str):
    """A subcommand whose help shows its description and its options' defaults."""
    return sub.add_parser(name, help=summary, description=summary[:1].upper() + summary[1:] + ".",
                          formatter_class=_ShowDefaults)  # fmt: skip


def _console():
    """A rich console; piped to a file or a log, wide enough for the tables."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=120)


# A live refresh prints its plan (per dataset and host) first; one expected to take
# longer than this also says that it commits as it goes and resumes.
LONG_REFRESH_S = 120


def _print_cost(settings: Settings, start: dt.date, end: dt.date, refetch: bool) -> float:
    """Print what the refresh will call, per dataset and host; return the expected seconds."""
    from margin_wh.raw.cost import cost_table
    from orchestration.runner import estimate_refresh

    costs, notes = estimate_refresh(settings, start, end, refetch)
    console = _console()
    console.print(cost_table(costs, f"refresh {start} .. {end} ({settings.source})"))
    for note in notes:
        console.print(f"  * {note}", highlight=False)
    return sum(c.expected_s for c in costs)


def _refresh(
    settings: Settings, start: dt.date, end: dt.date, raw_only: bool, refetch: bool = False,
    verbose: bool = False,
):
    from orchestration.instance import get_instance
    from orchestration.runner import refresh

    settings.ensure_dirs()
    label = "SYNTHETIC demo source" if settings.source == "demo" else "live akshare source"
    print(f"Refreshing {settings.db_path} from the {label}, {start} .. {end}")
    if settings.source == "akshare" and _print_cost(settings, start, end, refetch) > LONG_REFRESH_S:
        print("A long refresh: it commits as it goes, and a re-run resumes where it stopped.")
    return refresh(settings, start, end, get_instance(), raw_only=raw_only, refetch=refetch,
                   dbt_log_to_stdout=verbose)


def cmd_refresh(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if args.end < args.start:
        print(f"error: --end {args.end} is before --start {args.start}", file=sys.stderr)
        return 2
    if args.dry_run:
        _print_cost(settings, args.start, args.end, args.refetch)
        print("dry run: no call was made")
        return 0
    try:
        result = _refresh(settings, args.start, args.end, raw_only=args.raw_only, refetch=args.refetch,
                          verbose=args.verbose)
    finally:  # set aside whether or not the run failed for another reason
        _print_missing_symbols(settings)
    days = "1 trading day" if result.trading_days == 1 else f"{result.trading_days} trading days"
    print(f"Loaded {days}, {result.first_day} .. {result.last_day}.")
    return 0


def _print_missing_symbols(settings: Settings) -> None:
    from margin_wh.raw.load import missing_symbol_lines

    lines = missing_symbol_lines(settings.db_path)
    if lines:
        print(f"{len(lines)} symbol(s) could not be loaded and were set aside (the next refresh "
              "asks for them again):")  # fmt: skip
        for line in lines:
            print(f"  {line}")


def cmd_load_raw(args: argparse.Namespace) -> int:
    args.raw_only = True
    return cmd_refresh(args)


def cmd_demo(args: argparse.Namespace) -> int:
    from margin_wh.summary import print_summary

    settings = Settings.from_env()
    if settings.source != "demo":
        raise SystemExit("`margin-wh demo` runs on the demo source; unset MARGIN_WH_SOURCE")
    _refresh(settings, settings.history_start, settings.demo_end, raw_only=False, verbose=args.verbose)
    print_summary(settings)
    print_published(settings)
    return 0


def print_published(settings: Settings) -> None:
    from margin_wh.publish.parquet import parquet_dir
    from margin_wh.publish.report import REPORT_NAME
    from margin_wh.publish.snapshot import snapshot_path

    print(f"Warehouse (the one writer):     {settings.db_path}")
    print(f"Snapshot for BI (read-only):    {snapshot_path(settings.publish_dir)}")
    print(f"Parquet exports + manifest:     {parquet_dir(settings.publish_dir)}")
    print(f"Report (open in a browser):     file://{settings.publish_dir / REPORT_NAME}")


def cmd_replay(args: argparse.Namespace) -> int:
    import duckdb

    from margin_wh.raw.landed_calendar import load_calendar
    from margin_wh.raw.load import replay_all
    from margin_wh.sources.datasets import DATASETS
    from orchestration.runner import ensure_warehouse_free, warehouse_claimed

    settings = Settings.from_env()
    calendar = load_calendar(settings.landing_dir)
    if not calendar:
        raise SystemExit(f"no trading calendar in {settings.landing_dir}: nothing to replay")
    ensure_warehouse_free(settings)
    # a replay writes every raw table: never beside a refresh's run
    with warehouse_claimed(settings), duckdb.connect(str(settings.db_path)) as con:
        datasets = list(DATASETS.values())
        results = replay_all(con, datasets, calendar, settings.landing_dir)
    for dataset, result in zip(datasets, results, strict=True):
        print(f"raw.{dataset.function}: {result.rows_written} rows from {result.files} files")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from margin_wh.calendar import SHANGHAI, horizon_note, shanghai_today
    from margin_wh.sources import get_source
    from margin_wh.sources.akshare_source import FUNCTION_HOSTS
    from margin_wh.sources.doctor import findings_table, run_doctor

    settings = Settings.from_env()
    console = _console()
    source = get_source(settings)
    if settings.source == "demo":
        console.print("note: MARGIN_WH_SOURCE is demo: checking the SYNTHETIC demo source; "
                      "set MARGIN_WH_SOURCE=akshare to check the live one")  # fmt: skip
    # the Beijing clock decides which day is published (T-2 before ~09:00, T-1 after)
    now = dt.datetime.now(SHANGHAI) if args.today is None else args.today
    today = args.today or shanghai_today()

    def progress(finding) -> None:
        state = "ok" if finding.ok else "FAIL"
        console.print(f"  {finding.call}: {state} ({finding.seconds:.1f} s)", highlight=False)

    findings = run_doctor(source, now, FUNCTION_HOSTS, progress)
    console.print(findings_table(findings))
    last_day = next((f.last_day for f in findings if f.last_day), None)
    if last_day:
        # the demo market's clock stops at its last day, as its refreshes' does
        clock = min(today, settings.demo_end) if settings.source == "demo" else today
        note, warn = horizon_note(last_day, clock)
        console.print(f"[yellow]warning:[/] {note}" if warn else note, highlight=False)
    failed = [f for f in findings if not f.ok]
    for f in findings:
        if f.detail:
            console.print(f"[bold]{f.function}[/]: {f.detail}", highlight=False)
    if failed and all(f.no_network for f in failed):
        console.print(f"[red]no network[/]: none of the {len(failed)} calls could resolve its "
                      "host's name; check this machine's network and DNS, then run doctor again")  # fmt: skip
        return 1
    if failed:
        console.print(f"[red]{len(failed)} of {len(findings)} functions failed[/]: "
                      f"{', '.join(f.function for f in failed)}")  # fmt: skip
        return 1
    console.print(f"[green]all {len(findings)} functions answer as the contract expects[/]")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    from orchestration.instance import dagster_home

    home = dagster_home()
    print(f"Dagster UI on http://127.0.0.1:{args.port} (DAGSTER_HOME={home})")
    print("Stop it with Ctrl-C, or `kill` this process: the webserver, the daemon and the code "
          "server stop with it.", flush=True)  # fmt: skip
    command = [
        os.path.join(os.path.dirname(sys.executable), "dagster"), "dev",
        "-m", "orchestration.definitions", "-h", "127.0.0.1", "-p", str(args.port),
    ]
    # This process becomes `dagster dev`, so a signal sent to it reaches the one process
    # that stops the webserver, the daemon and the code server it started. dagster dev
    # stops on SIGTERM by giving it SIGINT's handler, which a shell leaves ignored for a
    # command started in the background: both are made to act again before the exec.
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.chdir(REPO_ROOT)
    # Dagster 1.13 marks `dagster dev` superseded by `dg dev`, which needs the dg project
    # tooling (dagster-dg-cli) this project does not use; `dagster dev` is still Dagster's
    # documented way to run a code location locally, so its notice is not shown.
    warning = "ignore:Function `dev_command` is superseded"
    warnings = ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"), warning]))
    os.execve(command[0], command, {**os.environ, "DAGSTER_HOME": str(home), "PYTHONWARNINGS": warnings})




def cmd_dbt(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    dbt = os.path.join(os.path.dirname(sys.executable), "dbt")
    dbt_args = args.dbt_args[1:] if args.dbt_args[:1] == ["--"] else args.dbt_args
    return subprocess.call(
        [dbt, *dbt_args, "--profiles-dir", str(DBT_PROJECT_DIR)],
        cwd=DBT_PROJECT_DIR,
        env=settings.dbt_env(),
    )


def cmd_mcp(args: argparse.Namespace) -> int:
    from margin_wh.read.mcp_server import serve

    serve(args.snapshot, http=args.http, port=args.port)
    return 0


VERBOSE_HELP = "also print dbt's own log, a line per model and test (always in dbt.log beside the warehouse)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="margin-wh", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    for name, func, help_text in (
        ("refresh", cmd_refresh, "load raw datasets for trading days in a range, then build the models"),
        ("load-raw", cmd_load_raw, "load raw datasets for trading days in a range (no dbt)"),
    ):
        p = _subcommand(sub, name, help_text)
        p.add_argument("--start", type=_date, required=True, help="first day, YYYY-MM-DD")
        p.add_argument("--end", type=_date, required=True, help="last day, YYYY-MM-DD")
        if name == "refresh":
            p.add_argument("--raw-only", action="store_true", help="skip the dbt models")
        p.add_argument("--refetch", action="store_true",
                       help="make every call again, even those an earlier run landed")
        p.add_argument("--dry-run", action="store_true",
                       help="print the calls per dataset and host and the expected time; call nothing")  # fmt: skip
        p.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
        p.set_defaults(func=func)

    p = _subcommand(sub, "demo", "refresh the whole demo market and print a summary")
    p.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    p.set_defaults(func=cmd_demo)
    p = _subcommand(sub, "doctor", "call every akshare function once and check it against the contract")
    p.add_argument("--today", type=_date, help="as if run on this day (default: today in Shanghai)")
    p.set_defaults(func=cmd_doctor)
    _subcommand(sub, "replay", "rebuild every raw table from the landing zone, no calls (all or none)").set_defaults(func=cmd_replay)
    p = _subcommand(sub, "ui", "open the Dagster UI on this warehouse")
    p.add_argument("--port", type=int, default=3000, help="the UI's port on 127.0.0.1")
    p.set_defaults(func=cmd_ui)
    p = _subcommand(sub, "dbt", "run dbt with the warehouse's settings, e.g. margin-wh dbt -- test")
    p.add_argument("dbt_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_dbt)
    p = _subcommand(sub, "mcp", "serve the published snapshot to research agents (Model Context Protocol)")
    p.add_argument("--snapshot", type=Path,
                   help="the snapshot file (default: margin_warehouse.duckdb in this warehouse's publish directory)")  # fmt: skip
    p.add_argument("--http", action="store_true",
                   help="streamable HTTP on 127.0.0.1 (at /mcp) instead of stdio")  # fmt: skip
    p.add_argument("--port", type=int, default=MCP_HTTP_PORT, help="the HTTP port (with --http)")
    # An MCP client waits for the server to start: it reads the snapshot, never Dagster.
    p.set_defaults(func=cmd_mcp, uses_dagster=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "uses_dagster", True):
        # BackfillPolicy and pools are marked beta in Dagster 1.13; we pin the version.
        import dagster

        warnings.filterwarnings("ignore", category=dagster.BetaWarning)
        warnings.filterwarnings("ignore", category=dagster.PreviewWarning)
    try:
        return args.func(args)
    except Exception as error:  # a clear last line for the operator; details above it
        from orchestration.runner import RefreshError

        if isinstance(error, RefreshError):
            print(f"error: {error}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
