"""`syston dev`: local defaults, refusal of taken ports, and (slow) the whole stack up and down."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import time
from pathlib import Path

import httpx
import pytest

from syston.cli.dev_plan import QUIET_WORKER_START, DevOptions, DevStackError, plan_dev_stack
from syston.cli.devstack import Child, DevStack
from syston.cli.temporal_server import port_is_free
from tests.support.cli import clean_environ, free_port, run_syston
from tests.support.processes import DevStackRun, alive, children_of, group_alive

SECRET = "k" * 40


def test_missing_settings_get_local_defaults_and_are_announced(tmp_path: Path) -> None:
    env = clean_environ(tmp_path / "data")
    plan = plan_dev_stack(DevOptions(emulator_port=18099, temporal_port=17999), env)
    data = (tmp_path / "data").resolve()
    assert plan.emulators
    assert plan.env["DATABASE_URL"] == f"sqlite+aiosqlite:///{data / 'syston.db'}"
    assert plan.env["TEMPORAL_ADDRESS"] == "127.0.0.1:17999"
    assert plan.env["GOOGLE_API_ENDPOINT"] == "http://127.0.0.1:18099"
    assert plan.env["GOOGLE_DRIVE_FOLDER_ID"] == "dev-folder"
    assert plan.env["GAS_WEBAPP_URL"] == "http://127.0.0.1:18099/gas/exec"
    assert plan.env["MAKE_WEBHOOK_URL"] == "http://127.0.0.1:18099/make/hooks/dev"
    assert plan.env["LOG_FILE"] == str(data / "logs" / "syston.log")
    key = json.loads(Path(plan.env["GOOGLE_SERVICE_ACCOUNT_KEY"]).read_text())
    assert key["token_uri"] == "http://127.0.0.1:18099/token"
    secret_file = data / "jwt_secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert plan.env["JWT_SECRET"] == secret_file.read_text().strip()
    assert len(plan.env["JWT_SECRET"].encode()) >= 32
    signing_file = data / "webhook_signing_secret"
    assert stat.S_IMODE(signing_file.stat().st_mode) == 0o600
    assert plan.env["WEBHOOK_SIGNING_SECRET"] == signing_file.read_text().strip()
    assert plan.env["WEBHOOK_SIGNING_SECRET"].startswith("whsec_")
    notes = "\n".join(plan.notes)
    for name in (
        "JWT_SECRET",
        "WEBHOOK_SIGNING_SECRET",
        "DATABASE_URL",
        "Google",
        "MAKE_WEBHOOK_URL",
        "LOG_FILE",
    ):
        assert name in notes


@pytest.mark.parametrize("level", ["WARNING", "error"])
def test_a_worker_whose_log_level_hides_its_ready_line_counts_as_up_while_it_runs(
    tmp_path: Path, level: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # LOG_LEVEL=WARNING used to stop the whole stack after 90 s: `worker_started` is an info
    # line, and the supervisor waited for it.
    env = clean_environ(tmp_path / "data") | {"LOG_LEVEL": level}
    plan = plan_dev_stack(DevOptions(), env)
    assert plan.log_level == level.upper()
    stack = DevStack(DevOptions(), plan)
    sleeper = Child("worker", ["sleep", "60"])
    sleeper.start(os.environ.copy())
    try:
        started = time.monotonic()
        stack.wait_for_worker(sleeper, 0)  # nothing is ever logged
        assert time.monotonic() - started < QUIET_WORKER_START + 5
    finally:
        sleeper.signal_group(signal.SIGKILL)
    assert "worker     ready" in capsys.readouterr().err


def test_a_worker_that_dies_at_a_quiet_log_level_is_an_error(tmp_path: Path) -> None:
    plan = plan_dev_stack(DevOptions(), clean_environ(tmp_path / "data") | {"LOG_LEVEL": "WARNING"})
    quitter = Child("worker", ["sh", "-c", "exit 3"])
    quitter.start(os.environ.copy())
    with pytest.raises(DevStackError, match="worker"):
        DevStack(DevOptions(), plan).wait_for_worker(quitter, 0)


def test_a_restart_reuses_the_generated_secret_and_key(tmp_path: Path) -> None:
    env = clean_environ(tmp_path / "data")
    first = plan_dev_stack(DevOptions(), dict(env))
    key_path = Path(first.env["GOOGLE_SERVICE_ACCOUNT_KEY"])
    key_before = json.loads(key_path.read_text())["private_key"]
    second = plan_dev_stack(DevOptions(), dict(env))
    assert second.env["JWT_SECRET"] == first.env["JWT_SECRET"]
    assert second.env["WEBHOOK_SIGNING_SECRET"] == first.env["WEBHOOK_SIGNING_SECRET"]
    assert json.loads(key_path.read_text())["private_key"] == key_before


def test_given_settings_are_kept(tmp_path: Path) -> None:
    env = clean_environ(tmp_path / "data") | {
        "JWT_SECRET": SECRET,
        "DATABASE_URL": "postgresql+asyncpg://u:p@127.0.0.1/syston",
        "GOOGLE_SERVICE_ACCOUNT_KEY": "/keys/real.json",
        "MAKE_WEBHOOK_URL": "https://hook.eu1.make.com/abc",
        "TEMPORAL_API_KEY": "cloud-key",
    }
    plan = plan_dev_stack(DevOptions(), env)
    assert not plan.emulators
    assert plan.env["JWT_SECRET"] == SECRET
    assert plan.env["DATABASE_URL"].startswith("postgresql")
    assert plan.env["GOOGLE_SERVICE_ACCOUNT_KEY"] == "/keys/real.json"
    assert "GOOGLE_API_ENDPOINT" not in plan.env
    assert "TEMPORAL_API_KEY" not in plan.env  # the dev stack's own Temporal takes no key
    assert not (tmp_path / "data" / "jwt_secret").exists()


def test_invalid_settings_are_a_dev_stack_error(tmp_path: Path) -> None:
    env = clean_environ(tmp_path / "data") | {"JWT_SECRET": "short"}
    with pytest.raises(DevStackError, match="JWT_SECRET") as error:
        plan_dev_stack(DevOptions(), env)
    assert error.value.exit_code == 2


def test_a_taken_port_is_refused_naming_the_flag(tmp_path: Path) -> None:
    env = clean_environ(tmp_path / "data")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_syston(
            "dev",
            "--api-port",
            str(port),
            "--temporal-port",
            str(free_port()),
            "--ui-port",
            str(free_port()),
            "--emulator-port",
            str(free_port()),
            env=env,
            cwd=tmp_path,
        )
    assert result.returncode == 2
    assert f"port {port}" in result.stderr
    assert "--api-port" in result.stderr
    assert "Traceback" not in result.stderr


# -- the whole stack (slow) ----------------------------------------------------------------------


def _assert_all_gone(run: DevStackRun, children: dict[int, int]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(pid) for pid in children):
        time.sleep(0.1)
    assert [pid for pid in children if alive(pid)] == [], run.log()
    own_group = os.getpgid(0)
    assert [g for g in set(children.values()) if g != own_group and group_alive(g)] == []
    for flag, port in run.ports.items():
        assert port_is_free("127.0.0.1", port), f"{flag} {port} still taken\n{run.log()}"


def _assert_readable_output(run: DevStackRun, data_dir: Path) -> None:
    """On a terminal: a ready line per component with its time, the children's lines
    prefixed and readable; the log file keeps the JSON, each line naming its component."""
    output = run.log()
    for name in ("migrate", "temporal", "emulators", "api", "worker"):
        assert re.search(rf"syston dev: {name} +ready in \d+\.\d s", output), (name, output)
    deadline = time.monotonic() + 10
    while "api       | " not in run.log() and time.monotonic() < deadline:
        time.sleep(0.2)  # the API's first line may come after the ready line
    prefixed = [line for line in run.log().splitlines() if line.startswith("api       | ")]
    assert prefixed, output
    assert not any(line.split(" | ", 1)[1].lstrip().startswith("{") for line in prefixed)
    logged = [json.loads(x) for x in (data_dir / "logs" / "syston.log").read_text().splitlines()]
    components = {record["component"] for record in logged}
    assert {"api", "worker"} <= components, components
    assert any(r["event"] == "worker_started" and r["component"] == "worker" for r in logged)


@pytest.mark.slow
def test_syston_dev_starts_everything_and_sigterm_stops_everything(
    tmp_path: Path, dev_runs: list[DevStackRun]
) -> None:
    data_dir = tmp_path / "data"
    run = DevStackRun(tmp_path, data_dir, terminal=True)
    dev_runs.append(run)
    run.wait_until_ready()

    assert httpx.get(f"{run.api}/health", timeout=10).json() == {"ok": True}
    _assert_readable_output(run, data_dir)
    assert not port_is_free("127.0.0.1", run.ports["--temporal-port"])
    assert not port_is_free("127.0.0.1", run.ports["--ui-port"])
    assert not port_is_free("127.0.0.1", run.ports["--emulator-port"])
    banner = run.log()
    assert f"http://localhost:{run.ports['--ui-port']}" in banner
    assert "export ADMIN_TOKEN=ey" in banner
    admin = banner.split("export ADMIN_TOKEN=")[1].split()[0]
    whoami = httpx.get(f"{run.api}/whoami", headers={"Authorization": f"Bearer {admin}"})
    assert whoami.status_code == 200, whoami.text
    assert whoami.json()["aud"] == "syston-admin"

    children = children_of(run.process.pid)
    assert len(children) >= 4, children  # temporal, emulators, worker, api
    run.process.send_signal(signal.SIGTERM)
    assert run.process.wait(timeout=60) == 0, run.log()
    _assert_all_gone(run, children)
    assert (data_dir / "temporal.db").is_file()
    assert (data_dir / "syston.db").is_file()


@pytest.mark.slow
def test_syston_dev_resumes_and_stops_when_a_child_dies(
    tmp_path: Path, dev_runs: list[DevStackRun]
) -> None:
    data_dir = tmp_path / "data"
    first = DevStackRun(tmp_path, data_dir)
    dev_runs.append(first)
    first.wait_until_ready()
    secret = (data_dir / "jwt_secret").read_text()
    first.process.send_signal(signal.SIGINT)  # Ctrl-C
    assert first.process.wait(timeout=60) == 0, first.log()

    second = DevStackRun(tmp_path, data_dir)  # same data dir: resumes
    dev_runs.append(second)
    second.wait_until_ready()
    assert (data_dir / "jwt_secret").read_text() == secret
    assert "using a local one" in second.log()

    children = children_of(second.process.pid)
    worker = next(
        pid
        for pid in children
        if Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[-2:-1] == [b"worker"]
    )
    os.kill(worker, signal.SIGKILL)
    assert second.process.wait(timeout=60) == 1, second.log()
    assert "worker" in second.log().split("exited unexpectedly")[0].splitlines()[-1]
    _assert_all_gone(second, children)


@pytest.mark.slow
def test_a_killed_supervisor_takes_its_children_with_it(
    tmp_path: Path, dev_runs: list[DevStackRun]
) -> None:
    run = DevStackRun(tmp_path, tmp_path / "data")
    dev_runs.append(run)
    run.wait_until_ready()
    children = children_of(run.process.pid)
    run.process.kill()  # SIGKILL: no chance to clean up; the kernel tells the children
    run.process.wait(timeout=10)
    _assert_all_gone(run, children)
