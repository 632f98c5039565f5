"""The worker process killed with SIGKILL in the middle of each step, then started again: the
tenant ends `active` with exactly one spreadsheet and one logical registration event.

The kill lands mid-step deterministically: the step's upstream is slowed down (emulator
`latency`) and the kill waits until the request is in flight; `mark_active` has no upstream, so
its database row is held locked (PostgreSQL `SELECT … FOR UPDATE`) while the step is running.
The retried attempt starts once the dead attempt misses its heartbeat (10 s).
Runs on PostgreSQL (the row lock; and a second process sharing the database, as deployed).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from temporalio.client import Client

from syston.core.temporal import provision_workflow_id
from tests.support.emulator_server import RunningEmulator
from tests.support.processes import WorkerProcess, dump
from tests.support.provisioning import assert_exactly_once, step_of, wait_step
from tests.support.stack import StackBuilder, migrate

# The documented bound (docs/temporal.md); the wait allows more so a slow machine reports why.
RESUME_BOUND_SECONDS = 60.0
UPSTREAM_LATENCY_MS = 3000

# step → (the slow upstream that keeps it busy, the emulator operation to see in flight)
IN_FLIGHT: dict[str, tuple[dict[str, Any], str]] = {
    "create_sheet": (
        {"target": "sheets", "mode": "latency", "latencyMs": UPSTREAM_LATENCY_MS, "count": 1},
        "sheets.create",
    ),
    "configure_webhook": (
        {"target": "make", "mode": "latency", "latencyMs": UPSTREAM_LATENCY_MS, "count": 1},
        "make.deliver",
    ),
}


async def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("step", ["create_sheet", "configure_webhook", "mark_active"])
async def test_worker_killed_mid_step_resumes_to_active(
    step: str,
    stack_builder: StackBuilder,
    temporal_client: Client,
    emulator: RunningEmulator,
    postgres_server: str,
    tmp_path: Path,
    worker_process: list[WorkerProcess],
    record_property: Callable[[str, object], None],
) -> None:
    await migrate(postgres_server)
    settings = stack_builder.settings(postgres_server)
    worker = WorkerProcess(settings, tmp_path)
    worker_process.append(worker)
    worker.start()
    lock: asyncpg.Connection | None = None
    async with stack_builder.open(settings=settings, worker=False) as stack:
        if step == "mark_active":
            # slow the step before it down, so the row lock is in place before mark_active
            emulator.add_fault(target="make", mode="latency", latencyMs=1000, count=1)
        else:
            emulator.add_fault(**IN_FLIGHT[step][0])
        slug = f"crash-{step.replace('_', '-')}-{uuid.uuid4().hex[:8]}"
        response = await stack.signup(slug, "pro")
        assert response.status_code == 202, response.text
        tenant_id: str = response.json()["tenantId"]

        if step == "mark_active":
            # after `begin` (which locks the row itself), before mark_active's UPDATE; NO KEY
            # UPDATE leaves foreign-key checks of the other steps' writes unblocked
            await wait_step(stack, tenant_id, "configure_webhook", "running")
            lock = await asyncpg.connect(postgres_server.replace("+asyncpg", ""))
            await lock.execute("BEGIN")
            await lock.execute("SELECT 1 FROM tenants WHERE id = $1 FOR NO KEY UPDATE", tenant_id)
        await wait_step(stack, tenant_id, step, "running")
        if step in IN_FLIGHT:
            operation = IN_FLIGHT[step][1]
            await wait_until(
                lambda: emulator.snapshot()["requests"].get(operation, 0) >= 1,
                f"{operation} in flight",
            )
        else:
            await asyncio.sleep(0.3)  # the UPDATE is queued behind our lock
        worker.kill()
        if lock is not None:
            await lock.execute("ROLLBACK")
            await lock.close()
        assert (await stack.status(tenant_id))["status"] == "processing"

        restarted = time.monotonic()
        worker.start()
        try:
            status = await stack.wait_for(tenant_id, "active", timeout=RESUME_BOUND_SECONDS + 30)
        except BaseException:
            print(dump(worker.log))
            raise
        resumed_after = time.monotonic() - restarted
        record_property("resume_seconds", round(resumed_after, 1))
        print(f"\n{step}: active {resumed_after:.1f} s after the worker came back")

        assert step_of(status, step)["attempts"] == 2  # the killed attempt and its retry
        assert all(s["attempts"] == 1 for s in status["steps"] if s["name"] != step), status[
            "steps"
        ]
        assert_exactly_once(emulator, tenant_id)
        handle = temporal_client.get_workflow_handle(provision_workflow_id(tenant_id))
        await asyncio.wait_for(handle.result(), 30)
