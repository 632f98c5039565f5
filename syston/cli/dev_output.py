"""What `syston dev` shows while it runs.

- One line per component as it becomes ready, with the time it took:
  `syston dev: api        ready in 2.1 s  http://127.0.0.1:8000`.
- On a terminal, every child's output through a `Relay`: each line prefixed with the component
  and JSON log lines made readable (`api       | 12:00:01.234 INFO  signup_accepted …`). The JSON
  itself stays in the log file the children write. Off a terminal (CI, a pipe, a file) the
  children write straight to this process's stdout, JSON as it is.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from syston.cli.dev_plan import BANNER_TOKEN_TTL, HOST, DevOptions, DevPlan
from syston.cli.logfilter import parse, pretty

PREFIX_WIDTH = 9  # "emulators"
READY_POLL_SECONDS = 0.2


def readable(line: str) -> str:
    """A child's output line as shown on the terminal (its component is the prefix)."""
    record = parse(line)
    if record is None or "event" not in record:
        return line.rstrip("\r\n")
    record.pop("component", None)
    return pretty(record)


class Relay:
    """Copies one child's output to `out`, prefixed, a line at a time, from a daemon thread."""

    _lock = threading.Lock()  # one writer at a time across all relays

    def __init__(self, name: str, stream: IO[bytes], out: IO[str] | None = None) -> None:
        self.name = name
        self.stream = stream
        self.out = out or sys.stdout
        self.thread = threading.Thread(target=self._copy, name=f"relay-{name}", daemon=True)

    def start(self) -> Relay:
        self.thread.start()
        return self

    def _copy(self) -> None:
        with contextlib.suppress(ValueError, OSError):  # the stream closed under us
            for raw in iter(self.stream.readline, b""):
                text = readable(raw.decode("utf-8", errors="replace"))
                with self._lock:
                    self.out.write(f"{self.name:<{PREFIX_WIDTH}} | {text}\n")
                    self.out.flush()


def prefixing_wanted(stream: IO[str] | None = None) -> bool:
    """Relay (prefix and prettify) the children's output only when a person is watching."""
    stream = stream or sys.stdout
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def ready_line(name: str, seconds: float, detail: str = "") -> str:
    line = f"{name:<10} ready in {seconds:.1f} s"
    return f"{line}  {detail}" if detail else line


class Stopwatch:
    """Seconds since each component was started."""

    def __init__(self) -> None:
        self._started: dict[str, float] = {}

    def start(self, name: str) -> None:
        self._started[name] = time.monotonic()

    def seconds(self, name: str) -> float:
        return time.monotonic() - self._started.get(name, time.monotonic())


def log_offset(log_file: Path) -> int:
    """Where new lines will start in the log file (0 when it does not exist yet)."""
    try:
        return log_file.stat().st_size
    except FileNotFoundError:
        return 0


def wait_for_event(
    log_file: Path,
    offset: int,
    event: str,
    keep_waiting: Callable[[], bool],
    timeout: float,
) -> bool:
    """True once a JSON line with `event` appears in the log file after `offset`; False when
    `keep_waiting()` turns false or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    needle = f'"event": "{event}"'
    while keep_waiting() and time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError):
            with log_file.open("rb") as handle:
                handle.seek(offset)
                if needle.encode() in handle.read():
                    return True
        time.sleep(READY_POLL_SECONDS)
    return False


def banner(options: DevOptions, plan: DevPlan) -> str:
    """What `syston dev` prints once everything is up: URLs, tokens, a first request."""
    from syston.tokens import TokenService

    o = options
    env = plan.env
    api = f"http://{HOST}:{o.api_port}"
    tokens = TokenService([env["JWT_SECRET"].encode()], env.get("JWT_ISSUER", "syston.app"))
    admin = tokens.issue_admin("dev-admin", ttl=BANNER_TOKEN_TTL)
    service = tokens.issue_service("dev-service", ttl=BANNER_TOKEN_TTL)
    lines = [
        "",
        f"Syston dev stack is up (state in {plan.data_dir})",
        f"  API            {api}",
        f"  API docs       {api}/docs",
        f"  Temporal UI    http://localhost:{o.ui_port}",
        f"  Temporal gRPC  {env['TEMPORAL_ADDRESS']}",
    ]
    if plan.emulators:
        lines.append(f"  Emulators      http://{HOST}:{o.emulator_port}/_emulator/state")
    lines += [
        f"  Log file       {env['LOG_FILE']}",
        "",
        "Tokens (valid 12 h; mint more with `syston token admin|service|tenant ID`):",
        f"  export ADMIN_TOKEN={admin}",
        f"  export SERVICE_TOKEN={service}",
        "",
        "Try it:",
        f"  curl -s {api}/public/signup/start -H 'Content-Type: application/json' \\",
        '    -d \'{"clubName": "Syston Town", "clubSlug": "syston-town", '
        '"email": "owner@example.com", "plan": "pro"}\'',
        f"  curl -s {api}/api/v1/tenants/TENANT_ID/provision-status "
        '-H "Authorization: Bearer $ADMIN_TOKEN"',
        "",
        "Ctrl-C stops everything; `syston dev` again resumes where it stopped.",
        "",
    ]
    return "\n".join(lines)
