"""Admin webhook routes: the URL policy wired into `POST /api/v1/admin/tenant/webhook`, and test
deliveries to the platform hook (emulator) and to a tenant URL the delivery client refuses."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import httpx
import pytest

from syston.core.temporal import provision_workflow_id
from tests.support.problems import assert_problem

if TYPE_CHECKING:
    from tests.support.admin_stack import AdminStack, StartStack

WEBHOOK = "/api/v1/admin/tenant/webhook"
GOOD_URL = "https://hook.eu1.make.com/abcdef0123456789secret"


async def set_webhook(stack: AdminStack, tenant: str, url: str) -> httpx.Response:
    return await stack.api.post(
        WEBHOOK,
        json={"tenant": tenant, "make_webhook_url": url},
        headers=stack.admin_headers(),
    )


async def test_an_allowed_public_host_is_stored_canonical_and_shown_unmasked_to_admins(
    admin_stack: AdminStack, caplog: pytest.LogCaptureFixture
) -> None:
    tenant_id, tenant_jwt = await admin_stack.tenant("webhook-ok")
    caplog.set_level(logging.INFO)

    response = await set_webhook(
        admin_stack, tenant_id, "https://HOOK.eu1.Make.com./abcdef0123456789secret#frag"
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["tenantId"] == tenant_id
    assert body["webhookUrl"] == GOOD_URL
    assert body["updatedAt"].endswith("Z")
    assert admin_stack.resolver.asked == ["hook.eu1.make.com"]
    admin_view = await admin_stack.status(tenant_id)
    assert admin_view["resources"]["webhookUrl"] == GOOD_URL
    tenant_view = await admin_stack.api.get(
        f"/api/v1/tenants/{tenant_id}/provision-status",
        headers={"Authorization": f"Bearer {tenant_jwt}"},
    )
    assert tenant_view.json()["resources"]["webhookUrl"] != GOOD_URL
    events = [r for r in caplog.records if getattr(r, "event", None) == "webhook_updated"]
    assert len(events) == 1
    assert events[0].tenant_id == tenant_id  # type: ignore[attr-defined]
    assert "secret" not in caplog.text.replace("jwt_secret", "")
    detail = await admin_stack.api.get(
        f"/api/v1/admin/tenants/{tenant_id}", headers=admin_stack.admin_headers()
    )
    audit = detail.json()["audit"]
    assert audit[0]["action"] == "webhook_updated" and audit[0]["actor"] == "admin"
    assert "secret" not in str(audit)


async def test_unknown_tenant_is_404_before_any_url_check(admin_stack: AdminStack) -> None:
    response = await set_webhook(admin_stack, "tenant_doesnotexist", "http://127.0.0.1:22/x")

    assert_problem(response, 404, "TENANT_NOT_FOUND")
    assert admin_stack.resolver.asked == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://user:pw@hook.eu1.make.com/x", "credentials_in_url"),
        ("http://hook.eu1.make.com/x", "not_https"),
        ("https://hook.eu1.make.com:8443/x", "bad_port"),
        ("https://0x7f000001/x", "ip_literal"),
        ("https://[::ffff:127.0.0.1]/x", "ip_literal"),
        ("https://make.com.evil.net/x", "host_not_allowed"),
        ("https://private.make.com/x", "private_address"),
        ("https://gone.make.com/x", "unresolvable"),
    ],
)
async def test_each_policy_reason_is_a_422_with_that_reason_and_stores_nothing(
    admin_stack: AdminStack, url: str, reason: str
) -> None:
    admin_stack.resolver.answers.update(
        {"private.make.com": ["52.29.10.21", "10.0.0.5"], "gone.make.com": []}
    )
    tenant_id, _ = await admin_stack.tenant(f"webhook-{reason.replace('_', '-')}")

    body = assert_problem(
        await set_webhook(admin_stack, tenant_id, url), 422, "WEBHOOK_URL_REJECTED"
    )

    assert body["reason"] == reason
    assert "/x" not in body["detail"]
    assert (await admin_stack.status(tenant_id))["resources"]["webhookUrl"] is None


@pytest.mark.parametrize("url", ["", "not a url", "https://"])
async def test_an_empty_or_non_url_value_is_validation(admin_stack: AdminStack, url: str) -> None:
    tenant_id, _ = await admin_stack.tenant("webhook-junk")

    body = assert_problem(await set_webhook(admin_stack, tenant_id, url), 422, "VALIDATION")

    assert body["errors"][0]["field"] == "make_webhook_url"


async def test_a_test_event_goes_to_the_platform_hook_when_the_tenant_has_none(
    admin_stack: AdminStack,
) -> None:
    tenant_id, _ = await admin_stack.tenant("webhook-test-platform")

    response = await admin_stack.api.post(
        f"/api/v1/admin/tenants/{tenant_id}/webhook/test", headers=admin_stack.admin_headers()
    )

    assert response.status_code == 200, response.text
    assert response.json() == {"delivered": True, "status": 200, "error": None}
    deliveries = [
        d
        for d in admin_stack.emulator.snapshot()["deliveries"]
        if d["body"].get("tenantId") == tenant_id
    ]
    assert len(deliveries) == 1
    assert deliveries[0]["hookId"] == "platform"
    assert deliveries[0]["body"]["event"] == "tenant.webhook_test"
    headers = {k.lower(): v for k, v in deliveries[0]["headers"].items()}
    assert headers["idempotency-key"]


async def test_platform_hook_failure_is_an_answer_not_a_5xx(admin_stack: AdminStack) -> None:
    tenant_id, _ = await admin_stack.tenant("webhook-test-down")
    admin_stack.emulator.add_fault(target="make", mode="error", status=503, count=1)

    response = await admin_stack.api.post(
        f"/api/v1/admin/tenants/{tenant_id}/webhook/test", headers=admin_stack.admin_headers()
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["delivered"] is False and body["status"] == 503
    assert body["error"].startswith("UPSTREAM_UNAVAILABLE")
    assert admin_stack.emulator.url not in body["error"]


async def test_a_tenant_url_that_now_resolves_to_loopback_is_refused_at_delivery(
    admin_stack: AdminStack,
) -> None:
    tenant_id, _ = await admin_stack.tenant("webhook-test-rebind")
    assert (await set_webhook(admin_stack, tenant_id, GOOD_URL)).status_code == 200
    admin_stack.resolver.answers["hook.eu1.make.com"] = ["127.0.0.1"]  # DNS rebinding
    before = len(admin_stack.emulator.snapshot()["deliveries"])

    response = await admin_stack.api.post(
        f"/api/v1/admin/tenants/{tenant_id}/webhook/test", headers=admin_stack.admin_headers()
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["delivered"] is False and body["status"] is None
    assert body["error"].split(":")[0] == "private_address"
    assert "abcdef0123456789secret" not in body["error"]
    assert len(admin_stack.emulator.snapshot()["deliveries"]) == before


async def test_webhook_test_for_an_unknown_tenant_is_404(admin_stack: AdminStack) -> None:
    response = await admin_stack.api.post(
        "/api/v1/admin/tenants/tenant_nope/webhook/test", headers=admin_stack.admin_headers()
    )

    assert_problem(response, 404, "TENANT_NOT_FOUND")


async def test_a_tenant_without_its_own_url_follows_the_platform_hook_when_it_moves(
    start_admin_stack: StartStack,
) -> None:
    async with start_admin_stack(worker=True) as stack:
        tenant_id, tenant_jwt = await stack.tenant("follows-platform")
        await stack.wait_for(tenant_id, "active")
    moved = stack.emulator.hook_url("moved-platform-hook")

    # the operator points MAKE_WEBHOOK_URL elsewhere and restarts the service
    async with start_admin_stack(worker=True, make_webhook_url=moved) as stack:
        assert (await stack.status(tenant_id))["resources"]["webhookUrl"] == moved
        tenant_view = await stack.api.get(
            f"/api/v1/tenants/{tenant_id}/provision-status",
            headers={"Authorization": f"Bearer {tenant_jwt}"},
        )
        masked = tenant_view.json()["resources"]["webhookUrl"]
        assert masked != moved and masked.endswith(moved[-4:])

        test = await stack.api.post(
            f"/api/v1/admin/tenants/{tenant_id}/webhook/test", headers=stack.admin_headers()
        )
        assert test.json() == {"delivered": True, "status": 200, "error": None}

        requeued = await stack.api.post(
            "/internal/provision/queue",
            json={"tenantId": tenant_id, "force": True},
            headers=stack.service_headers(),
        )
        assert requeued.json()["action"] == "restarted"
        run = stack.client.get_workflow_handle(
            provision_workflow_id(tenant_id), run_id=requeued.json()["runId"]
        )
        await asyncio.wait_for(run.result(), 30)
        assert (await stack.status(tenant_id))["status"] == "active"
        deliveries = [
            d
            for d in stack.emulator.snapshot()["deliveries"]
            if d["body"].get("tenantId") == tenant_id
        ]
        # the signed lifecycle events (`type`, delivered asynchronously) follow the hook too
        assert {d["hookId"] for d in deliveries if "type" in d["body"]} <= {
            "platform",
            "moved-platform-hook",
        }
        hooks = [(d["hookId"], d["body"]["event"]) for d in deliveries if "event" in d["body"]]
        assert hooks == [
            ("platform", "tenant.registered"),
            ("moved-platform-hook", "tenant.webhook_test"),
            ("moved-platform-hook", "tenant.registered"),
        ]


async def test_an_admin_set_url_stays_the_tenants_own_when_the_platform_hook_moves(
    start_admin_stack: StartStack,
) -> None:
    async with start_admin_stack() as stack:
        tenant_id, _ = await stack.tenant("keeps-its-own")
        assert (await set_webhook(stack, tenant_id, GOOD_URL)).status_code == 200

    async with start_admin_stack(make_webhook_url=stack.emulator.hook_url("moved")) as stack:
        assert (await stack.status(tenant_id))["resources"]["webhookUrl"] == GOOD_URL
