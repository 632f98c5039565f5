"""Offboarding through the real dev server, worker, API and emulators: the grace period, its
cancellation, the 409s, and what deletion does (ownership handed over, events, webhook cleared,
tokens cut off, personal data erased, slug and e-mail free for a new signup)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
from temporalio.client import WorkflowExecutionStatus

from syston.core.temporal import offboard_workflow_id, provision_workflow_id
from syston.models import OperationProgressView, OperationResult
from tests.lifecycle.helpers import (
    active_tenant,
    admin_detail,
    admin_post,
    offboard,
    wait_events,
    wait_operation,
)
from tests.support.provisioning import sheets_of, wait_listed
from tests.support.stack import Stack


async def test_offboarding_hands_the_sheet_over_and_erases_the_tenant(db_stack: Stack) -> None:
    stack = db_stack
    tenant_id, token = await active_tenant(stack, "leaving-fc", "pro")
    own = {"Authorization": f"Bearer {token}"}
    response = await offboard(stack, tenant_id, reason="closing the club", graceSeconds=2)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["tenantId"] == tenant_id and body["status"] == "deprovisioning"
    assert body["workflowId"] == offboard_workflow_id(tenant_id) and body["runId"]
    assert datetime.fromisoformat(body["deleteAfter"]) > datetime.fromisoformat(
        (await stack.status(tenant_id))["updatedAt"]
    )
    refused = await stack.api.get(f"/api/v1/tenants/{tenant_id}/provision-status", headers=own)
    assert refused.json()["reason"] == "tenant_suspended"
    (sheet,) = sheets_of(stack.emulator, tenant_id)
    assert "owner" not in {p["role"] for p in sheet["permissions"]}  # nothing touched yet

    await stack.wait_for(tenant_id, "deleted", timeout=60)
    status = await wait_operation(stack, tenant_id, "completed")  # just after `deleted`
    assert status["operation"]["type"] == "offboard"
    assert all(s["status"] == "completed" for s in status["operation"]["steps"])
    (sheet,) = sheets_of(stack.emulator, tenant_id)  # handed over, never deleted
    owners = [p["emailAddress"] for p in sheet["permissions"] if p["role"] == "owner"]
    assert owners == ["leaving-fc@example.org"]
    assert stack.emulator.snapshot()["requests"]["drive.ownership.transfer"] == 1

    detail = await admin_detail(stack, tenant_id)
    assert detail["ownerEmail"] is None and detail["clubName"] is None
    assert detail["resources"]["webhookUrl"] is None
    assert detail["slug"] != "leaving-fc"
    actions = [e["action"] for e in detail["audit"]]
    assert "tenant_offboarding_scheduled" in actions and "token_cutoff" in actions
    cut_off = await stack.api.get(f"/api/v1/tenants/{tenant_id}/provision-status", headers=own)
    assert cut_off.status_code == 403 and cut_off.json()["reason"] == "token_revoked"

    events = await wait_events(
        stack, tenant_id, "tenant.offboarding_scheduled", "tenant.offboarded"
    )
    types = [e["body"]["type"] for e in events]
    assert types[-2:] == ["tenant.offboarding_scheduled", "tenant.offboarded"]
    assert events[-1]["hookId"] == "platform"
    assert all("@" not in e["rawBody"] for e in events)

    again = await stack.signup("leaving-fc", "starter")  # the same slug and e-mail
    assert again.status_code == 202, again.text
    assert again.json()["tenantId"] != tenant_id
    gone = await offboard(stack, tenant_id)
    assert gone.status_code == 409 and gone.json()["code"] == "TENANT_NOT_ACTIVE"
    late = await admin_post(stack, f"{tenant_id}/offboard/cancel")
    assert late.status_code == 409 and late.json()["code"] == "TENANT_NOT_ACTIVE"


async def test_cancel_within_the_grace_period_restores_the_tenant(stack: Stack) -> None:
    tenant_id, token = await active_tenant(stack, "staying-fc", "starter")
    await admin_post(stack, f"{tenant_id}/suspend", {"reason": "unpaid"})
    scheduled = await offboard(stack, tenant_id)  # the default grace: 30 days
    assert scheduled.status_code == 202, scheduled.text
    twice = await offboard(stack, tenant_id)
    assert twice.status_code == 409 and twice.json()["code"] == "TENANT_NOT_ACTIVE"
    plan = await admin_post(stack, f"{tenant_id}/plan", {"plan": "pro"})
    assert plan.status_code == 409 and plan.json()["code"] == "LIFECYCLE_IN_PROGRESS"

    cancelled = await admin_post(stack, f"{tenant_id}/offboard/cancel", {"reason": "paid"})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json() == {"tenantId": tenant_id, "status": "suspended"}
    handle = stack.client.get_workflow_handle(
        offboard_workflow_id(tenant_id), result_type=OperationResult
    )
    result = await asyncio.wait_for(handle.result(), 30)
    assert result.status == "cancelled"
    status = await stack.status(tenant_id)
    assert status["status"] == "suspended" and status["operation"]["status"] == "cancelled"
    assert all(s["status"] == "pending" for s in status["operation"]["steps"])
    again = await admin_post(stack, f"{tenant_id}/offboard/cancel")
    assert again.status_code == 409 and again.json()["code"] == "TENANT_NOT_ACTIVE"
    await wait_events(stack, tenant_id, "tenant.offboarding_scheduled")
    reactivated = await admin_post(stack, f"{tenant_id}/reactivate", {"reason": "ok"})
    assert reactivated.json()["status"] == "active"
    own = {"Authorization": f"Bearer {token}"}
    assert (
        await stack.api.get(f"/api/v1/tenants/{tenant_id}/provision-status", headers=own)
    ).status_code == 200


async def test_offboarding_stops_a_running_provisioning_first(stack: Stack) -> None:
    stack.emulator.add_fault(target="sheets", mode="latency", latencyMs=1500, count=1)
    response = await stack.signup("half-made-fc", "pro")
    tenant_id = response.json()["tenantId"]
    scheduled = await offboard(stack, tenant_id, graceSeconds=0)
    assert scheduled.status_code == 202, scheduled.text
    await stack.wait_for(tenant_id, "deleted", timeout=60)
    provision = stack.client.get_workflow_handle(provision_workflow_id(tenant_id))
    assert (await provision.describe()).status == WorkflowExecutionStatus.TERMINATED
    detail = await admin_detail(stack, tenant_id)
    assert detail["ownerEmail"] is None


async def test_a_running_plan_change_blocks_offboarding(stack: Stack) -> None:
    tenant_id, _ = await active_tenant(stack, "busy-fc", "starter")
    stack.emulator.add_fault(target="sheets", mode="latency", latencyMs=2000, count=1)
    started = await admin_post(stack, f"{tenant_id}/plan", {"plan": "pro"})
    assert started.status_code == 202, started.text
    refused = await offboard(stack, tenant_id)
    assert refused.status_code == 409 and refused.json()["code"] == "LIFECYCLE_IN_PROGRESS"
    await wait_operation(stack, tenant_id, "completed")


async def test_a_cancel_just_before_the_grace_ends_wins(stack: Stack) -> None:
    tenant_id, _ = await active_tenant(stack, "last-minute-fc", "pro")
    scheduled = await offboard(stack, tenant_id, graceSeconds=3)
    delete_after = datetime.fromisoformat(scheduled.json()["deleteAfter"])
    await asyncio.sleep(max(0.0, (delete_after - datetime.now(UTC)).total_seconds() - 0.5))
    cancelled = await admin_post(stack, f"{tenant_id}/offboard/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "active"
    handle = stack.client.get_workflow_handle(
        offboard_workflow_id(tenant_id), result_type=OperationResult
    )
    assert (await asyncio.wait_for(handle.result(), 30)).status == "cancelled"
    await asyncio.sleep(1.0)  # past the grace: still nothing touched
    (sheet,) = sheets_of(stack.emulator, tenant_id)
    assert "owner" not in {p["role"] for p in sheet["permissions"]}
    detail = await admin_detail(stack, tenant_id)
    assert detail["status"] == "active" and detail["ownerEmail"] == "last-minute-fc@example.org"
    assert "drive.ownership.transfer" not in stack.emulator.snapshot()["requests"]


async def test_cancelling_restores_processing_and_provisioning_resumes(stack: Stack) -> None:
    stack.emulator.add_fault(target="sheets", mode="latency", latencyMs=1500, count=1)
    response = await stack.signup("second-thoughts-fc", "pro")
    tenant_id = response.json()["tenantId"]
    scheduled = await offboard(stack, tenant_id, graceSeconds=600)
    assert scheduled.status_code == 202, scheduled.text
    cancelled = await admin_post(stack, f"{tenant_id}/offboard/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "processing"
    status = await stack.wait_for(tenant_id, "active", timeout=60)  # a new run finished it
    assert status["operation"]["status"] == "cancelled"
    assert len(sheets_of(stack.emulator, tenant_id)) == 1


async def test_a_refused_transfer_stops_until_retry(stack: Stack) -> None:
    tenant_id, _ = await active_tenant(stack, "stubborn-drive-fc", "pro")
    stack.emulator.add_fault(target="drive", status=403)  # until cleared
    assert (await offboard(stack, tenant_id, graceSeconds=0)).status_code == 202
    stopped = await wait_operation(stack, tenant_id, "failed")
    assert stopped["status"] == "deprovisioning"
    (step,) = [s for s in stopped["operation"]["steps"] if s["status"] == "failed"]
    assert step["name"] == "transfer_sheet" and step["error"]["code"] == "UPSTREAM_AUTH"
    workflow_id = offboard_workflow_id(tenant_id)
    listed = await wait_listed(
        stack.client, f'TenantId = "{tenant_id}" AND ProvisionStatus = "failed"'
    )
    assert listed == [workflow_id]
    progress = await stack.client.get_workflow_handle(workflow_id).query(
        "progress", result_type=OperationProgressView
    )
    assert progress.waiting_for_retry and progress.last_error
    httpx.delete(f"{stack.emulator.url}/_emulator/faults", timeout=10).raise_for_status()
    await stack.client.get_workflow_handle(workflow_id).signal("retry")
    await stack.wait_for(tenant_id, "deleted", timeout=60)
    assert stack.emulator.snapshot()["requests"]["drive.ownership.transfer"] == 1
