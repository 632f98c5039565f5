"""API fixtures: `db_stack` (the whole service on SQLite and on PostgreSQL) and `api_stack`
(the API alone)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.database import count, engine_of
from tests.support.stack import Stack, StackBuilder


@pytest.fixture
async def db_stack(stack_builder: StackBuilder, database_url: str) -> AsyncIterator[Stack]:
    """`stack` on each database of `database_url` (SQLite and PostgreSQL), migrated and empty."""
    async with stack_builder.open(database_url) as stack:
        yield stack


@pytest.fixture
async def api_stack(stack_builder: StackBuilder) -> AsyncIterator[Stack]:
    """The API on a migrated SQLite database, without a worker: signups start their workflows
    (on a task queue of their own) but none runs, so no test ends with provisioning mid-flight.
    For tests about what the API answers and stores, not about provisioning."""
    async with stack_builder.open(worker=False) as stack:
        yield stack


# Tests written against the old layout import these from here; new tests import them from
# tests.support.database.
__all__ = ["count", "engine_of"]
