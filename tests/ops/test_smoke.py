"""`syston smoke` (and the ops commands) against a real `syston dev`: it passes on a fresh
data dir, and names the component when the worker or Temporal stops answering."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.cli import clean_environ
from tests.support.processes import DevStackRun, children_of

ROOT = Path(__file__).resolve().parents[2]


def syston(*args: str, data_dir: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "syston.cli", *args],
        env=clean_environ(data_dir),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def child_pid(run: DevStackRun, marker: bytes) -> int:
    for pid in children_of(run.process.pid):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker in argv:
            return pid
    raise AssertionError(f"no child with {marker!r} in its command line")


@contextmanager
def paused(pid: int) -> Iterator[None]:
    """SIGSTOP a component (it stays alive for the supervisor, but answers nothing)."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


@pytest.mark.slow
def test_smoke_passes_on_a_fresh_dev_stack_and_names_a_stopped_component(
    tmp_path: Path,
    dev_runs: list[DevStackRun],
) -> None:
    data_dir = tmp_path / "data"
    run = DevStackRun(tmp_path, data_dir)
    dev_runs.append(run)
    run.wait_until_ready()

    smoke = syston("smoke", "--url", run.api, "--timeout", "45", data_dir=data_dir, cwd=tmp_path)
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr + run.log()
    assert "✗" not in smoke.stdout
    assert smoke.stdout.count("✓") == 9, smoke.stdout
    assert "smoke passed" in smoke.stdout
    (tenant_id,) = re.findall(r"✓ signup pro — tenant (tenant_\S+)", smoke.stdout)

    # The ops commands find the dev secret and the dev log file on their own.
    status = syston("status", tenant_id, "--url", run.api, data_dir=data_dir, cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert status.stdout.splitlines()[0].endswith("pro  active")
    watch = syston(
        "status", tenant_id, "--watch", "--url", run.api, data_dir=data_dir, cwd=tmp_path
    )
    assert watch.returncode == 0 and f"{tenant_id} is active" in watch.stdout, watch.stdout
    requeue = syston("requeue", tenant_id, "--url", run.api, data_dir=data_dir, cwd=tmp_path)
    assert requeue.returncode == 0, requeue.stderr
    assert requeue.stdout.startswith(f"{tenant_id}: already_active")
    logs = syston("logs", "tenant", "--tenant", tenant_id, data_dir=data_dir, cwd=tmp_path)
    events = logs.stdout
    for event in ("signup_accepted", "tenant_provision_start", "tenant_provision_complete"):
        assert f'"event": "{event}"' in events, events

    # A worker that answers nothing: signups are accepted but no step ever starts.
    with paused(child_pid(run, b"worker")):
        stuck = syston("smoke", "--url", run.api, "--timeout", "5", data_dir=data_dir, cwd=tmp_path)
    assert stuck.returncode == 1, stuck.stdout
    assert "still processing after 5 s; no step has started" in stuck.stdout
    assert "is `syston worker` running" in stuck.stdout
    assert "smoke FAILED" in stuck.stdout

    # Temporal not answering: /ready says so, and smoke stops there.
    with paused(child_pid(run, b"start-dev")):
        down = syston("smoke", "--url", run.api, data_dir=data_dir, cwd=tmp_path)
    assert down.returncode == 1, down.stdout
    assert "✗ /ready: Temporal not reachable from the API per /ready" in down.stdout
    assert "signup" not in down.stdout

    run.process.send_signal(signal.SIGTERM)
    assert run.process.wait(timeout=60) == 0, run.log()

    # And with the API gone, smoke says the API is unreachable.
    gone = syston("smoke", "--url", run.api, data_dir=data_dir, cwd=tmp_path)
    assert gone.returncode == 1
    assert f"the API at {run.api} is unreachable" in gone.stdout


def test_smoke_script_is_a_wrapper_over_syston_smoke(tmp_path: Path) -> None:
    env = clean_environ(tmp_path) | {"SYSTON": str(Path(sys.executable).parent / "syston")}
    result = subprocess.run(
        [str(ROOT / "scripts" / "smoke-test.sh"), "--url", "http://127.0.0.1:9"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "✗ API reachable: /health: the API at http://127.0.0.1:9 is unreachable" in result.stdout
