"""Databases for tests: a throw-away PostgreSQL database, emptying one, and looking at (or
seeding) what the service stored through an engine of the test's own."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from syston.core.db import Base
from syston.core.engine import create_engine

if TYPE_CHECKING:
    from tests.support.stack import Stack

PG_ADMIN_DSN = os.environ.get("SYSTON_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A new database on the local PostgreSQL, dropped after; its SQLAlchemy URL."""
    name = f"syston_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:  # pragma: no cover - CI starts PostgreSQL
        pytest.fail(f"PostgreSQL at {PG_ADMIN_DSN} is not reachable: {exc}")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        yield f"{base}/{name}"
    finally:
        admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def truncate_all(engine: AsyncEngine) -> None:
    """Empty every table (PostgreSQL), keeping the schema."""
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {names} CASCADE"))


@asynccontextmanager
async def engine_on(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@asynccontextmanager
async def engine_of(stack: Stack) -> AsyncIterator[AsyncEngine]:
    """A separate engine on the stack's database, to look at (or seed) what the API stored."""
    async with engine_on(stack.settings.effective_database_url) as engine:
        yield engine


async def count(engine: AsyncEngine, model: Any, *where: Any) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(model).where(*where)) or 0)
