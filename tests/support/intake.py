"""What durable-intake tests look at: pending intake rows, and how many workflow runs each
tenant got (from Temporal's visibility, which lags: wait for what is expected, then count)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable

import pytest
from sqlalchemy import func, select
from temporalio.client import Client

from syston.core.db import ProvisionRequest
from syston.core.engine import create_engine
from syston.core.temporal import provision_workflow_id


async def pending_intake(database_url: str) -> set[str]:
    """The tenants whose request to provision is still pending (their workflow not started)."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            return set((await conn.scalars(select(ProvisionRequest.tenant_id))).all())
    finally:
        await engine.dispose()


async def intake_count(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(ProvisionRequest)) or 0)
    finally:
        await engine.dispose()


async def wait_until(
    condition: Callable[[], Awaitable[bool]], what: str, timeout: float, poll: float = 0.1
) -> float:
    """Poll `condition` until true; the seconds it took. Fails (saying `what`) past `timeout`."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not await condition():
        if loop.time() - started > timeout:
            pytest.fail(f"{what}: not within {timeout:.0f} s")
        await asyncio.sleep(poll)
    return loop.time() - started


async def runs_per_tenant(
    client: Client, task_queue: str, tenant_ids: Iterable[str], timeout: float = 20.0
) -> dict[str, int]:
    """How many ProvisionTenant runs each tenant has on `task_queue`, once visibility lists a
    run for every one of them."""
    expected = {provision_workflow_id(t): t for t in tenant_ids}
    runs: Counter[str] = Counter()

    async def all_listed() -> bool:
        runs.clear()
        async for wf in client.list_workflows(f'TaskQueue = "{task_queue}"'):
            runs[wf.id] += 1
        return set(expected) <= set(runs)

    await wait_until(all_listed, "visibility lists a run for every tenant", timeout, poll=0.2)
    stray = set(runs) - set(expected)
    assert not stray, f"workflows for tenants never accepted: {stray}"
    return {expected[wf_id]: n for wf_id, n in runs.items()}
