"""What the lifecycle tests share: an active tenant, admin calls, signed events as received."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from tests.support.provisioning import events_of
from tests.support.stack import TEST_SIGNING_SECRET, Stack


async def active_tenant(stack: Stack, slug: str, plan: str = "pro") -> tuple[str, str]:
    """Sign up and wait until active: (tenant id, its tenant token)."""
    response = await stack.signup(slug, plan)
    assert response.status_code == 202, response.text
    body = response.json()
    await stack.wait_for(body["tenantId"], "active")
    return body["tenantId"], body["jwt"]


async def admin_post(stack: Stack, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
    return await stack.api.post(
        f"/api/v1/admin/tenants/{path}", json=body, headers=stack.admin_headers()
    )


async def offboard(stack: Stack, tenant_id: str, **body: Any) -> httpx.Response:
    return await stack.api.request(
        "DELETE",
        f"/api/v1/admin/tenants/{tenant_id}",
        json=body or None,
        headers=stack.admin_headers(),
    )


async def admin_detail(stack: Stack, tenant_id: str) -> dict[str, Any]:
    response = await stack.api.get(
        f"/api/v1/admin/tenants/{tenant_id}", headers=stack.admin_headers()
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def wait_events(
    stack: Stack, tenant_id: str, *types: str, timeout: float = 30.0
) -> list[dict[str, Any]]:
    """Wait until the tenant's signed events include `types` (in order); every one of them
    verified with the reference library. Returns all of the tenant's event deliveries."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        received = events_of(stack.emulator, tenant_id)
        seen = [d["body"]["type"] for d in received]
        if all(t in seen for t in types):
            for delivery in received:
                Webhook(TEST_SIGNING_SECRET).verify(delivery["rawBody"], delivery["headers"])
            return received
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"events {types} never arrived for {tenant_id}; got {seen}")
        await asyncio.sleep(0.1)


async def wait_operation(
    stack: Stack, tenant_id: str, status: str, timeout: float = 60.0
) -> dict[str, Any]:
    """Poll provision-status until its `operation` shows `status`; the whole body."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        body = await stack.status(tenant_id)
        if (body.get("operation") or {}).get("status") == status:
            return body
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"operation of {tenant_id} never showed {status!r}: {body}")
        await asyncio.sleep(0.1)
