"""A team deployment, tested (docs/deploy.md): Dagster's storage on a real PostgreSQL
server, and the scheduled path under the real `dagster-daemon`.

One module, one warehouse, one daemon (each daemon start and each run loads the code
location: seconds of CPU): the module's instance is the team template (deploy/dagster.yaml)
on a PostgreSQL server that pgserver starts from its wheel, or, where that server cannot
run, our SQLite template: the PostgreSQL test is then skipped with the reason and the
daemon test still runs.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from margin_wh.config import REPO_ROOT, Settings
from orchestration.assets.publish import SNAPSHOT_KEY
from orchestration.assets.raw import raw_key
from orchestration.instance import PG_URL_VARIABLE, ensure_home, instance_yaml
from orchestration.schedules import AFTER_FAILED_RUN_TAG, DECISION_TAG, RUN_RETRIES
from tests.conftest import make_settings
from tests.daemon_location import TEST_SCHEDULE

REFRESHED = (dt.date(2024, 7, 3), dt.date(2024, 7, 3))  # the in-process refresh
CLOCK_DAY = dt.date(2024, 7, 5)  # the test clock's Friday: its 09:30 run loads Thursday
SCHEDULED_DAY = dt.date(2024, 7, 4)
FAILING_DATASET = "futures_hist_daily_cffex"


def test_the_team_template_is_ours_with_postgresql_storage():
    """deploy/dagster.yaml is what a home created with MARGIN_WH_DAGSTER_PG_URL set gets:
    our settings, storage from that variable."""
    shipped = (REPO_ROOT / "deploy" / "dagster.yaml").read_text()
    assert shipped == instance_yaml(postgres=True), "regenerate deploy/dagster.yaml (docs/deploy.md)"
    team, solo = yaml.safe_load(shipped), yaml.safe_load(instance_yaml(postgres=False))
    assert team.pop("storage") == {"postgres": {"postgres_url": {"env": PG_URL_VARIABLE}}}
    assert team == solo and "storage" not in solo


def test_a_home_gets_the_template_its_environment_chooses_and_keeps_its_own(tmp_path):
    solo = ensure_home(tmp_path / "solo", env={})
    team = ensure_home(tmp_path / "team", env={PG_URL_VARIABLE: "postgresql://db/dagster"})
    assert (solo / "dagster.yaml").read_text() == instance_yaml(postgres=False)
    assert (team / "dagster.yaml").read_text() == instance_yaml(postgres=True)
    (solo / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")  # the user's own
    ensure_home(solo, env={PG_URL_VARIABLE: "postgresql://db/dagster"})
    assert (solo / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"


def start_postgres():
    """A PostgreSQL server from pgserver's wheel (its own binaries, a Unix socket: no
    port to collide on), or the reason it cannot run here. Its data directory is deleted
    when it stops."""
    try:
        import pgserver
    except ImportError as error:  # pgserver has wheels for Linux and macOS only
        return None, f"pgserver is not installed ({error})"
    # Not under pytest's temporary directories: run as root, pgserver runs the server as
    # a system user `pgserver` (created with useradd if missing), which must traverse the
    # data directory's parents, and pytest makes its own root private again (0700) when
    # any pytest starts.
    data = tempfile.mkdtemp(prefix="margin-wh-pg-")
    try:
        return pgserver.get_server(data, cleanup_mode="delete"), None
    except Exception as error:  # noqa: BLE001 - any reason is printed as the skip reason
        shutil.rmtree(data, ignore_errors=True)
        return None, f"pgserver could not start a PostgreSQL server here: {error!r}"


@dataclass
class Deployment:
    settings: Settings
    env: dict[str, str]  # what every Dagster process of the deployment is started with
    home: Path  # DAGSTER_HOME
    control: Path  # MARGIN_WH_TEST_CONTROL (tests/daemon_location.py)
    pg_url: str | None
    pg_skip_reason: str | None
    instance: dg.DagsterInstance
    refresh_run_ids: tuple[str, ...]
    processes: list[subprocess.Popen] = field(default_factory=list)  # code server, daemon


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    from orchestration.runner import refresh

    root = tmp_path_factory.mktemp("deploy")
    server, pg_skip_reason = start_postgres()
    # the history starts with the refreshed day: the morning's run loads one day, as
    # every earlier registered day is loaded
    settings = make_settings(root, MARGIN_WH_HISTORY_START=REFRESHED[0].isoformat())
    control = root / "control"
    control.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if k != PG_URL_VARIABLE},  # not the user's
        "MARGIN_WH_DB": str(settings.db_path),
        "MARGIN_WH_LANDING": str(settings.landing_dir),
        "MARGIN_WH_PUBLISH": str(settings.publish_dir),
        "MARGIN_WH_SOURCE": "demo",
        "MARGIN_WH_HISTORY_START": settings.history_start.isoformat(),
        "MARGIN_WH_DEMO_END": settings.demo_end.isoformat(),
        "MARGIN_WH_DEMO_SECURITIES": str(settings.demo_securities),
        "DAGSTER_HOME": str(root / "dagster"),
        "MARGIN_WH_TEST_CONTROL": str(control),
        "PYTHONPATH": str(REPO_ROOT),
    }
    if server:
        # SQLAlchemy 2.1 reads postgresql:// as psycopg 3's; dagster-postgres brings psycopg2
        env[PG_URL_VARIABLE] = server.get_uri().replace("postgresql://", "postgresql+psycopg2://", 1)
    home = ensure_home(root / "dagster", env)
    config = yaml.safe_load((home / "dagster.yaml").read_text())
    config["run_monitoring"]["poll_interval_seconds"] = 1  # the daemon's checks, for the test
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(home))
        patch.delenv(PG_URL_VARIABLE, raising=False)
        if server:
            patch.setenv(PG_URL_VARIABLE, env[PG_URL_VARIABLE])
        instance = dg.DagsterInstance.get()
        deployment = Deployment(settings, env, home, control, env.get(PG_URL_VARIABLE),
                                pg_skip_reason, instance, ())  # fmt: skip
        # The code location starts, as a separate process (docs/deploy.md), and the daemon
        # on it once it serves, while the warehouse is refreshed: the daemon's minute
        # ticks of the test schedule have begun, waiting for the test to set its clock.
        socket = root / "code.sock"
        (root / "workspace.yaml").write_text(yaml.safe_dump({"load_from": [{"grpc_server": {
            "socket": str(socket), "location_name": "margin_warehouse"}}]}))  # fmt: skip
        bin_dir, log = Path(sys.executable).parent, (root / "daemon.log").open("w")

        def start(*command):  # a program of this environment's bin/, or a path
            deployment.processes.append(subprocess.Popen(
                [str(bin_dir / command[0]), *map(str, command[1:])], env=env, cwd=REPO_ROOT,
                start_new_session=True, stdout=log, stderr=subprocess.STDOUT))  # fmt: skip

        start("dagster", "code-server", "start", "-m", "tests.daemon_location", "-s", socket)
        # the daemon waits for the code server's socket in a shell of its own
        start("/bin/sh", "-c", 'while [ ! -S "$0" ]; do sleep 0.2; done; exec "$1" run -w "$2"',
              socket, bin_dir / "dagster-daemon", root / "workspace.yaml")  # fmt: skip
        try:
            # not published: the failure sensor's follow-up run publishes (and is checked to)
            deployment.refresh_run_ids = refresh(settings, *REFRESHED, instance, publish=False).run_ids
            wait_for(deployment, "code location server", socket.exists, 120)
            yield deployment
        finally:
            # each with the processes it started (a code server asked to stop waits for
            # its runs to end); the instance is thrown away
            for process in deployment.processes:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            instance.dispose()
            if server:
                server.cleanup()


READ_BACK = """
import json, sys
import dagster as dg
instance = dg.DagsterInstance.get()
runs = {}
for run_id in sys.argv[1:]:
    run = instance.get_run_by_id(run_id)
    checks = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    runs[run_id] = {
        "status": run.status.value,
        "events": len(instance.all_logs(run_id)),
        "checks": sorted({(e.dagster_event.event_specific_data.asset_check_key.to_user_string(),
                           e.dagster_event.event_specific_data.passed) for e in checks}),
    }
