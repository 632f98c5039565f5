"""Every route that takes a tenant id, called with another tenant's token: refused, no data leaks.

(Admin routes with a tenant id are admin-only; their audience tests live with the admin routes.)
"""

from __future__ import annotations

import pytest

from syston.tokens import TokenService
from tests.support.stack import Stack

QUEUE = "/internal/provision/queue"


def status_path(tenant_id: str) -> str:
    return f"/api/v1/tenants/{tenant_id}/provision-status"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def two_tenants(stack: Stack) -> tuple[tuple[str, str], tuple[str, str]]:
    """(tenant id, its signup token) for two clubs."""
    out = []
    for slug in ("alpha-fc", "bravo-fc"):
        response = await stack.signup(slug, "starter")
        assert response.status_code == 202, response.text
        out.append((response.json()["tenantId"], response.json()["jwt"]))
    for tenant_id, _ in out:
        # settled, so no test ends with provisioning mid-flight (worker shutdown then waits)
        await stack.wait_for(tenant_id, "active")
    return out[0], out[1]


async def test_provision_status_refuses_another_tenants_token(stack: Stack) -> None:
    (a_id, a_jwt), (b_id, b_jwt) = await two_tenants(stack)
    for own_id, own_jwt, other_id in ((a_id, a_jwt, b_id), (b_id, b_jwt, a_id)):
        mine = await stack.api.get(status_path(own_id), headers=bearer(own_jwt))
        assert mine.status_code == 200 and mine.json()["tenantId"] == own_id
        theirs = await stack.api.get(status_path(other_id), headers=bearer(own_jwt))
        assert theirs.status_code == 403, theirs.text
        body = theirs.json()
        assert body["code"] == "FORBIDDEN" and body["reason"] == "tenant_mismatch"
        assert other_id not in theirs.text.replace(status_path(other_id), "")
        assert "fc" not in body["detail"]  # neither club's slug


async def test_an_unknown_tenant_id_is_403_for_a_tenant_token_not_a_404(stack: Stack) -> None:
    # a 404 would tell a tenant which ids exist
    (_, a_jwt), _ = await two_tenants(stack)
    response = await stack.api.get(status_path("tenant_doesnotexist0000"), headers=bearer(a_jwt))
    assert response.status_code == 403 and response.json()["reason"] == "tenant_mismatch"
    admin = await stack.api.get(
        status_path("tenant_doesnotexist0000"), headers=stack.admin_headers()
    )
    assert admin.status_code == 404 and admin.json()["code"] == "TENANT_NOT_FOUND"


async def test_a_minimal_tenant_token_for_another_tenant_is_refused(
    stack: Stack, tokens: TokenService
) -> None:
    (a_id, _), (b_id, _) = await two_tenants(stack)
    # a validly signed token of tenant A with only one role, and the same for B
    for token_tenant, target in ((a_id, b_id), (b_id, a_id)):
        token = tokens.issue_tenant(token_tenant, "user_x", roles=["owner"])
        own = await stack.api.get(status_path(token_tenant), headers=bearer(token))
        assert own.status_code == 200
        other = await stack.api.get(status_path(target), headers=bearer(token))
        assert other.status_code == 403 and other.json()["reason"] == "tenant_mismatch"


async def test_admin_and_service_tokens_read_any_tenant(stack: Stack) -> None:
    (a_id, _), (b_id, _) = await two_tenants(stack)
    for headers in (stack.admin_headers(), stack.service_headers()):
        for tenant_id in (a_id, b_id):
            response = await stack.api.get(status_path(tenant_id), headers=headers)
            assert response.status_code == 200 and response.json()["tenantId"] == tenant_id


@pytest.mark.parametrize("which", ["own", "other"])
async def test_the_internal_queue_refuses_tenant_tokens_for_any_tenant(
    stack: Stack, which: str
) -> None:
    (a_id, a_jwt), (b_id, _) = await two_tenants(stack)
    target = a_id if which == "own" else b_id
    response = await stack.api.post(
        QUEUE, json={"tenantId": target, "force": True}, headers=bearer(a_jwt)
    )
    assert response.status_code == 403, response.text
    assert response.json()["reason"] == "invalid_audience"
    # and an admin token is not a service token either
    admin = await stack.api.post(QUEUE, json={"tenantId": target}, headers=stack.admin_headers())
    assert admin.status_code == 403 and admin.json()["reason"] == "invalid_audience"
    service = await stack.api.post(
        QUEUE, json={"tenantId": target}, headers=stack.service_headers()
    )
    assert service.status_code == 200 and service.json()["tenantId"] == target


async def test_a_token_for_a_tenant_forged_with_another_secret_is_401(stack: Stack) -> None:
    _, (b_id, _) = await two_tenants(stack)
    forger = TokenService([b"not-the-platform-secret-0123456789abcdef"], stack.settings.jwt_issuer)
    forged = forger.issue_tenant(b_id, "user_evil")
    response = await stack.api.get(status_path(b_id), headers=bearer(forged))
    assert response.status_code == 401 and response.json()["reason"] == "invalid_signature"
    assert response.headers["www-authenticate"].startswith("Bearer")
