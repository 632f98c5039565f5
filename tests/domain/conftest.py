"""Domain fixtures: a migrated SQLite database per test (no Temporal, no HTTP), the signup
service and the intake on it with a Temporal stand-in, and the stores."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from syston.core.engine import create_engine, sessionmaker
from syston.intake import ProvisionIntake
from syston.provisioning_store import ProvisioningStore
from syston.signup import SignupService
from syston.tokens import TokenService
from tests.support.domain import (
    Sessions,
    TemporalStandIn,
    fresh_copy,
    migrated_sqlite_template,
)


@pytest.fixture(scope="session")
async def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrated once per session; each test gets a copy."""
    return await migrated_sqlite_template(tmp_path_factory.mktemp("schema"))


@pytest.fixture
async def engine(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh, migrated, empty SQLite database."""
    engine = create_engine(fresh_copy(sqlite_template, tmp_path))
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> Sessions:
    return sessionmaker(engine)


@pytest.fixture
def temporal() -> TemporalStandIn:
    return TemporalStandIn()


@pytest.fixture
def intake(sessions: Sessions, temporal: TemporalStandIn) -> ProvisionIntake:
    """The intake as the API and the worker build it, starting runs on the stand-in."""
    return ProvisionIntake(sessions, temporal)  # type: ignore[arg-type]


@pytest.fixture
def signups(sessions: Sessions, intake: ProvisionIntake, tokens: TokenService) -> SignupService:
    """The signup service as the API builds it, starting its runs on the stand-in."""
    return SignupService(sessions, intake, tokens)


@pytest.fixture
def store(sessions: Sessions) -> ProvisioningStore:
    return ProvisioningStore(sessions)
