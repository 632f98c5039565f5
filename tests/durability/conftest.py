"""Real processes for crash tests: the worker as `python worker.py` (killable with SIGKILL)
and a Temporal dev server of the test's own, on a database file that survives a kill."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from syston.cli.temporal_server import DevServerOptions, dev_server_command, wait_for_port
from syston.core.settings import Settings

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 30.0


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a subprocess these settings (docs/configuration.md names)."""
    env = {k: v for k, v in os.environ.items() if k.upper() not in _SETTING_NAMES}
    values = {
        "DATABASE_URL": settings.effective_database_url,
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
        "JWT_SECRET": settings.jwt_secret.get_secret_value() if settings.jwt_secret else "",
        "GOOGLE_SERVICE_ACCOUNT_KEY": (
            settings.google_service_account_key.get_secret_value()
            if settings.google_service_account_key
            else ""
        ),
        "GOOGLE_API_ENDPOINT": settings.google_api_endpoint or "",
        "GOOGLE_DRIVE_FOLDER_ID": settings.google_drive_folder_id or "",
        "MAKE_WEBHOOK_URL": settings.make_webhook_url or "",
        "UPSTREAM_TIMEOUT_SECONDS": str(settings.upstream_timeout_seconds),
        "PYTHONUNBUFFERED": "1",
    }
    env.update(values)
    return env


_SETTING_NAMES = {name.upper() for name in Settings.model_fields} | {"SYSTON_DATA_DIR"}


class KillableProcess:
    """A child process the test can SIGKILL (no shutdown, nothing said to the server)."""

    process: subprocess.Popen[bytes] | None

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()


@dataclass
class WorkerProcess(KillableProcess):
    """`python worker.py` with the given settings; logs to a file in the test's tmp dir."""

    settings: Settings
    workdir: Path
    runs: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def log(self) -> Path:
        return self.workdir / f"worker-{self.runs}.log"

    def start(self) -> None:
        """Start it and wait until it polls the task queue (its `worker_started` line)."""
        assert self.process is None or self.process.poll() is not None
        self.runs += 1
        with self.log.open("wb") as out:
            # cwd is the tmp dir: a developer's .env must not leak into the worker
            self.process = subprocess.Popen(
                [sys.executable, str(REPO / "worker.py")],
                cwd=self.workdir,
                env=settings_env(self.settings),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while b'"worker_started"' not in self.log.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"worker did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.05)


@pytest.fixture
def worker_process(tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    """Register WorkerProcess objects here; they are killed at teardown."""
    workers: list[WorkerProcess] = []
    yield workers
    for worker in workers:
        worker.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class DevServer(KillableProcess):
    """Our own `temporal server start-dev` on a SQLite file, restartable on the same port."""

    db_filename: Path
    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None
    runs: int = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.runs += 1
        options = DevServerOptions(db_filename=self.db_filename, port=self.port, headless=True)
        argv = dev_server_command(options)
        with (self.workdir / f"temporal-{self.runs}.log").open("wb") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        wait_for_port(
            "127.0.0.1",
            self.port,
            START_TIMEOUT_SECONDS,
            keep_waiting=lambda: self.process is not None and self.process.poll() is None,
        )


@pytest.fixture
def dev_server(tmp_path: Path) -> Iterator[DevServer]:
    server = DevServer(db_filename=tmp_path / "temporal.db", port=free_port(), workdir=tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def dump(path: Path) -> str:
    return path.read_text(errors="replace")[-4000:] if path.exists() else ""
