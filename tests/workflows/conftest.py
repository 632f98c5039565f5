"""`stack_with`: the in-process stack (worker + API) with settings overrides, e.g. the Apps
Script back end or a Drive folder that does not exist."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

import pytest
from temporalio.client import Client

from syston.db import create_engine
from syston.migrations import migrate_engine
from syston.settings import Settings
from syston.tokens import TokenService
from tests.conftest import Stack, make_settings, running_api, running_worker
from tests.support.emulator_server import RunningEmulator

StackFactory = Callable[..., AbstractAsyncContextManager[Stack]]


@pytest.fixture
def stack_with(
    temporal_client: Client,
    emulator: RunningEmulator,
    service_account_key: dict[str, Any],
    sqlite_url: str,
) -> StackFactory:
    """`async with stack_with(sheets_backend="apps_script") as stack:` — a fresh stack; the
    database (and task queue, unless overridden) persist across calls within one test, so a
    second stack with fixed settings can pick up where the first stopped."""
    first: dict[str, Settings] = {}

    @asynccontextmanager
    async def build(*, worker: bool = True, **overrides: Any) -> AsyncIterator[Stack]:
        settings = make_settings(
            sqlite_url,
            emulator,
            service_account_key,
            temporal_client.service_client.config.target_host,
            **overrides,
        )
        if "base" not in first:
            first["base"] = settings
            engine = create_engine(settings.effective_database_url)
            await migrate_engine(engine)
            await engine.dispose()
        elif "temporal_task_queue" not in overrides:
            settings = settings.model_copy(
                update={"temporal_task_queue": first["base"].temporal_task_queue}
            )
        async with AsyncExitStack() as running:
            if worker:
                await running.enter_async_context(running_worker(settings, temporal_client))
            api = await running.enter_async_context(running_api(settings, temporal_client))
            yield Stack(
                settings=settings,
                api=api,
                client=temporal_client,
                emulator=emulator,
                tokens=TokenService(settings.jwt_secrets, settings.jwt_issuer),
            )

    return build
