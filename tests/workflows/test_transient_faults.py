"""Transient upstream faults are retried until the tenant is active, with exactly one
spreadsheet and one logical registration event, and provision-status shows the step
`retrying` with the error meanwhile."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus

from syston.core.temporal import provision_workflow_id
from tests.support.provisioning import assert_exactly_once, step_of, wait_step, watch_step
from tests.support.stack import Stack, StackFactory

# (fault, the step it hits, the code provision-status shows while the step retries)
TRANSIENT = {
    "sheets-503x3": (
        {"target": "sheets", "status": 503, "count": 3},
        "create_sheet",
        "UPSTREAM_UNAVAILABLE",
    ),
    "drive-503": (
        {"target": "drive", "status": 503, "count": 1},
        "create_sheet",
        "UPSTREAM_UNAVAILABLE",
    ),
    "token-503": (
        {"target": "token", "status": 503, "count": 1},
        "create_sheet",
        "UPSTREAM_UNAVAILABLE",
    ),
    "sheets-hang": (
        {"target": "sheets", "mode": "hang", "count": 1},
        "create_sheet",
        "UPSTREAM_TIMEOUT",
    ),
    "make-503x3": (
        {"target": "make", "status": 503, "count": 3},
        "configure_webhook",
        "UPSTREAM_UNAVAILABLE",
    ),
    "make-hang": (
        {"target": "make", "mode": "hang", "count": 1},
        "configure_webhook",
        "UPSTREAM_TIMEOUT",
    ),
}


async def _provision_through(stack: Stack, slug: str, fault: dict[str, Any], step: str) -> tuple[
    str, list[tuple[str, str | None]], dict[str, Any]
]:  # fmt: skip
    stack.emulator.add_fault(**fault)
    response = await stack.signup(slug, "pro")
    assert response.status_code == 202, response.text
    tenant_id: str = response.json()["tenantId"]
    seen, status = await watch_step(stack, tenant_id, step)
    return tenant_id, seen, status


@pytest.mark.parametrize("case", list(TRANSIENT))
async def test_transient_fault_is_retried_to_active(stack: Stack, case: str) -> None:
    fault, step, code = TRANSIENT[case]
    tenant_id, seen, status = await _provision_through(stack, f"transient-{case}", fault, step)

    # the transition, as a client polling provision-status saw it
    assert ("retrying", code) in seen, seen
    assert seen.index(("retrying", code)) < len(seen) - 1
    assert seen[-1] == ("completed", None), seen
    failing = step_of(status, step)
    assert failing["attempts"] == fault["count"] + 1
    assert failing["error"] is None and failing["completedAt"] is not None
    assert all(s["status"] == "completed" for s in status["steps"])
    assert status["error"] is None and status["provisionedAt"] is not None
    assert_exactly_once(stack.emulator, tenant_id)

    handle = stack.client.get_workflow_handle(provision_workflow_id(tenant_id))
    await asyncio.wait_for(handle.result(), 30)  # the DB says active just before the run ends
    description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.COMPLETED
    assert description.search_attributes.get("ProvisionStatus") == ["active"]


async def test_rate_limit_honours_retry_after(stack: Stack) -> None:
    """429 + Retry-After: the attempt's failure asks Temporal for exactly that delay."""
    stack.emulator.add_fault(target="sheets", status=429, count=1, retryAfter=3)
    response = await stack.signup("rate-limited", "pro")
    tenant_id = response.json()["tenantId"]
    body = await wait_step(stack, tenant_id, "create_sheet", "retrying")
    error = step_of(body, "create_sheet")["error"]
    assert error["code"] == "UPSTREAM_RATE_LIMITED"

    # While the step waits, Temporal's pending activity carries the delay the upstream asked for.
    # (the ledger says `retrying` a moment before the worker reports the failure: poll)
    handle = stack.client.get_workflow_handle(provision_workflow_id(tenant_id))
    for _ in range(100):
        pending = (await handle.describe()).raw_description.pending_activities
        if pending and pending[0].last_failure.application_failure_info.type:
            break
        await asyncio.sleep(0.05)
    assert [p.activity_type.name for p in pending] == ["create_sheet"]
    failure = pending[0].last_failure.application_failure_info
    assert failure.type == "UPSTREAM_RATE_LIMITED"
    assert failure.next_retry_delay.ToTimedelta() == timedelta(seconds=3)
    assert pending[0].attempt == 2  # the next attempt is scheduled, after that delay

    status = await stack.wait_for(tenant_id, "active")
    assert step_of(status, "create_sheet")["attempts"] == 2
    assert stack.emulator.snapshot()["requests"]["sheets.create"] == 2
    assert_exactly_once(stack.emulator, tenant_id)


async def test_apps_script_backend_retries_a_transient_fault(stack_with: StackFactory) -> None:
    async with stack_with(sheets_backend="apps_script") as stack:
        fault = {"target": "gas", "status": 503, "count": 2}
        tenant_id, seen, status = await _provision_through(stack, "gas-club", fault, "create_sheet")
        assert ("retrying", "UPSTREAM_UNAVAILABLE") in seen, seen
        assert seen[-1] == ("completed", None)
        assert step_of(status, "create_sheet")["attempts"] == 3
        assert_exactly_once(stack.emulator, tenant_id)
        assert (
            status["resources"]["spreadsheetId"]
            == (stack.emulator.snapshot()["spreadsheets"][0]["spreadsheetId"])
        )


async def test_concurrent_tenants_under_faults_each_get_one_sheet(stack: Stack) -> None:
    """Faults spread over several tenants at once still give one sheet and one event each."""
    stack.emulator.add_fault(target="sheets", status=503, count=2)
    stack.emulator.add_fault(target="make", status=502, count=2)
    responses = await asyncio.gather(*(stack.signup(f"busy-{i}", "pro") for i in range(4)))
    tenant_ids = [r.json()["tenantId"] for r in responses]
    for tenant_id in tenant_ids:
        await stack.wait_for(tenant_id, "active")
        assert_exactly_once(stack.emulator, tenant_id)
