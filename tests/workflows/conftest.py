"""`stack_with`: the in-process stack (worker + API) with settings overrides, e.g. the Apps
Script back end or a Drive folder that does not exist."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest
from temporalio.client import Client

from syston.core.settings import Settings
from tests.conftest import Stack, make_settings, migrate, open_stack
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
            await migrate(settings.effective_database_url)
        elif "temporal_task_queue" not in overrides:
            settings = settings.model_copy(
                update={"temporal_task_queue": first["base"].temporal_task_queue}
            )
        async with open_stack(settings, temporal_client, emulator, worker=worker) as stack:
            yield stack

    return build
