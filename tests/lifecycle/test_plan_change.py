"""ChangePlan through the real dev server, worker, API and emulators: starter → pro creates and
shares one spreadsheet and re-announces the tenant, pro → starter keeps it; 202/200/409 as
documented; provision-status shows the operation; the tenant's own token may ask."""

from __future__ import annotations

from syston.core.temporal import plan_change_workflow_id
from tests.lifecycle.helpers import active_tenant, admin_post, wait_events, wait_operation
from tests.support.provisioning import deliveries_of, sheets_of, wait_listed
from tests.support.stack import Stack


async def test_starter_to_pro_and_back(stack: Stack) -> None:
    tenant_id, token = await active_tenant(stack, "growing-fc", "starter")
    own = {"Authorization": f"Bearer {token}"}
    stack.emulator.add_fault(target="sheets", mode="latency", latencyMs=1000, count=1)
    started = await stack.api.post(
        f"/api/v1/tenants/{tenant_id}/plan", json={"plan": "pro"}, headers=own
    )
    assert started.status_code == 202, started.text
    body = started.json()
    assert body["plan"] == "pro" and body["previousPlan"] == "starter"
    assert body["action"] == "started" and body["runId"]
    assert body["workflowId"] == plan_change_workflow_id(tenant_id)
    running = await stack.status(tenant_id)
    assert running["plan"] == "starter" and running["status"] == "active"
    assert running["operation"]["type"] == "plan_change"
    assert running["operation"]["status"] == "running"
    assert [s["name"] for s in running["operation"]["steps"]] == [
        "create_sheet",
        "announce",
        "apply_plan",
    ]
    busy = await admin_post(stack, f"{tenant_id}/plan", {"plan": "pro"})
    assert busy.status_code == 409 and busy.json()["code"] == "LIFECYCLE_IN_PROGRESS"
    listed = await wait_listed(
        stack.client, f'TenantId = "{tenant_id}" AND LifecycleOperation = "plan_change"'
    )
    assert listed == [plan_change_workflow_id(tenant_id)]

    done = await wait_operation(stack, tenant_id, "completed")
    assert done["plan"] == "pro" and done["status"] == "active"
    (sheet,) = sheets_of(stack.emulator, tenant_id)
    assert done["resources"]["spreadsheetId"] == sheet["spreadsheetId"]
    assert {"emailAddress": "growing-fc@example.org", "role": "writer"} in [
        {"emailAddress": p["emailAddress"], "role": p["role"]} for p in sheet["permissions"]
    ]
    announced = deliveries_of(stack.emulator, tenant_id)
    assert [d["body"]["spreadsheetId"] for d in announced] == [None, sheet["spreadsheetId"]]
    assert announced[0]["headers"]["idempotency-key"] != announced[1]["headers"]["idempotency-key"]
    events = await wait_events(stack, tenant_id, "tenant.plan_changed")
    changed = [e["body"] for e in events if e["body"]["type"] == "tenant.plan_changed"]
    assert changed[0]["data"] == {"plan": "pro", "status": "active", "previousPlan": "starter"}

    unchanged = await admin_post(stack, f"{tenant_id}/plan", {"plan": "pro"})
    assert unchanged.status_code == 200, unchanged.text
    assert unchanged.json()["action"] == "unchanged"

    down = await admin_post(stack, f"{tenant_id}/plan", {"plan": "starter"})
    assert down.status_code == 202, down.text
    back = await wait_operation(stack, tenant_id, "completed")
    assert back["plan"] == "starter"
    assert [s["name"] for s in back["operation"]["steps"]] == ["apply_plan"]
    assert back["resources"]["spreadsheetId"] == sheet["spreadsheetId"]  # kept
    assert len(sheets_of(stack.emulator, tenant_id)) == 1


async def test_only_an_active_tenant_changes_plan(stack: Stack) -> None:
    stack.emulator.add_fault(target="make", status=400)  # provisioning stops: failed
    response = await stack.signup("plan-failed-fc", "starter")
    tenant_id = response.json()["tenantId"]
    await stack.wait_for(tenant_id, "failed")
    refused = await admin_post(stack, f"{tenant_id}/plan", {"plan": "pro"})
    assert refused.status_code == 409 and refused.json()["code"] == "TENANT_NOT_ACTIVE"
    other = (await stack.signup("plan-other-fc", "starter")).json()
    mismatch = await stack.api.post(
        f"/api/v1/tenants/{tenant_id}/plan",
        json={"plan": "pro"},
        headers={"Authorization": f"Bearer {other['jwt']}"},
    )
    assert mismatch.status_code == 403 and mismatch.json()["reason"] == "tenant_mismatch"
    invalid = await admin_post(stack, f"{tenant_id}/plan", {"plan": "enterprise"})
    assert invalid.status_code == 422 and invalid.json()["code"] == "VALIDATION"