print(json.dumps({"storage": type(instance.run_storage).__name__, "runs": runs}))
"""


# both on one xdist worker, so the deployment (a refresh, a server, a daemon) is made once
@pytest.mark.xdist_group("deployment")
def test_a_refresh_stored_in_postgresql_is_read_back_by_another_process(deployment):
    """The refresh's runs, their events and their asset checks, written by this process
    into PostgreSQL, as a second process (a reader on another machine) finds them."""
    if deployment.pg_url is None:
        pytest.skip(deployment.pg_skip_reason)
    instance, run_ids = deployment.instance, deployment.refresh_run_ids
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    reader = subprocess.run([sys.executable, "-c", READ_BACK, *run_ids], env=deployment.env,
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert reader.returncode == 0, reader.stderr
    seen = json.loads(reader.stdout.strip().splitlines()[-1])
    assert seen["storage"] == "PostgresRunStorage"
    for run_id in run_ids:
        checks = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
        assert seen["runs"][run_id] == {
            "status": "SUCCESS",
            "events": len(instance.all_logs(run_id)),
            "checks": [list(c) for c in sorted({
                (e.dagster_event.event_specific_data.asset_check_key.to_user_string(),
                 e.dagster_event.event_specific_data.passed) for e in checks})],
        }  # fmt: skip
    assert any(seen["runs"][r]["checks"] for r in run_ids), "the refresh ran no asset check"
    # and the rows are in the server, not in a file beside DAGSTER_HOME
    import psycopg2

    with psycopg2.connect(deployment.pg_url.replace("+psycopg2", "", 1)) as con, con.cursor() as cursor:
        cursor.execute("select run_id from runs")
        assert set(run_ids) <= {row[0] for row in cursor.fetchall()}
    assert not list(deployment.home.rglob("*.db"))


def wait_for(deployment, what: str, found, timeout_s: float):
    """`found()` once it is truthy, polled every half second; a timeout fails the test
    with the daemon's last log lines."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        for process in deployment.processes:
            assert process.poll() is None, f"{process.args} exited:\n" + daemon_log(deployment)
        time.sleep(0.5)
    pytest.fail(f"no {what} within {timeout_s:.0f} s; the daemon's log ends:\n" + daemon_log(deployment))


