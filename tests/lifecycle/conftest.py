"""Lifecycle fixtures: `db_stack`, the whole service on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.stack import Stack, StackBuilder


@pytest.fixture
async def db_stack(stack_builder: StackBuilder, database_url: str) -> AsyncIterator[Stack]:
    """`stack` on each database of `database_url` (SQLite and PostgreSQL), migrated and empty."""
    async with stack_builder.open(database_url) as stack:
        yield stack
