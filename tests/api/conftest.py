"""API fixtures: `db_stack`, the whole service in-process on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from syston.core.db import create_engine
from tests.conftest import Stack, make_settings, migrate, open_stack
from tests.support.emulator_server import RunningEmulator


@pytest.fixture
async def db_stack(
    temporal_client: Client,
    emulator: RunningEmulator,
    service_account_key: dict[str, Any],
    database_url: str,
) -> AsyncIterator[Stack]:
    """`stack` on each database of `database_url` (SQLite and PostgreSQL), migrated and empty."""
    settings = make_settings(
        database_url,
        emulator,
        service_account_key,
        temporal_client.service_client.config.target_host,
    )
    async with open_stack(settings, temporal_client, emulator) as stack:
        yield stack


@pytest.fixture
async def api_stack(
    temporal_client: Client,
    emulator: RunningEmulator,
    service_account_key: dict[str, Any],
    sqlite_url: str,
) -> AsyncIterator[Stack]:
    """The API on a migrated SQLite database, without a worker: signups start their workflows
    (on a task queue of their own) but none runs, so no test ends with provisioning mid-flight.
    For tests about what the API answers and stores, not about provisioning."""
    settings = make_settings(
        sqlite_url,
        emulator,
        service_account_key,
        temporal_client.service_client.config.target_host,
    )
    await migrate(sqlite_url)
    async with open_stack(settings, temporal_client, emulator, worker=False) as stack:
        yield stack


@asynccontextmanager
async def engine_of(stack: Stack) -> AsyncIterator[AsyncEngine]:
    """A separate engine on the stack's database, to look at (or seed) what the API stored."""
    engine = create_engine(stack.settings.effective_database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def count(engine: AsyncEngine, model: Any, *where: Any) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(model).where(*where)) or 0)
