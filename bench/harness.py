"""What every benchmark shares: the stack under test, its processes, and the load helpers.

`Stack` starts `syston dev` (Temporal dev server, emulators, migrations, worker, API as separate
processes) in a temporary data dir on free ports, on SQLite or on a fresh PostgreSQL database,
and finds its children by role so a benchmark can read their CPU time and memory from /proc.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ROLES = ("api", "worker", "emulators", "temporal")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def bounded(concurrency: int, jobs: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    gate = asyncio.Semaphore(concurrency)

    async def run(job: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await job()

    return await asyncio.gather(*(run(j) for j in jobs))


async def wait_http(url: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.3)
    raise SystemExit(f"{url} did not become ready within {timeout:.0f} s")


# -- /proc -------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (and of its reaped children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # fields[0] is the state (field 3): utime is field 14, stime 15, cutime 16, cstime 17
    return sum(int(v) for v in fields[11:15]) / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(p) for p in (task / "children").read_text().split()]
    return found


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


# -- the stack ---------------------------------------------------------------------------------


@dataclass
class Stack:
    """`syston dev` on free ports in a temporary data dir; `database` is sqlite or postgresql."""

    database: str = "sqlite"
    log_level: str = "WARNING"
    extra_env: dict[str, str] = field(default_factory=dict)
    log_statements: bool = False  # PostgreSQL: log every statement (bench/statements.py)
    data_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="syston-bench-")))
    ports: dict[str, int] = field(
        default_factory=lambda: {n: free_port() for n in ("api", "temporal", "ui", "emulator")}
    )
    pids: dict[str, int] = field(default_factory=dict)
    _dev: subprocess.Popen[bytes] | None = None
    _pg_name: str | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    @property
    def temporal(self) -> str:
        return f"127.0.0.1:{self.ports['temporal']}"

    @property
    def emulator(self) -> str:
        return f"http://127.0.0.1:{self.ports['emulator']}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SYSTON_", "JWT_"))}
        env.pop("DATABASE_URL", None)
        env.update(SIGNUP_RATE_LIMIT="0", LOG_LEVEL=self.log_level, **self.extra_env)
        env["SYSTON_DATA_DIR"] = str(self.data_dir)
        if self._pg_name is not None:
            env["DATABASE_URL"] = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{self._pg_name}"
        return env

    async def start(self) -> Stack:
        if self.database == "postgresql":
            self._pg_name = f"syston_bench_{uuid.uuid4().hex[:8]}"
            _pg_admin(f'CREATE DATABASE "{self._pg_name}"')
            if self.log_statements:
                _pg_admin(f"ALTER DATABASE \"{self._pg_name}\" SET log_statement = 'all'")
        argv = [sys.executable, "-m", "syston.cli", "dev", "--data-dir", str(self.data_dir)]
        for name in ("api", "temporal", "ui", "emulator"):
            argv += [f"--{name}-port", str(self.ports[name])]
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with (self.data_dir / "dev-output.log").open("wb") as output:
            self._dev = subprocess.Popen(
                argv, cwd=ROOT, env=self.env(), stdout=output, stderr=subprocess.STDOUT
            )
        try:
            await wait_http(f"{self.api}/health")
        except SystemExit:
            tail = (self.data_dir / "dev-output.log").read_text(errors="replace")[-3000:]
            self.stop()
            raise SystemExit(f"syston dev did not come up; its last output:\n{tail}") from None
        await asyncio.sleep(1.0)  # the worker announces itself after the API's health
        self.pids = self._find_roles()
        return self

    def _find_roles(self) -> dict[str, int]:
        assert self._dev is not None
        roles: dict[str, int] = {}
        for child in _children(self._dev.pid):
            cmd = _cmdline(child)
            for role in ROLES:
                if f"syston.cli {role}" in cmd or (
                    role == "temporal" and "server start-dev" in cmd
                ):
                    roles[role] = child
        missing = [r for r in ROLES if r not in roles]
        if missing:
            raise SystemExit(f"could not find the stack's {', '.join(missing)} process")
        return roles

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by each role (and by this benchmark process)."""
        usage = {role: cpu_seconds(pid) for role, pid in self.pids.items()}
        usage["bench"] = time.process_time()
        return usage

    def rss(self) -> dict[str, int]:
        return {role: rss_bytes(pid) for role, pid in self.pids.items()}

    def syston(self, *args: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "syston.cli", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            env=self.env(),
        ).stdout.strip()

    def worker_env(self) -> dict[str, str]:
        """The worker's environment (the emulator endpoints and dev key `syston dev` chose)."""
        return environ_of(self.pids["worker"])

    def database_bytes(self) -> int:
        if self._pg_name is not None:
            return int(_pg_admin(f"SELECT pg_database_size('{self._pg_name}')"))
        return sum(p.stat().st_size for p in self.data_dir.glob("syston.db*") if p.is_file())

    def transactions(self) -> int | None:
        """Committed + rolled-back transactions in our database (PostgreSQL only)."""
        if self._pg_name is None:
            return None
        return int(
            _pg_admin(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database "
                f"WHERE datname = '{self._pg_name}'"
            )
        )

    async def emulator_requests(self) -> int:
        async with httpx.AsyncClient() as http:
            state = (await http.get(f"{self.emulator}/_emulator/state")).json()
        return sum(int(n) for n in state.get("requests", {}).values())

    def stop(self) -> None:
        if self._dev is not None:
            self._dev.send_signal(signal.SIGTERM)
            try:
                self._dev.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._dev.kill()
            self._dev = None
        if self._pg_name is not None:
            with contextlib.suppress(subprocess.CalledProcessError):
                _pg_admin(f'DROP DATABASE IF EXISTS "{self._pg_name}" WITH (FORCE)')


@contextlib.contextmanager
def spawned(argv: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(argv, cwd=ROOT, env=env)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def _pg_admin(sql: str) -> str:
    return subprocess.run(
        ["psql", PG_ADMIN_URL, "-XAtq", "-c", sql],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
