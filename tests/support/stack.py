"""The service in-process, built one way for every test: `open_stack()` wires the worker, the
API app and an httpx client on it; `StackBuilder` adds the test's settings and database.

    builder = StackBuilder(temporal_client, emulator, service_account_key, tmp_path)
    async with builder.open() as stack:  # a migrated SQLite file, a worker, the API
        ...
    async with builder.open(database_url, worker=False) as stack:  # a migrated database
    async with builder.open(resolver=FakeResolver(), request_ids=True, metrics=WorkerMetrics(),
                            log_file=path) as stack:  # as in production

Options of `open` (and of `open_stack`):
- `worker`: run a worker on the stack's task queue (off: signups start runs nobody executes);
- `emulators`: point Google, Apps Script and Make at the emulators (off: no upstream is set);
- `resolver`: the DNS resolver the webhook URL policy asks (default: the real one);
- `request_ids`: the API's Temporal client carries request ids into the runs, as in production;
- `metrics`: a `WorkerMetrics` the worker reports to;
- `client_host`: the address the API sees requests coming from;
- `database_url` / `migrate`: by default a fresh migrated SQLite file in the test's tmp dir;
- any other keyword is a `Settings` field (`log_file=…`, `sheets_backend="apps_script"`, …).

The fixtures in the conftest files (`stack`, `api_stack`, `db_stack`, `stack_with`, `observed`,
`admin_stack`, …) are thin calls of this builder.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
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
from syston.core.correlation import with_request_ids
from syston.core.engine import create_engine
from syston.core.metrics import WorkerMetrics
from syston.core.settings import Settings
from syston.migrations import migrate_engine
from syston.tokens import TokenService
from syston.webhook_policy import Resolver
from tests.support.emulator_server import RunningEmulator
from tests.support.resolver import FakeResolver
from worker import provisioning_worker

TEST_SECRET = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
# Standard Webhooks secret (`whsec_` + base64 of 33 bytes) that signs lifecycle events in tests.
TEST_SIGNING_SECRET = "whsec_dGVzdC1zaWduaW5nLWtleS0wMTIzNDU2Nzg5YWJjZGVm"
CLIENT_HOST = "203.0.113.7"  # where the API sees requests coming from (TEST-NET-3)


# -- settings and database -----------------------------------------------------------------------


def make_settings(
    database_url: str,
    emulator: RunningEmulator | None,
    key: dict[str, Any] | None,
    temporal_address: str,
    **overrides: Any,
) -> Settings:
    """Settings for a test: its own task queue, the test secret, no rate limit, and (unless
    `emulator` is None) every upstream pointed at the emulators."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "temporal_address": temporal_address,
        "temporal_task_queue": f"test-{uuid.uuid4().hex[:8]}",
        "jwt_secret": TEST_SECRET,
        "webhook_signing_secret": TEST_SIGNING_SECRET,
        "signup_rate_limit": "0",
        "upstream_timeout_seconds": 2.0,
    }
    if emulator is not None:
        values |= {
            "google_service_account_key": json.dumps(key),
            "google_api_endpoint": emulator.url,
            "google_drive_folder_id": "dev-folder",
            "gas_webapp_url": emulator.gas_url,
            "make_webhook_url": emulator.hook_url("platform"),
        }
    values.update(overrides)
    return Settings(**values)


def sqlite_url_in(directory: Path, name: str = "syston.db") -> str:
    return f"sqlite+aiosqlite:///{directory / name}"


async def migrate(database_url: str) -> None:
    """Bring the database to the newest schema (a no-op when it is there already)."""
    engine = create_engine(database_url)
    try:
        await migrate_engine(engine)
    finally:
        await engine.dispose()


# -- the stack -----------------------------------------------------------------------------------


@dataclass
class Stack:
    """The service in-process: `api` is an httpx client on the ASGI app `app`.

    `resolver`, `worker_metrics` and the log file are there when the stack was opened with them.
    """

    settings: Settings
    api: httpx.AsyncClient
    client: Client
    emulator: RunningEmulator | None
    tokens: TokenService
    app: FastAPI | None = None
    resolver: Resolver | None = None
    worker_metrics: WorkerMetrics | None = None

    # -- tokens --------------------------------------------------------------------------------

    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens.issue_admin()}"}

    def service_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens.issue_service()}"}

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

    # -- what a client does --------------------------------------------------------------------

    async def signup(self, slug: str, plan: str = "pro", **extra: Any) -> httpx.Response:
        body = {
            "clubName": f"Club {slug}",
            "clubSlug": slug,
            "email": f"{slug}@example.org",
            "plan": plan,
            **extra.pop("body", {}),
        }
        return await self.api.post("/public/signup/start", json=body, **extra)

    async def tenant(self, slug: str, plan: str = "starter") -> tuple[str, str]:
        """Sign a club up: (tenant id, its tenant token)."""
        response = await self.signup(slug, plan)
        assert response.status_code == 202, response.text
        body = response.json()
        return body["tenantId"], body["jwt"]

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

    # -- logs ----------------------------------------------------------------------------------

    @property
    def log_file(self) -> Path:
        assert self.settings.log_file is not None, "open the stack with log_file=…"
        return self.settings.log_file

    def log_lines(self) -> list[str]:
        return self.log_file.read_text(encoding="utf-8").splitlines()


