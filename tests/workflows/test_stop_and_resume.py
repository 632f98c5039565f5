"""Permanent faults stop provisioning visibly (tenant `failed`, the run open and waiting, listed
as `ProvisionStatus = "failed"`); the `retry` signal or a re-queue resumes it from the first
incomplete step, without redoing or duplicating anything."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest
from temporalio.client import WorkflowExecutionStatus

from syston.core.temporal import provision_workflow_id
from syston.models import (
    RUN_SHAPE_BEGIN_IN_FIRST_STEP,
    ProgressView,
    ProvisionInput,
    ProvisionResult,
)
from tests.support.provisioning import (
    assert_exactly_once,
    deliveries_of,
    sheets_of,
    step_of,
    wait_listed,
    wait_step,
)
from tests.support.stack import Stack, StackFactory


def clear_faults(stack: Stack) -> None:
    httpx.delete(f"{stack.emulator.url}/_emulator/faults", timeout=10).raise_for_status()


async def requeue(stack: Stack, tenant_id: str, *, force: bool = False) -> dict[str, Any]:
    response = await stack.api.post(
        "/internal/provision/queue",
        json={"tenantId": tenant_id, "force": force},
        headers=stack.service_headers(),
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["tenantId"] == tenant_id and body["workflowId"] == provision_workflow_id(tenant_id)
    return body


async def signup(stack: Stack, slug: str, plan: str = "pro") -> str:
    response = await stack.signup(slug, plan)
    assert response.status_code == 202, response.text
    tenant_id: str = response.json()["tenantId"]
    return tenant_id


async def assert_stopped(stack: Stack, tenant_id: str, step: str, code: str) -> dict[str, Any]:
    """Failed in provision-status, the run still open and waiting, listed as failed."""
    status = await stack.wait_for(tenant_id, "failed")
    assert status["error"]["step"] == step and status["error"]["code"] == code, status
    assert status["error"]["message"]
    failed = step_of(status, step)
    assert failed["status"] == "failed" and failed["error"]["code"] == code
    handle = stack.client.get_workflow_handle(provision_workflow_id(tenant_id))
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    progress = await handle.query("progress", result_type=ProgressView)
    assert progress.waiting_for_retry and progress.status == "failed"
    listed = await wait_listed(
        stack.client, f'TenantId = "{tenant_id}" AND ProvisionStatus = "failed"'
    )
    assert listed == [provision_workflow_id(tenant_id)]
    return status


async def assert_finished(stack: Stack, tenant_id: str) -> dict[str, Any]:
    status = await stack.wait_for(tenant_id, "active")
    handle = stack.client.get_workflow_handle(provision_workflow_id(tenant_id))
    await asyncio.wait_for(handle.result(), 30)
    description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.COMPLETED
    assert description.search_attributes.get("ProvisionStatus") == ["active"]
    assert all(s["status"] == "completed" and s["error"] is None for s in status["steps"])
    assert status["error"] is None
    return status


# -- stop, then resume -------------------------------------------------------------------------


async def test_sheets_403_stops_and_an_api_requeue_resumes_it(stack: Stack) -> None:
    stack.emulator.add_fault(target="sheets", status=403)  # until cleared
    tenant_id = await signup(stack, "forbidden-fc")
    status = await assert_stopped(stack, tenant_id, "create_sheet", "UPSTREAM_AUTH")
    assert step_of(status, "create_sheet")["attempts"] == 1  # permanent: not retried
    assert step_of(status, "configure_webhook")["status"] == "pending"

    clear_faults(stack)
    body = await requeue(stack, tenant_id)
    assert body["action"] == "resumed" and body["status"] == "processing"
    status = await assert_finished(stack, tenant_id)
    assert step_of(status, "create_sheet")["attempts"] == 2
    assert_exactly_once(stack.emulator, tenant_id)
    # the run that stopped is the run that finished
    assert body["runId"] == status["workflow"]["runId"]


async def test_make_4xx_stops_and_the_retry_signal_resumes_it(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    stack.emulator.add_fault(target="make", status=410)
    tenant_id = await signup(stack, "gone-hook-fc")
    status = await assert_stopped(stack, tenant_id, "configure_webhook", "UPSTREAM_REJECTED")
    failed_steps = [
        (getattr(r, "step", None), getattr(r, "code", None))
        for r in caplog.records
        if getattr(r, "event", None) == "tenant_provision_step"
        and getattr(r, "status", None) == "failed"
        and getattr(r, "tenant_id", None) == tenant_id
    ]
    assert failed_steps == [("configure_webhook", "UPSTREAM_REJECTED")]
    assert step_of(status, "create_sheet")["status"] == "completed"

    clear_faults(stack)
    await stack.client.get_workflow_handle(provision_workflow_id(tenant_id)).signal("retry")
    status = await assert_finished(stack, tenant_id)
    assert step_of(status, "create_sheet")["attempts"] == 1  # not redone
    assert step_of(status, "configure_webhook")["attempts"] == 2
    assert_exactly_once(stack.emulator, tenant_id)
    assert len(deliveries_of(stack.emulator, tenant_id)) == 1


async def test_missing_drive_folder_stops_until_the_configuration_is_fixed(
    stack_with: StackFactory,
) -> None:
    async with stack_with(google_drive_folder_id="no-such-folder") as stack:
        tenant_id = await signup(stack, "lost-folder-fc")
        status = await assert_stopped(stack, tenant_id, "create_sheet", "UPSTREAM_NOT_FOUND")
        assert "no-such-folder" in status["error"]["message"]
        # the attempt created the sheet but could not file it: an untagged stray is left
        strays = sheets_of(stack.emulator, tenant_id)
        assert len(strays) == 1 and strays[0]["appProperties"] == {}

    # ops fix GOOGLE_DRIVE_FOLDER_ID and restart the worker, then re-queue
    async with stack_with() as stack:
        body = await requeue(stack, tenant_id)
        assert body["action"] == "resumed"
        status = await assert_finished(stack, tenant_id)
        sheets = sheets_of(stack.emulator, tenant_id)
        assert len(sheets) == 1 and sheets[0]["spreadsheetId"] == strays[0]["spreadsheetId"]
        assert sheets[0]["appProperties"] == {"tenantId": tenant_id}
        assert status["resources"]["spreadsheetId"] == strays[0]["spreadsheetId"]
        assert_exactly_once(stack.emulator, tenant_id)


# -- re-queue semantics ------------------------------------------------------------------------


async def test_requeue_unknown_tenant_is_404(stack: Stack) -> None:
    response = await stack.api.post(
        "/internal/provision/queue",
        json={"tenantId": "tenant_doesnotexist000000"},
        headers=stack.service_headers(),
    )
    assert response.status_code == 404
    assert response.json()["code"] == "TENANT_NOT_FOUND"


async def test_requeue_active_does_nothing_unless_forced(stack: Stack) -> None:
    tenant_id = await signup(stack, "done-fc")
    first = await assert_finished(stack, tenant_id)
    for _ in range(2):  # repeating is safe
        body = await requeue(stack, tenant_id)
        assert body["action"] == "already_active" and body["status"] == "active"
        assert body["runId"] == first["workflow"]["runId"]
    assert await stack.status(tenant_id) == first

    body = await requeue(stack, tenant_id, force=True)
    assert body["action"] == "restarted" and body["runId"] != first["workflow"]["runId"]
    status = await assert_finished(stack, tenant_id)
    assert status["workflow"]["runId"] == body["runId"]
    assert [s["attempts"] for s in status["steps"]] == [2, 2, 2]  # every step re-ran
    assert status["resources"]["spreadsheetId"] == first["resources"]["spreadsheetId"]
    assert_exactly_once(stack.emulator, tenant_id)  # one sheet, one logical event
    assert len(deliveries_of(stack.emulator, tenant_id)) == 2  # delivered twice, same key


async def test_requeue_after_an_override_to_processing_ends_active(stack: Stack) -> None:
    tenant_id = await signup(stack, "reopened-fc")
    first = await assert_finished(stack, tenant_id)
    override = await stack.api.post(
        f"/api/v1/admin/tenants/{tenant_id}/status",
        json={"status": "processing", "reason": "checking the sheet by hand"},
        headers=stack.admin_headers(),
    )
    assert override.status_code == 200, override.text

    body = await requeue(stack, tenant_id)
    assert body["action"] == "restarted"
    run = stack.client.get_workflow_handle(provision_workflow_id(tenant_id), run_id=body["runId"])
    await asyncio.wait_for(run.result(), 30)
    # the run has ended: whatever it was going to record is recorded
    status = await stack.status(tenant_id)
    assert status["status"] == "active", status
    assert status["provisionedAt"] == first["provisionedAt"]
    assert all(s["status"] == "completed" for s in status["steps"])
    # nothing was redone: one sheet, one delivery
    assert step_of(status, "create_sheet")["attempts"] == 1
    assert step_of(status, "configure_webhook")["attempts"] == 1
    assert_exactly_once(stack.emulator, tenant_id)
    assert len(deliveries_of(stack.emulator, tenant_id)) == 1


async def test_requeue_after_the_run_was_terminated_while_failed(stack: Stack) -> None:
    stack.emulator.add_fault(target="make", status=400)
    tenant_id = await signup(stack, "terminated-failed-fc")
    await assert_stopped(stack, tenant_id, "configure_webhook", "UPSTREAM_REJECTED")
    handle = stack.client.get_workflow_handle(provision_workflow_id(tenant_id))
    await handle.terminate("ops closed it")

    clear_faults(stack)
    body = await requeue(stack, tenant_id)
    assert body["action"] == "restarted"
    status = await assert_finished(stack, tenant_id)
    assert status["workflow"]["runId"] == body["runId"]
    assert step_of(status, "create_sheet")["attempts"] == 1  # completed steps not redone
    assert step_of(status, "configure_webhook")["attempts"] == 2
    assert_exactly_once(stack.emulator, tenant_id)


async def test_requeue_after_the_run_was_terminated_mid_step(stack: Stack) -> None:
    stack.emulator.add_fault(target="make", mode="latency", latencyMs=1500, count=1)
    tenant_id = await signup(stack, "terminated-busy-fc")
    await wait_step(stack, tenant_id, "configure_webhook", "running")
    handle = stack.client.get_workflow_handle(provision_workflow_id(tenant_id))
    await handle.terminate("ops closed it")
    assert (await stack.status(tenant_id))["status"] == "processing"

    body = await requeue(stack, tenant_id)
    assert body["action"] == "restarted"
    status = await assert_finished(stack, tenant_id)
    assert step_of(status, "create_sheet")["attempts"] == 1
    # the terminated attempt may or may not have reached Make: either way one logical event
    assert_exactly_once(stack.emulator, tenant_id)


async def test_requeue_a_busy_run(stack: Stack) -> None:
    stack.emulator.add_fault(target="make", mode="latency", latencyMs=1500, count=1)
    tenant_id = await signup(stack, "busy-fc")
    await wait_step(stack, tenant_id, "configure_webhook", "running")
    run_id = (await stack.status(tenant_id))["workflow"]["runId"]
    for _ in range(2):
        body = await requeue(stack, tenant_id)
        assert body["action"] == "already_running" and body["runId"] == run_id
    await assert_finished(stack, tenant_id)
    assert_exactly_once(stack.emulator, tenant_id)


async def test_forced_requeue_of_a_busy_run_starts_over_idempotently(stack: Stack) -> None:
    stack.emulator.add_fault(target="make", mode="latency", latencyMs=1500, count=1)
    tenant_id = await signup(stack, "forced-busy-fc")
    await wait_step(stack, tenant_id, "configure_webhook", "running")
    body = await requeue(stack, tenant_id, force=True)
    assert body["action"] == "restarted"
    status = await assert_finished(stack, tenant_id)
    assert status["workflow"]["runId"] == body["runId"]
    assert_exactly_once(stack.emulator, tenant_id)


async def test_repeated_requeue_of_a_failed_tenant_resumes_once(stack: Stack) -> None:
    stack.emulator.add_fault(target="sheets", status=403)
    tenant_id = await signup(stack, "twice-fc")
    await assert_stopped(stack, tenant_id, "create_sheet", "UPSTREAM_AUTH")
    clear_faults(stack)
    actions = [(await requeue(stack, tenant_id))["action"] for _ in range(3)]
    assert actions[0] == "resumed"
    assert set(actions[1:]) <= {"resumed", "already_running", "already_active"}
    status = await assert_finished(stack, tenant_id)
    assert step_of(status, "create_sheet")["attempts"] == 2
    assert_exactly_once(stack.emulator, tenant_id)


@pytest.mark.parametrize("shape", [RUN_SHAPE_BEGIN_IN_FIRST_STEP, 1])
async def test_a_run_for_a_deleted_tenant_ends_abandoned(stack: Stack, shape: int) -> None:
    tenant_id = f"tenant_neverexisted0000000{shape}"
    handle = await stack.client.start_workflow(
        "ProvisionTenant",
        ProvisionInput(tenant_id=tenant_id, plan="pro", shape=shape),
        id=provision_workflow_id(tenant_id),
        task_queue=stack.settings.temporal_task_queue,
        result_type=ProvisionResult,
    )
    result = await asyncio.wait_for(handle.result(), 30)
    assert result.status == "abandoned"
    description = await handle.describe()
    assert description.search_attributes.get("ProvisionStatus") == ["abandoned"]
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        async for e in handle.fetch_history_events()
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    # the first step found nothing to provision and did nothing (shape 1: a local begin)
    assert scheduled == (["create_sheet"] if shape > 1 else [])
    sheets = stack.emulator.snapshot()["spreadsheets"]
    assert not [s for s in sheets if s["appProperties"].get("tenantId") == tenant_id]


async def test_requeue_says_processing_at_once_even_before_a_worker_picks_it_up(
    stack_with: StackFactory,
) -> None:
    async with stack_with() as stack:
        stack.emulator.add_fault(target="sheets", status=403)
        tenant_id = await signup(stack, "no-worker-yet-fc")
        await assert_stopped(stack, tenant_id, "create_sheet", "UPSTREAM_AUTH")
        clear_faults(stack)

    # no worker is polling: only the API can have changed the ledger
    async with stack_with(worker=False) as stack:
        body = await requeue(stack, tenant_id)
        assert body["action"] == "resumed"
        status = await stack.status(tenant_id)
        assert status["status"] == "processing" and status["error"] is None
        assert step_of(status, "create_sheet")["status"] == "pending"

    async with stack_with() as stack:
        await assert_finished(stack, tenant_id)
        assert_exactly_once(stack.emulator, tenant_id)


async def test_a_manual_override_to_active_ends_the_stopped_run_and_the_ui_agrees(
    stack: Stack,
) -> None:
    stack.emulator.add_fault(target="make", status=410)
    tenant_id = await signup(stack, "hand-settled-fc")
    await assert_stopped(stack, tenant_id, "configure_webhook", "UPSTREAM_REJECTED")

    response = await stack.api.post(
        f"/api/v1/admin/tenants/{tenant_id}/status",
        json={"status": "active", "reason": "webhook configured by hand in Make"},
        headers=stack.admin_headers(),
    )
    assert response.status_code == 200, response.text
    handle = stack.client.get_workflow_handle(provision_workflow_id(tenant_id))
    result = await asyncio.wait_for(handle.result(), 30)
    assert result["status"] == "active"
    description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.COMPLETED
    assert description.search_attributes.get("ProvisionStatus") == ["active"]
    assert (await stack.status(tenant_id))["status"] == "active"
    assert len(deliveries_of(stack.emulator, tenant_id)) == 0  # nothing was re-sent
