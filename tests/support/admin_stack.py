"""`admin_stack`: the service in-process with an injectable DNS resolver (for the webhook URL
policy), an optional worker, any database and settings overrides. Import the fixtures from a
test module (`from tests.support.admin_stack import admin_stack  # noqa: F401`)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from temporalio.client import Client

from api.app import create_app
from syston.core.db import create_engine
from syston.migrations import migrate_engine
from syston.tokens import TokenService
from tests.conftest import TEST_SECRET, Stack, make_settings, running_worker
from tests.support.emulator_server import RunningEmulator

PUBLIC_ADDRESS = "52.29.10.20"  # globally routable; never connected to by these tests


@dataclass
class FakeResolver:
    """`async (host) -> addresses` from a table; unknown hosts resolve to a public address."""

    answers: dict[str, list[str]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    async def __call__(self, host: str) -> list[str]:
        self.asked.append(host)
        return list(self.answers.get(host, [PUBLIC_ADDRESS]))


@dataclass
class AdminStack(Stack):
    app: FastAPI | None = None
    resolver: FakeResolver = field(default_factory=FakeResolver)

    def token(self, **claims: Any) -> str:
        """A token signed with the test secret, with exactly these claims over admin defaults."""
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": self.settings.jwt_issuer,
            "aud": "syston-admin",
            "sub": "admin-test",
            "iat": now,
            "exp": now + 600,
            "roles": ["admin"],
            "jti": f"jti-{now}-{id(claims)}",
        }
        body.update(claims)
        return jwt.encode(body, TEST_SECRET, algorithm="HS256")

    async def tenant(self, slug: str, plan: str = "starter") -> tuple[str, str]:
        """Sign a club up: (tenant id, its tenant token)."""
        response = await self.signup(slug, plan)
        assert response.status_code == 202, response.text
        body = response.json()
        return body["tenantId"], body["jwt"]


StartStack = Callable[..., AbstractAsyncContextManager[AdminStack]]


@pytest.fixture
async def start_admin_stack(
    temporal_client: Client,
    emulator: RunningEmulator,
    service_account_key: dict[str, Any],
    tmp_path: Path,
) -> AsyncIterator[StartStack]:
    """`async with start_admin_stack(database_url=..., worker=False, **settings) as stack:`."""

    @asynccontextmanager
    async def start(
        database_url: str | None = None, *, worker: bool = False, **overrides: Any
    ) -> AsyncIterator[AdminStack]:
        url = database_url or f"sqlite+aiosqlite:///{tmp_path / 'admin.db'}"
        settings = make_settings(
            url,
            emulator,
            service_account_key,
            temporal_client.service_client.config.target_host,
            **overrides,
        )
        if database_url is None:
            engine = create_engine(url)
            await migrate_engine(engine)
            await engine.dispose()
        resolver = FakeResolver()
        app = create_app(settings, temporal_client=temporal_client, webhook_resolver=resolver)
        async with AsyncExitStack() as inner:
            if worker:
                await inner.enter_async_context(running_worker(settings, temporal_client))
            await inner.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50000))
            api = await inner.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url="http://testserver")
            )
            yield AdminStack(
                settings=settings,
                api=api,
                client=temporal_client,
                emulator=emulator,
                tokens=TokenService(settings.jwt_secrets, settings.jwt_issuer),
                app=app,
                resolver=resolver,
            )

    yield start


@pytest.fixture
async def admin_stack(start_admin_stack: StartStack) -> AsyncIterator[AdminStack]:
    """SQLite, no worker (tenants stay `processing`), fake DNS."""
    async with start_admin_stack() as stack:
        yield stack
