"""What `syston dev` prints: readiness lines, and children's lines prefixed and readable."""

from __future__ import annotations

import io
import json
import logging
import threading
from pathlib import Path

import pytest

from syston.cli.dev_output import Relay, readable, ready_line, wait_for_event
from syston.core import logs

pytestmark = pytest.mark.fast

LINE = json.dumps(
    {
        "ts": "2030-01-01T12:00:01.234+00:00",
        "level": "info",
        "event": "signup_accepted",
        "request_id": "req-1",
        "component": "api",
        "tenant_id": "tenant_abc",
    }
)


def test_json_lines_become_readable_and_other_lines_stay() -> None:
    assert readable(LINE + "\n") == (
        "12:00:01.234 INFO  signup_accepted  tenant_id=tenant_abc  [req req-1]"
    )
    assert readable("INFO:     Started server process [42]\n") == (
        "INFO:     Started server process [42]"
    )


def test_a_relay_prefixes_every_line_with_the_component() -> None:
    out = io.StringIO()
    stream = io.BytesIO(f"{LINE}\nplain text\n".encode())
    relay = Relay("api", stream, out).start()
    relay.thread.join(5)
    assert out.getvalue().splitlines() == [
        "api       | 12:00:01.234 INFO  signup_accepted  tenant_id=tenant_abc  [req req-1]",
        "api       | plain text",
    ]


def test_ready_lines_say_how_long_it_took() -> None:
    assert ready_line("api", 2.345, "http://127.0.0.1:8000") == (
        "api        ready in 2.3 s  http://127.0.0.1:8000"
    )


def test_waiting_for_an_event_in_the_log_file(tmp_path: Path) -> None:
    log = tmp_path / "syston.log"
    log.write_text('{"event": "worker_started"}\n')  # an earlier run's line
    offset = log.stat().st_size
    assert not wait_for_event(log, offset, "worker_started", lambda: True, timeout=0.3)
    timer = threading.Timer(0.2, lambda: log.open("a").write('{"event": "worker_started"}\n'))
    timer.start()
    assert wait_for_event(log, offset, "worker_started", lambda: True, timeout=5)
    timer.join()
    assert not wait_for_event(log, offset + 100, "worker_started", lambda: False, timeout=5)


def test_every_json_line_names_its_component() -> None:
    record = logging.LogRecord("syston", logging.INFO, "", 0, "x", None, None)
    record.event = "worker_started"
    try:
        logs.set_component("worker")
        rendered = json.loads(logs.JsonFormatter().format(record))
    finally:
        logs.set_component(logs.DEFAULT_COMPONENT)
    assert rendered["component"] == "worker"
    assert list(rendered)[:5] == ["ts", "level", "event", "request_id", "component"]
