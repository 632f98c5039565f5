"""Real processes for crash tests: register `python worker.py` runs in `worker_process` and
`syston api` runs in `api_process` (they are killed at teardown), and `dev_server`, a
Temporal dev server of the test's own on a database file that survives a kill
(tests/support/processes.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import free_port
from tests.support.processes import (
    REPO,
    START_TIMEOUT_SECONDS,
    ApiProcess,
    DevServer,
    KillableProcess,
    WorkerProcess,
    dump,
    settings_env,
)


@pytest.fixture
def worker_process(tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    """Register WorkerProcess objects here; they are killed at teardown."""
    workers: list[WorkerProcess] = []
    yield workers
    for worker in workers:
        worker.stop()


@pytest.fixture
def api_process() -> Iterator[list[ApiProcess]]:
    """Register ApiProcess objects here; they are killed at teardown."""
    apis: list[ApiProcess] = []
    yield apis
    for api in apis:
        api.stop()


@pytest.fixture
def dev_server(tmp_path: Path) -> Iterator[DevServer]:
    server = DevServer(db_filename=tmp_path / "temporal.db", port=free_port(), workdir=tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# Tests written against the old layout import these from here; new tests import them from
# tests.support.processes.
__all__ = [
    "REPO",
    "START_TIMEOUT_SECONDS",
    "DevServer",
    "KillableProcess",
    "WorkerProcess",
    "dump",
    "free_port",
    "settings_env",
]
