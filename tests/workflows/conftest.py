"""`stack_with`: the in-process stack (worker + API) with settings overrides, e.g. the Apps
Script back end or a Drive folder that does not exist."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from syston.core.settings import Settings
from tests.support.stack import Stack, StackBuilder, StackFactory


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


__all__ = ["StackFactory"]  # the old home of the name
