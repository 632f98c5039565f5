"""Signup to active through the real dev server, worker, API and emulators."""

from __future__ import annotations

import asyncio

from temporalio.client import WorkflowExecutionStatus

from syston.core.temporal import provision_workflow_id
from tests.support.stack import Stack


async def test_pro_signup_reaches_active_with_one_shared_sheet(stack: Stack) -> None:
    response = await stack.signup("syston-town", "pro")
    assert response.status_code == 202, response.text
    body = response.json()
    tenant_id = body["tenantId"]
    assert tenant_id.startswith("tenant_") and len(tenant_id) >= len("tenant_") + 16
    assert response.headers["location"] == f"/api/v1/tenants/{tenant_id}/provision-status"
    assert body["statusUrl"] == response.headers["location"]
    assert body["status"] == "processing" and body["plan"] == "pro"

    status = await stack.wait_for(tenant_id, "active")
    assert [s["name"] for s in status["steps"]] == [
        "create_sheet",
        "configure_webhook",
        "mark_active",
    ]
    assert all(s["status"] == "completed" and s["attempts"] == 1 for s in status["steps"])
    assert status["provisionedAt"] is not None and status["error"] is None
    assert status["workflow"]["id"] == f"provision-{tenant_id}"

    state = stack.emulator.snapshot()
    sheets = [s for s in state["spreadsheets"] if s["appProperties"].get("tenantId") == tenant_id]
    assert len(sheets) == 1
    assert status["resources"]["spreadsheetId"] == sheets[0]["spreadsheetId"]
    assert {"emailAddress": "syston-town@example.org", "role": "writer"} in [
        {"emailAddress": p["emailAddress"], "role": p["role"]} for p in sheets[0]["permissions"]
    ]
    deliveries = [
        d
        for d in state["deliveries"]
        if d["body"].get("tenantId") == tenant_id and "event" in d["body"]
    ]
    assert len(deliveries) == 1
    assert deliveries[0]["body"]["event"] == "tenant.registered"
    assert deliveries[0]["body"]["spreadsheetId"] == sheets[0]["spreadsheetId"]
    assert deliveries[0]["headers"]["idempotency-key"]

    handle = stack.client.get_workflow_handle(provision_workflow_id(tenant_id))
    await asyncio.wait_for(handle.result(), 30)  # the DB says active just before the run ends
    description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.COMPLETED
    assert description.run_id == status["workflow"]["runId"]
    assert description.search_attributes.get("ProvisionStatus") == ["active"]
    assert description.search_attributes.get("TenantId") == [tenant_id]
    assert description.search_attributes.get("TenantPlan") == ["pro"]


async def test_starter_signup_skips_the_sheet(stack: Stack) -> None:
    response = await stack.signup("starter-fc", "starter")
    assert response.status_code == 202, response.text
    tenant_id = response.json()["tenantId"]
    status = await stack.wait_for(tenant_id, "active")
    assert [s["name"] for s in status["steps"]] == ["configure_webhook", "mark_active"]
    assert status["resources"]["spreadsheetId"] is None
    assert stack.emulator.snapshot()["spreadsheets"] == []


async def test_tenant_token_from_signup_reads_its_own_status_with_masked_webhook(
    stack: Stack,
) -> None:
    first = (await stack.signup("first-club", "starter")).json()
    second = (await stack.signup("second-club", "starter")).json()
    await stack.wait_for(first["tenantId"], "active")
    own = await stack.api.get(
        first["statusUrl"], headers={"Authorization": f"Bearer {first['jwt']}"}
    )
    assert own.status_code == 200
    webhook = own.json()["resources"]["webhookUrl"]
    assert webhook is not None and "/make/hooks/platform" not in webhook
    admin_view = await stack.status(first["tenantId"])
    assert admin_view["resources"]["webhookUrl"].endswith("/make/hooks/platform")

    other = await stack.api.get(
        second["statusUrl"], headers={"Authorization": f"Bearer {first['jwt']}"}
    )
    assert other.status_code == 403
    assert other.json()["reason"] == "tenant_mismatch"
    assert other.headers["content-type"] == "application/problem+json"


async def test_whoami_returns_the_signup_claims(stack: Stack) -> None:
    body = (await stack.signup("whoami-club", "starter")).json()
    response = await stack.api.get("/whoami", headers={"Authorization": f"Bearer {body['jwt']}"})
    assert response.status_code == 200
    claims = response.json()
    assert claims["tenant_id"] == body["tenantId"]
    assert claims["aud"] == "syston-mobile"
    assert sorted(claims["roles"]) == ["owner", "tenant_admin"]
