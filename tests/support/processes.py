"""Real processes the tests start and kill: the worker as `python worker.py`, the API as
`syston api`, a Temporal dev server of the test's own on a database file that survives a kill
(and can be paused, to hold requests in flight), and a whole `syston dev`."""

from __future__ import annotations

import contextlib
import os
import pty
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from syston.cli.temporal_server import DevServerOptions, dev_server_command, wait_for_port
from syston.core.settings import Settings
from tests.support.cli import clean_environ, free_port, setting_env_names

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 30.0

_SETTING_NAMES = setting_env_names() | {"SYSTON_DATA_DIR"}


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a subprocess these settings (docs/configuration.md names)."""
    env = {k: v for k, v in os.environ.items() if k.upper() not in _SETTING_NAMES}
    values = {
        "DATABASE_URL": settings.effective_database_url,
        "TEMPORAL_ADDRESS": settings.temporal_address or "",
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
        "WEBHOOK_SIGNING_SECRET": (
            settings.webhook_signing_secret.get_secret_value()
            if settings.webhook_signing_secret
            else ""
        ),
        "UPSTREAM_TIMEOUT_SECONDS": str(settings.upstream_timeout_seconds),
        "SIGNUP_RATE_LIMIT": settings.signup_rate_limit,
        "PYTHONUNBUFFERED": "1",
    }
    env.update(values)
    return env


def dump(path: Path) -> str:
    return path.read_text(errors="replace")[-4000:] if path.exists() else ""


# -- the worker and the Temporal dev server (durability tests) -----------------------------------


class KillableProcess:
    """A child process the test can SIGKILL (no shutdown, nothing said to the server)."""

    process: subprocess.Popen[bytes] | None

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.resume()
            self.kill()

    def pause(self) -> None:
        """SIGSTOP: the process keeps its connections but answers nothing."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


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


@dataclass
class ApiProcess(KillableProcess):
    """`syston api` with the given settings on `port`; logs to a file in the test's tmp dir."""

    settings: Settings
    workdir: Path
    port: int
    runs: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / f"api-{self.runs}.log"

    def start(self) -> None:
        """Start it and wait until it listens."""
        assert self.process is None or self.process.poll() is not None
        self.runs += 1
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "syston.cli", "api", "--port", str(self.port)],
                cwd=self.workdir,
                env=settings_env(self.settings),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_for_port(
            "127.0.0.1",
            self.port,
            START_TIMEOUT_SECONDS,
            keep_waiting=lambda: self.process is not None and self.process.poll() is None,
        )


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


# -- `syston dev` (the whole stack as a developer runs it) ---------------------------------------


def children_of(pid: int) -> dict[int, int]:
    """Every live descendant of `pid` → its process group, read from /proc."""
    parents: dict[int, int] = {}
    groups: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat_line = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat_line.rsplit(")", 1)[1].split()
        parents[int(entry.name)] = int(fields[1])
        groups[int(entry.name)] = int(fields[2])
    found: dict[int, int] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                found[child] = groups[child]
                frontier.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def group_alive(pgid: int) -> bool:
    """True while any non-zombie process is in the group (an orphan's zombie may linger)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


class DevStackRun:
    """A `syston dev` subprocess on free ports, output to a file (through a pseudo-terminal
    with `terminal=True`, as a person running it in a shell would see it)."""

    def __init__(self, tmp_path: Path, data_dir: Path, terminal: bool = False) -> None:
        self.ports = {
            "--api-port": free_port(),
            "--temporal-port": free_port(),
            "--ui-port": free_port(),
            "--emulator-port": free_port(),
        }
        self.output = tmp_path / f"dev-{time.monotonic_ns()}.log"
        args = [a for flag, port in self.ports.items() for a in (flag, str(port))]
        argv = [sys.executable, "-m", "syston.cli", "dev", "--data-dir", str(data_dir), *args]
        if terminal:
            self.output.touch()  # the copying thread appends; reading may come first
            controller, tty = pty.openpty()
            self.process = subprocess.Popen(
                argv, env=clean_environ(data_dir), cwd=tmp_path, stdout=tty, stderr=tty
            )
            os.close(tty)
            threading.Thread(target=self._copy, args=(controller,), daemon=True).start()
            return
        with self.output.open("wb") as sink:
            self.process = subprocess.Popen(
                argv,
                env=clean_environ(data_dir),
                cwd=tmp_path,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )

    def _copy(self, controller: int) -> None:
        with self.output.open("ab") as sink, contextlib.suppress(OSError):
            while chunk := os.read(controller, 65536):  # EIO once the terminal closes
                sink.write(chunk)
                sink.flush()
        os.close(controller)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.ports['--api-port']}"

    def log(self) -> str:
        return self.output.read_text(errors="replace")

    def wait_until_ready(self, timeout: float = 180) -> None:
        """Until the banner is printed (every component up), or fail with the output."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"syston dev exited early:\n{self.log()}"
            if "Syston dev stack is up" in self.log():
                return
            time.sleep(0.25)
        pytest.fail(f"syston dev was not ready after {timeout} s:\n{self.log()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def kill_everything(self) -> None:
        """Kill whatever it left behind (only does anything when a test failed half-way)."""
        for pgid in set(children_of(self.process.pid).values()):
            if pgid != os.getpgid(0):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
        self.stop()
