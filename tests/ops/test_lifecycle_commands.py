"""`syston plan|suspend|reactivate|offboard` (syston.cli.lifecycle_commands over
syston.cli.ops.admin_call) against the in-process service: one line per change, and the API's
refusal as an OpsError naming its code."""

from __future__ import annotations

import pytest

from syston.cli.lifecycle_commands import describe
from syston.cli.ops import OpsError, admin_call
from tests.conftest import Stack
from tests.lifecycle.helpers import active_tenant


async def test_the_lifecycle_commands_print_what_changed(stack: Stack) -> None:
    tenant_id, _ = await active_tenant(stack, "cli-fc", "starter")
    base = f"/api/v1/admin/tenants/{tenant_id}"
    token = stack.tokens.issue_admin

    suspended = await admin_call(
        stack.api, "POST", f"{base}/suspend", "suspend", token, {"reason": "r"}
    )
    assert describe(suspended) == f"{tenant_id}  active → suspended"
    with pytest.raises(OpsError) as refused:
        await admin_call(stack.api, "POST", f"{base}/plan", "plan change", token, {"plan": "pro"})
    assert "409 TENANT_NOT_ACTIVE" in str(refused.value)
    back = await admin_call(
        stack.api, "POST", f"{base}/reactivate", "reactivate", token, {"reason": "r"}
    )
    assert describe(back) == f"{tenant_id}  suspended → active"
    same = await admin_call(
        stack.api, "POST", f"{base}/plan", "plan change", token, {"plan": "starter"}
    )
    assert describe(same).startswith(f"{tenant_id}  plan starter → starter: unchanged")

    scheduled = await admin_call(
        stack.api, "DELETE", base, "offboarding", token, {"graceSeconds": 600}
    )
    assert "deprovisioning; deleted after" in describe(scheduled)
    assert f"workflow offboard-{tenant_id}" in describe(scheduled)
    cancelled = await admin_call(stack.api, "POST", f"{base}/offboard/cancel", "cancel", token)
    assert describe(cancelled) == f"{tenant_id}  status active"
    with pytest.raises(OpsError) as missing:
        await admin_call(
            stack.api,
            "POST",
            "/api/v1/admin/tenants/tenant_nope/suspend",
            "suspend",
            token,
            {"reason": "r"},
        )
    assert "not found" in str(missing.value)