def daemon_log(deployment) -> str:
    return "\n".join((deployment.home.parent / "daemon.log").read_text().splitlines()[-40:])


def worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The process running the run, as the run's worker reports it when it starts."""
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        match = re.search(r"Started process for run \(pid: (\d+)\)", record.message or "")
        if match:
            return int(match.group(1))
    return None


def ended(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRun | None:
    run = instance.get_run_by_id(run_id)
    return run if run.is_finished else None


@pytest.mark.xdist_group("deployment")
def test_the_daemon_runs_the_schedule_fails_a_killed_run_and_spares_an_outage(deployment):
    """Under the real dagster-daemon: the daily schedule's tick launches the morning's
    run; its worker, killed, leaves the run marked failed (by the code location's server
    that started it: Dagster's default run launcher gives run monitoring no worker to
    check) and the daemon retries it; with CFFEX down, the retries fail, and the failure
    sensor's follow-up run builds and publishes what the outage spares."""
    import psutil

    instance, control = deployment.instance, deployment.control
    (control / "clock").write_text(CLOCK_DAY.isoformat())

    def scheduled_runs():  # launched by a tick (a retry keeps its run's tags)
        runs = instance.get_runs(dg.RunsFilter(tags={"dagster/schedule_name": TEST_SCHEDULE}))
        return [r for r in runs if "dagster/parent_run_id" not in r.tags]

    # one tick a minute, after the daemon has loaded the code location
    run = wait_for(deployment, "scheduled run", scheduled_runs, 240)[-1]
    assert run.tags["dagster/partition"] == SCHEDULED_DAY.isoformat()
    assert run.tags[DECISION_TAG].startswith(f"loading {SCHEDULED_DAY}, the trading day before {CLOCK_DAY}")
    assert run.tags["dagster/max_retries"] == str(RUN_RETRIES)

    pid = wait_for(deployment, "run worker", lambda: worker_pid(instance, run.run_id), 240)
    (control / "outage").write_text(FAILING_DATASET)  # from now on, CFFEX is down
    worker = psutil.Process(pid)
    for process in [*worker.children(recursive=True), worker]:
        process.kill()
    killed = wait_for(deployment, "end of the killed run", lambda: ended(instance, run.run_id), 60)
    assert killed.status == dg.DagsterRunStatus.FAILURE
    said = [r.message for r in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)]
    assert any(f"Run execution process for {run.run_id}" in m and "signal 9" in m for m in said), said

    def rest_of_a_run():
        return [r for r in instance.get_runs() if AFTER_FAILED_RUN_TAG in r.tags]

    rest = wait_for(deployment, "follow-up run of the failure sensor", rest_of_a_run, 420)[-1]
    retries = instance.get_runs(dg.RunsFilter(tags={"dagster/root_run_id": run.run_id}))
    assert sorted(r.tags["dagster/retry_number"] for r in retries) == ["1", "2"]
    assert all(r.status == dg.DagsterRunStatus.FAILURE for r in retries)
    last = next(r for r in retries if r.tags["dagster/retry_number"] == str(RUN_RETRIES))
    assert rest.tags[AFTER_FAILED_RUN_TAG] == last.run_id  # the sensor waited for the last retry
    failure = instance.all_logs(last.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    assert any(FAILING_DATASET in str(r.dagster_event.event_specific_data.error) for r in failure)

    rest = wait_for(deployment, "end of the follow-up run", lambda: ended(instance, rest.run_id), 300)
    assert rest.status == dg.DagsterRunStatus.SUCCESS
    assert raw_key(FAILING_DATASET) not in rest.asset_selection and SNAPSHOT_KEY in rest.asset_selection
    with duckdb.connect(str(deployment.settings.db_path), read_only=True) as con:
        def last_day(table: str) -> dt.date:
            return con.execute(f"select max(trade_date) from marts.{table}").fetchone()[0]

        assert last_day("fct_balance_to_float") == SCHEDULED_DAY  # the margin marts are current
        assert last_day("fct_index_futures_basis") == REFRESHED[1]  # kept its last good state
    assert len(scheduled_runs()) == 1  # one tick of the test clock, one run
