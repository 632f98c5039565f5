"""Suspension and reactivation: immediate, audited, announced by signed events; while
suspended the tenant's own tokens are refused on every tenant route, admin and service tokens
are not."""

from __future__ import annotations

from tests.lifecycle.helpers import active_tenant, admin_detail, admin_post, wait_events
from tests.support.stack import Stack


async def test_suspend_and_reactivate(db_stack: Stack) -> None:
    stack = db_stack
    tenant_id, token = await active_tenant(stack, "suspend-fc", "starter")
    own = {"Authorization": f"Bearer {token}"}
    status_url = f"/api/v1/tenants/{tenant_id}/provision-status"

    suspended = await admin_post(stack, f"{tenant_id}/suspend", {"reason": "unpaid invoice"})
    assert suspended.status_code == 200, suspended.text
    assert suspended.json() == {
        "tenantId": tenant_id,
        "status": "suspended",
        "previousStatus": "active",
    }
    refused = await stack.api.get(status_url, headers=own)
    assert refused.status_code == 403
    assert refused.json()["code"] == "FORBIDDEN" and refused.json()["reason"] == "tenant_suspended"
    plan = await stack.api.post(
        f"/api/v1/tenants/{tenant_id}/plan", json={"plan": "pro"}, headers=own
    )
    assert plan.status_code == 403 and plan.json()["reason"] == "tenant_suspended"
    assert (await stack.status(tenant_id))["status"] == "suspended"  # admin still reads
    service = await stack.api.get(status_url, headers=stack.service_headers())
    assert service.status_code == 200

    requeue = await stack.api.post(
        "/internal/provision/queue",
        json={"tenantId": tenant_id, "force": True},
        headers=stack.service_headers(),
    )
    assert requeue.status_code == 409 and requeue.json()["code"] == "TENANT_NOT_ACTIVE"
    again = await admin_post(stack, f"{tenant_id}/suspend", {"reason": "twice"})
    assert again.status_code == 200 and again.json()["previousStatus"] == "suspended"

    back = await admin_post(stack, f"{tenant_id}/reactivate", {"reason": "paid"})
    assert back.status_code == 200, back.text
    assert back.json() == {"tenantId": tenant_id, "status": "active", "previousStatus": "suspended"}
    assert (await stack.api.get(status_url, headers=own)).status_code == 200
    noop = await admin_post(stack, f"{tenant_id}/reactivate", {"reason": "again"})
    assert noop.status_code == 200 and noop.json()["previousStatus"] == "active"

    events = await wait_events(stack, tenant_id, "tenant.suspended", "tenant.reactivated")
    types = [e["body"]["type"] for e in events]
    assert types == ["tenant.provisioned", "tenant.suspended", "tenant.reactivated"]
    assert events[1]["body"]["data"] == {
        "plan": "starter",
        "status": "suspended",
        "previousStatus": "active",
    }
    assert len({e["headers"]["webhook-id"] for e in events}) == 3

    audit = [(e["action"], e["actor"]) for e in (await admin_detail(stack, tenant_id))["audit"]]
    assert ("tenant_suspended", "admin") in audit and ("tenant_reactivated", "admin") in audit
    assert len([a for a in audit if a[0] == "tenant_suspended"]) == 1  # the no-op is not


async def test_only_active_tenants_are_suspended(stack: Stack) -> None:
    stack.emulator.add_fault(target="sheets", status=403)  # provisioning stops: failed
    response = await stack.signup("stopped-fc", "pro")
    tenant_id = response.json()["tenantId"]
    await stack.wait_for(tenant_id, "failed")
    (failed,) = await wait_events(stack, tenant_id, "tenant.failed")
    assert failed["body"]["data"] == {
        "plan": "pro",
        "status": "failed",
        "previousStatus": "processing",
    }
    for action in ("suspend", "reactivate"):
        refused = await admin_post(stack, f"{tenant_id}/{action}", {"reason": "x"})
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "TENANT_NOT_ACTIVE"
    missing = await admin_post(stack, "tenant_doesnotexist0000/suspend", {"reason": "x"})
    assert missing.status_code == 404 and missing.json()["code"] == "TENANT_NOT_FOUND"
    tenant_token = {"Authorization": f"Bearer {response.json()['jwt']}"}
    forbidden = await stack.api.post(
        f"/api/v1/admin/tenants/{tenant_id}/suspend", json={"reason": "x"}, headers=tenant_token
    )
    assert forbidden.status_code == 403
