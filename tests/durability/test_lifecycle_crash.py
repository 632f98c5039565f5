"""The worker process SIGKILLed in the middle of a plan change's sheet step and of an
offboarding's ownership transfer, then started again: exactly one spreadsheet, one ownership
transfer, and the tenant ends where it should (pro; deleted).

As in test_worker_crash.py, the step's upstream is slowed down (emulator `latency`) and the
kill waits until the request is in flight; the emulator still completes it, so the retried
attempt finds what the dead one made. Runs on PostgreSQL, shared by two processes as deployed.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.durability.test_worker_crash import wait_until
from tests.lifecycle.helpers import active_tenant, admin_post, offboard, wait_operation
from tests.support.processes import WorkerProcess, dump
from tests.support.provisioning import sheets_of
from tests.support.stack import Stack, StackBuilder, migrate

pytestmark = pytest.mark.slow


@pytest.fixture
async def crash_stack(
    stack_builder: StackBuilder,
    postgres_server: str,
    tmp_path: Path,
    worker_process: list[WorkerProcess],
) -> AsyncIterator[tuple[Stack, WorkerProcess]]:
    """The API in-process and the worker as its own process, on PostgreSQL."""
    await migrate(postgres_server)
    settings = stack_builder.settings(postgres_server)
    worker = WorkerProcess(settings, tmp_path)
    worker_process.append(worker)
    worker.start()
    async with stack_builder.open(settings=settings, worker=False) as stack:
        yield stack, worker


def step_of(body: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in body["operation"]["steps"] if s["name"] == name)


async def test_worker_killed_during_the_plan_change_sheet_step(
    crash_stack: tuple[Stack, WorkerProcess],
) -> None:
    stack, worker = crash_stack
    tenant_id, _ = await active_tenant(stack, f"crash-plan-{uuid.uuid4().hex[:8]}", "starter")
    stack.emulator.add_fault(target="sheets", mode="latency", latencyMs=3000, count=1)
    started = await admin_post(stack, f"{tenant_id}/plan", {"plan": "pro"})
    assert started.status_code == 202, started.text
    await wait_until(
        lambda: stack.emulator.snapshot()["requests"].get("sheets.create", 0) >= 1,
        "sheets.create in flight",
    )
    worker.kill()
    worker.start()
    try:
        done = await wait_operation(stack, tenant_id, "completed", timeout=90)
    except BaseException:
        print(dump(worker.log))
        raise
    assert done["plan"] == "pro" and done["status"] == "active"
    assert step_of(done, "create_sheet")["attempts"] == 2
    (sheet,) = sheets_of(stack.emulator, tenant_id)
    assert sheet["appProperties"]["tenantId"] == tenant_id
    assert done["resources"]["spreadsheetId"] == sheet["spreadsheetId"]


async def test_worker_killed_during_the_ownership_transfer(
    crash_stack: tuple[Stack, WorkerProcess],
) -> None:
    stack, worker = crash_stack
    tenant_id, _ = await active_tenant(stack, f"crash-off-{uuid.uuid4().hex[:8]}", "pro")
    shares = stack.emulator.snapshot()["requests"]["drive.permissions.create"]
    # permissions.list, then permissions.create with role owner: both slow (below the
    # upstream timeout)
    stack.emulator.add_fault(target="drive", mode="latency", latencyMs=1500, count=2)
    scheduled = await offboard(stack, tenant_id, graceSeconds=0)
    assert scheduled.status_code == 202, scheduled.text
    await wait_until(
        lambda: stack.emulator.snapshot()["requests"]["drive.permissions.create"] > shares,
        "the owner permission in flight",
        timeout=60,
    )
    worker.kill()
    worker.start()
    try:
        await stack.wait_for(tenant_id, "deleted", timeout=90)
        done = await wait_operation(stack, tenant_id, "completed")
    except BaseException:
        print(dump(worker.log))
        raise
    assert step_of(done, "transfer_sheet")["attempts"] == 2
    (sheet,) = sheets_of(stack.emulator, tenant_id)
    owners = [p["emailAddress"] for p in sheet["permissions"] if p["role"] == "owner"]
    assert owners == [f"{done['tenantId'] and ''}"] or len(owners) == 1
    assert stack.emulator.snapshot()["requests"]["drive.ownership.transfer"] == 1
