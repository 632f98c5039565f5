"""`syston logs` and `scripts/watch-logs.sh`: the runbook's filters, --pretty, and --follow
across appends, rotation and truncation."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from syston.cli.logfilter import matcher, parse, pretty
from tests.support.cli import clean_environ, run_syston

ROOT = Path(__file__).resolve().parents[2]
WAIT = 20.0  # seconds to wait for a followed line before failing


def line(event: str, **fields: Any) -> str:
    record = {
        "ts": "2025-01-05T12:00:01.234+00:00",
        "level": "info",
        "event": event,
        "request_id": "req-1",
        **fields,
    }
    return json.dumps(record) + "\n"


DENY = line("authz_deny", level="warning", reason="role_mismatch", route="/x", sub="u1")
SIGNUP = line("signup_accepted", tenant_id="tenant_a", email="j***@club.org")
REJECTED = line("signup_rejected", code="SLUG_TAKEN")
STEP = line("tenant_provision_step", tenant_id="tenant_a", step="create_sheet", status="running")
REQUEUE = line("provision_requeue", tenant_id="tenant_b", action="resumed")
HTTP_500 = line("http_request", route="/public/signup/start", status=503)
ERROR = json.dumps({"ts": "t", "level": "error", "event": "unhandled_error"}) + "\n"
ALL = [DENY, SIGNUP, REJECTED, STEP, REQUEUE, HTTP_500, ERROR, "plain text, not JSON\n"]


@pytest.mark.parametrize(
    ("kind", "tenant", "expected"),
    [
        ("deny", None, [DENY]),
        ("signup", None, [SIGNUP, REJECTED]),
        ("provision", None, [STEP, REQUEUE]),
        ("errors", None, [HTTP_500, ERROR]),
        ("tenant", "tenant_a", [SIGNUP, STEP]),
        ("provision", "tenant_b", [REQUEUE]),
    ],
)
def test_filters_pick_the_runbook_lines(kind: str, tenant: str | None, expected: list[str]) -> None:
    keep = matcher(kind, tenant)
    assert [raw for raw in ALL if (rec := parse(raw)) is not None and keep(rec)] == expected


def test_non_json_is_skipped_and_a_container_prefix_is_tolerated() -> None:
    assert parse("Traceback (most recent call last):") is None
    assert parse("[1, 2]") is None
    assert parse("api-1  | " + DENY)["reason"] == "role_mismatch"  # type: ignore[index]


def test_pretty_is_one_readable_line() -> None:
    text = pretty(json.loads(DENY))
    assert text == (
        "12:00:01.234 WARNING authz_deny  reason=role_mismatch route=/x sub=u1  [req req-1]"
    )


def test_prints_matching_lines_unchanged(tmp_path: Path) -> None:
    log = tmp_path / "syston.log"
    log.write_text("".join(ALL))
    result = run_syston("logs", "deny", str(log), env=clean_environ(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == DENY


def test_default_file_is_the_dev_log(tmp_path: Path) -> None:
    env = clean_environ(tmp_path / "data")
    (tmp_path / "data" / "logs").mkdir(parents=True)
    (tmp_path / "data" / "logs" / "syston.log").write_text("".join(ALL))
    result = run_syston("logs", "provision", env=env, cwd=tmp_path)
    assert result.stdout == STEP + REQUEUE
    result = run_syston("logs", "signup", "--pretty", env=env | {"LOG_FILE": "none"}, cwd=tmp_path)
    assert result.returncode == 1
    assert "no log file at none" in result.stderr


def test_tenant_filter_needs_a_tenant(tmp_path: Path) -> None:
    result = run_syston("logs", "tenant", "x.log", env=clean_environ(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert "--tenant" in result.stderr


class Follower:
    """A running command whose stdout lines arrive in a queue."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for text in self.process.stdout:
            self.lines.put(text)

    def next_line(self) -> str:
        try:
            return self.lines.get(timeout=WAIT)
        except queue.Empty:
            self.process.kill()
            _, err = self.process.communicate()
            pytest.fail(f"no line within {WAIT} s; stderr: {err}")

    def wait_until_open(self, path: Path) -> None:
        """Until the process has `path` open (it starts reading at the end, like tail -F)."""
        deadline = time.monotonic() + WAIT
        fds = Path(f"/proc/{self.process.pid}/fd")
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if any(os.readlink(fd) == str(path) for fd in fds.iterdir()):
                    return
            time.sleep(0.05)
        pytest.fail(f"the follower never opened {path}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def followers() -> Iterator[list[Follower]]:
    started: list[Follower] = []
    yield started
    for follower in started:
        if follower.process.poll() is None:
            follower.process.kill()
            follower.process.wait()


def append(path: Path, *texts: str) -> None:
    with path.open("a") as handle:
        handle.write("".join(texts))


def test_follow_shows_denials_as_they_happen_across_rotation_and_truncation(
    tmp_path: Path, followers: list[Follower]
) -> None:
    log = tmp_path / "syston.log"
    log.write_text(DENY.replace("role_mismatch", "old_line"))  # before the follow: not shown
    follower = Follower(
        [sys.executable, "-m", "syston.cli", "logs", "deny", "--follow", str(log)],
        clean_environ(tmp_path),
        tmp_path,
    )
    followers.append(follower)
    follower.wait_until_open(log)
    deny = [DENY.replace("role_mismatch", reason) for reason in ("r1", "r2", "r3", "r4")]
    # The follower starts at the end of the file; give it a line it must skip, then a denial.
    append(log, SIGNUP, deny[0])
    assert follower.next_line() == deny[0]
    append(log, STEP, deny[1])
    assert follower.next_line() == deny[1]

    log.rename(tmp_path / "syston.log.1")  # logrotate: move away, start a new file
    log.write_text(SIGNUP + deny[2])
    assert follower.next_line() == deny[2]

    log.write_text("")  # copytruncate
    append(log, deny[3])
    assert follower.next_line() == deny[3]
    follower.stop()
    assert follower.lines.empty()


def test_watch_logs_script_follows_one_tenant_readably(
    tmp_path: Path, followers: list[Follower]
) -> None:
    log = tmp_path / "syston.log"
    log.write_text("")
    env = clean_environ(tmp_path) | {
        "TENANT_ID": "tenant_a",
        "LOG_FILE": str(log),
        "SYSTON": str(Path(sys.executable).parent / "syston"),
        "PATH": os.environ["PATH"],
    }
    follower = Follower([str(ROOT / "scripts" / "watch-logs.sh"), "tenant"], env, tmp_path)
    followers.append(follower)
    follower.wait_until_open(log)
    append(log, REQUEUE, SIGNUP)
    text = follower.next_line()
    assert text.startswith("12:00:01.234 INFO  signup_accepted  tenant_id=tenant_a"), text
    follower.stop()


def test_all_is_the_same_as_no_filter(tmp_path: Path) -> None:
    # scripts/watch-logs.sh with no argument asks for `all`
    log = tmp_path / "syston.log"
    log.write_text("".join(ALL))
    env = clean_environ(tmp_path)
    everything = run_syston("logs", str(log), env=env, cwd=tmp_path)
    result = run_syston("logs", "all", str(log), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == everything.stdout and result.stdout
