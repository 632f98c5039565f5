"""`syston plan|suspend|reactivate|offboard` (syston.cli.lifecycle_commands over
syston.cli.ops.tenant_call) against the in-process service: one line per change, and the API's
refusal as an OpsError naming its code."""

from __future__ import annotations

from typing import Any

import pytest

from syston.cli.lifecycle_commands import describe
from syston.cli.ops import OpsError, tenant_call
from tests.lifecycle.helpers import active_tenant
from tests.support.stack import Stack


async def call(stack: Stack, tenant_id: str, method: str, tail: str, body: Any = None) -> str:
    """What the command prints for one call."""
    path = f"/api/v1/admin/tenants/{tenant_id}{tail}"
    answer = await tenant_call(
        stack.api, tenant_id, stack.tokens.issue_admin, method, path, "lifecycle", json=body
    )
    return describe(answer)


async def test_the_lifecycle_commands_print_what_changed(stack: Stack) -> None:
    tenant_id, _ = await active_tenant(stack, "cli-fc", "starter")
    reason = {"reason": "r"}
    suspended = await call(stack, tenant_id, "POST", "/suspend", reason)
    assert suspended == f"{tenant_id}  active → suspended"
    with pytest.raises(OpsError) as refused:
        await call(stack, tenant_id, "POST", "/plan", {"plan": "pro"})
    assert "409 TENANT_NOT_ACTIVE" in str(refused.value)
    assert await call(stack, tenant_id, "POST", "/reactivate", reason) == (
        f"{tenant_id}  suspended → active"
    )
    same = await call(stack, tenant_id, "POST", "/plan", {"plan": "starter"})
    assert same.startswith(f"{tenant_id}  plan starter → starter: unchanged")

    scheduled = await call(stack, tenant_id, "DELETE", "", {"graceSeconds": 600})
    assert "deprovisioning; deleted after" in scheduled
    assert f"workflow offboard-{tenant_id}" in scheduled
    cancelled = await call(stack, tenant_id, "POST", "/offboard/cancel")
    assert cancelled == f"{tenant_id}  status active"
    with pytest.raises(OpsError) as missing:
        await call(stack, "tenant_nope", "POST", "/suspend", reason)
    assert "tenant_nope not found" in str(missing.value)