def build_app(
    settings: Settings,
    client: Client | None,
    *,
    resolver: Resolver | None = None,
    request_ids: bool = False,
) -> FastAPI:
    """The API app as `syston api` builds it, on the test's Temporal client."""
    if client is not None and request_ids:
        client = with_request_ids(client)
    return create_app(settings, temporal_client=client, webhook_resolver=resolver)


@asynccontextmanager
async def serving(app: FastAPI, client_host: str = CLIENT_HOST) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan; an httpx client on it over ASGI."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(client_host, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            yield api


@asynccontextmanager
async def running_api(
    settings: Settings,
    client: Client,
    *,
    resolver: Resolver | None = None,
    request_ids: bool = False,
    client_host: str = CLIENT_HOST,
) -> AsyncIterator[httpx.AsyncClient]:
    """The API alone: an httpx client on a fresh app (`client=None`: it connects by itself)."""
    app = build_app(settings, client, resolver=resolver, request_ids=request_ids)
    async with serving(app, client_host) as api:
        yield api


@asynccontextmanager
async def running_worker(
    settings: Settings, client: Client, metrics: WorkerMetrics | None = None
) -> AsyncIterator[None]:
    """A worker polling the settings' task queue until the block ends."""
    async with provisioning_worker(client, settings, metrics) as worker, worker:
        yield


@asynccontextmanager
async def open_stack(
    settings: Settings,
    client: Client,
    emulator: RunningEmulator | None,
    *,
    worker: bool = True,
    resolver: Resolver | None = None,
    request_ids: bool = False,
    metrics: WorkerMetrics | None = None,
    client_host: str = CLIENT_HOST,
) -> AsyncIterator[Stack]:
    """The API (and, unless `worker=False`, a worker) on `settings`; the database must exist."""
    app = build_app(settings, client, resolver=resolver, request_ids=request_ids)
    async with AsyncExitStack() as running:
        if worker:
            await running.enter_async_context(running_worker(settings, client, metrics))
        api = await running.enter_async_context(serving(app, client_host))
        yield Stack(
            settings=settings,
            api=api,
            client=client,
            emulator=emulator,
            tokens=TokenService(settings.jwt_secrets, settings.jwt_issuer),
            app=app,
            resolver=resolver,
            worker_metrics=metrics,
        )


@dataclass
class StackBuilder:
    """Opens stacks for one test: its Temporal client, emulator, service-account key and tmp dir.

    The `stack_builder` fixture gives one; `open()` is the only way the fixtures build a stack.
    """

    client: Client
    emulator: RunningEmulator
    service_account_key: dict[str, Any]
    tmp_path: Path
    opened: list[Settings] = field(default_factory=list)

    @property
    def sqlite_url(self) -> str:
        """The default database: the same file as the `sqlite_url` fixture."""
        return sqlite_url_in(self.tmp_path)

    @property
    def temporal_address(self) -> str:
        return self.client.service_client.config.target_host

    def settings(
        self, database_url: str | None = None, *, emulators: bool = True, **overrides: Any
    ) -> Settings:
        return make_settings(
            database_url or self.sqlite_url,
            self.emulator if emulators else None,
            self.service_account_key if emulators else None,
            self.temporal_address,
            **overrides,
        )

    @asynccontextmanager
    async def open(
        self,
        database_url: str | None = None,
        *,
        migrate: bool | None = None,
        worker: bool = True,
        emulators: bool = True,
        resolver: Resolver | None = None,
        request_ids: bool = False,
        metrics: WorkerMetrics | None = None,
        client_host: str = CLIENT_HOST,
        settings: Settings | None = None,
        **overrides: Any,
    ) -> AsyncIterator[Stack]:
        """A stack on `database_url` (default: the tmp dir's SQLite file, migrated here).

        `migrate` defaults to True for the default database and False for a given one (the
        `database_url` fixture's databases are migrated already). `settings` replaces the
        settings built from the other arguments.
        """
        if settings is None:
            settings = self.settings(database_url, emulators=emulators, **overrides)
        if migrate if migrate is not None else database_url is None:
            await _migrate(settings.effective_database_url)
        self.opened.append(settings)
        async with open_stack(
            settings,
            self.client,
            self.emulator if emulators else None,
            worker=worker,
            resolver=resolver,
            request_ids=request_ids,
            metrics=metrics,
            client_host=client_host,
        ) as stack:
            yield stack


_migrate = migrate  # `open()` has a parameter of that name

StartStack = Callable[..., AbstractAsyncContextManager[Stack]]
"""`start_admin_stack`: `async with start(database_url=None, *, worker=False, **settings)`."""
StackFactory = Callable[..., AbstractAsyncContextManager[Stack]]
"""`stack_with`: `async with stack_with(*, worker=True, **settings)`."""

__all__ = [
    "CLIENT_HOST",
    "TEST_SECRET",
    "TEST_SIGNING_SECRET",
    "FakeResolver",
    "Stack",
    "StackBuilder",
    "StackFactory",
    "StartStack",
    "build_app",
    "make_settings",
    "migrate",
    "open_stack",
    "running_api",
    "running_worker",
    "serving",
    "sqlite_url_in",
]
