"""`stack_with`: the in-process stack (worker + API) with settings overrides, e.g. the Apps
Script back end or a Drive folder that does not exist; `time_skipping_env` for the fast
workflow tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from syston.core.settings import Settings
from tests.support.stack import Stack, StackBuilder, StackFactory
from tests.support.workflow_env import start_time_skipping


@pytest.fixture
def stack_with(stack_builder: StackBuilder) -> StackFactory:
    """`async with stack_with(sheets_backend="apps_script") as stack:` — a fresh stack; the
    database (and task queue, unless overridden) persist across calls within one test, so a
    second stack with fixed settings can pick up where the first stopped."""
    first: dict[str, Settings] = {}

    @asynccontextmanager
    async def build(*, worker: bool = True, **overrides: Any) -> AsyncIterator[Stack]:
        settings = stack_builder.settings(**overrides)
        is_first = "base" not in first
        if is_first:
            first["base"] = settings
        elif "temporal_task_queue" not in overrides:
            settings = settings.model_copy(
                update={"temporal_task_queue": first["base"].temporal_task_queue}
            )
        async with stack_builder.open(settings=settings, migrate=is_first, worker=worker) as stack:
            yield stack

    return build


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server for the session (fast tier: mocked activities, no
    database, no emulators); `ProvisionStatus` and the other search attributes registered."""
    env = await start_time_skipping()
    try:
        yield env
    finally:
        await env.shutdown()


__all__ = ["StackFactory"]  # the old home of the name
