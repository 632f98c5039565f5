"""Admin tenant routes: keyset-paginated list with filters, unmasked detail, status override
with its audit trail (SQLite and PostgreSQL for the list, whose SQL is the portable part)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.support.problems import assert_problem

if TYPE_CHECKING:
    from tests.support.admin_stack import AdminStack, StartStack

TENANTS = "/api/v1/admin/tenants"


async def list_all(stack: AdminStack, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Every item, following nextCursor; and how many pages that took."""
    items: list[dict[str, Any]] = []
    cursor, pages = None, 0
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await stack.api.get(TENANTS, params=query, headers=stack.admin_headers())
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        pages += 1
        cursor = body["nextCursor"]
        if cursor is None:
            return items, pages


async def test_the_list_pages_through_every_tenant_once_newest_first_and_filters(
    start_admin_stack: StartStack, database_url: str
) -> None:
    async with start_admin_stack(database_url) as stack:
        ids = [
            (await stack.tenant(f"list-{i}", "pro" if i % 2 else "starter"))[0] for i in range(5)
        ]
        override = await stack.api.post(
            f"{TENANTS}/{ids[1]}/status",
            json={"status": "failed", "reason": "test"},
            headers=stack.admin_headers(),
        )
        assert override.status_code == 200

        items, pages = await list_all(stack, limit=2)
        assert [i["tenantId"] for i in items] == ids[::-1]
        assert pages == 3
        assert items[-1]["ownerEmail"] == "list-0@example.org"
        assert items[-1]["clubName"] == "Club list-0" and items[-1]["slug"] == "list-0"

        pro, _ = await list_all(stack, plan="pro")
        assert {i["tenantId"] for i in pro} == {ids[1], ids[3]}
        failed, _ = await list_all(stack, status="failed", plan="")
        assert [i["tenantId"] for i in failed] == [ids[1]]
        everything, _ = await list_all(stack, status="", plan="")
        assert len(everything) == 5


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "not-a-cursor"},
        {"cursor": "WyJ4Il0"},  # base64 of '["x"]'
        {"limit": 0},
        {"limit": 201},
        {"status": "sleeping"},
        {"plan": "gold"},
    ],
)
async def test_bad_list_parameters_are_validation(
    admin_stack: AdminStack, params: dict[str, Any]
) -> None:
    response = await admin_stack.api.get(
        TENANTS, params=params, headers=admin_stack.admin_headers()
    )

    body = assert_problem(response, 422, "VALIDATION")
    assert body["errors"][0]["field"] in params


async def test_detail_has_steps_unmasked_resources_owner_and_audit(
    admin_stack: AdminStack,
) -> None:
    tenant_id, _ = await admin_stack.tenant("detail-club", "pro")

    response = await admin_stack.api.get(
        f"{TENANTS}/{tenant_id}", headers=admin_stack.admin_headers()
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["tenantId"] == tenant_id and body["slug"] == "detail-club"
    assert body["ownerEmail"] == "detail-club@example.org"
    assert body["clubName"] == "Club detail-club"
    assert [s["name"] for s in body["steps"]] == [
        "create_sheet",
        "configure_webhook",
        "mark_active",
    ]
    assert body["workflow"]["id"] == f"provision-{tenant_id}"
    assert body["audit"] == []


async def test_detail_of_an_unknown_tenant_is_404(admin_stack: AdminStack) -> None:
    response = await admin_stack.api.get(
        f"{TENANTS}/tenant_nope", headers=admin_stack.admin_headers()
    )

    assert_problem(response, 404, "TENANT_NOT_FOUND")


async def test_override_to_active_stamps_provisioned_at_and_is_audited(
    admin_stack: AdminStack,
) -> None:
    tenant_id, _ = await admin_stack.tenant("override-club")
    headers = {"Authorization": f"Bearer {admin_stack.tokens.issue_admin('ops-jane')}"}

    response = await admin_stack.api.post(
        f"{TENANTS}/{tenant_id}/status",
        json={"status": "active", "reason": "sheet and webhook verified by hand"},
        headers=headers,
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["tenantId"] == tenant_id
    assert (body["previousStatus"], body["status"]) == ("processing", "active")
    assert body["provisionedAt"] is not None
    status = await admin_stack.status(tenant_id)
    assert status["status"] == "active" and status["provisionedAt"] == body["provisionedAt"]
    detail = (await admin_stack.api.get(f"{TENANTS}/{tenant_id}", headers=headers)).json()
    assert detail["audit"][0]["actor"] == "ops-jane"
    assert detail["audit"][0]["action"] == "status_override"
    assert detail["audit"][0]["detail"] == {
        "from": "processing",
        "to": "active",
        "reason": "sheet and webhook verified by hand",
    }

    again = await admin_stack.api.post(
        f"{TENANTS}/{tenant_id}/status",
        json={"status": "suspended", "reason": "unpaid"},
        headers=headers,
    )
    assert again.json()["previousStatus"] == "active"
    assert again.json()["provisionedAt"] == body["provisionedAt"]


@pytest.mark.parametrize(
    "body",
    [
        {"status": "sleeping", "reason": "x"},
        {"status": "active"},
        {"status": "active", "reason": "   "},
        {"status": "active", "reason": "x", "extra": 1},
    ],
)
async def test_override_validation(admin_stack: AdminStack, body: dict[str, Any]) -> None:
    tenant_id, _ = await admin_stack.tenant("override-bad")

    response = await admin_stack.api.post(
        f"{TENANTS}/{tenant_id}/status", json=body, headers=admin_stack.admin_headers()
    )

    assert_problem(response, 422, "VALIDATION")
    assert (await admin_stack.status(tenant_id))["status"] == "processing"


async def test_override_of_an_unknown_tenant_is_404(admin_stack: AdminStack) -> None:
    response = await admin_stack.api.post(
        f"{TENANTS}/tenant_nope/status",
        json={"status": "active", "reason": "x"},
        headers=admin_stack.admin_headers(),
    )

    assert_problem(response, 404, "TENANT_NOT_FOUND")
