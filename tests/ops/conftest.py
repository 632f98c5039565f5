"""`observed`: the service in-process as it runs in production — JSON logs to a LOG_FILE, the
worker's metrics and interceptors, the API's Temporal client carrying request ids."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from syston.core.metrics import WorkerMetrics
from tests.support.resolver import FakeResolver
from tests.support.stack import Stack, StackBuilder

PUBLIC_ADDRESS = "93.184.215.14"
CLIENT_HOST = "203.0.113.9"

Observed = Stack  # the old name, for tests that import it from here


async def fake_dns(host: str) -> list[str]:
    """Every host is public (the old helper; `FakeResolver` records what was asked)."""
    return [PUBLIC_ADDRESS]


@pytest.fixture
async def observed(stack_builder: StackBuilder, tmp_path: Path) -> AsyncIterator[Stack]:
    async with stack_builder.open(
        log_file=tmp_path / "logs" / "syston.log",
        request_ids=True,
        resolver=FakeResolver(public=PUBLIC_ADDRESS),
        metrics=WorkerMetrics(),
        client_host=CLIENT_HOST,
    ) as stack:
        yield stack
