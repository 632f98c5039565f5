"""Who may call the admin routes, and revocation, cut-off and rotation end to end.

Every admin route refuses tenant tokens (their own tenant or another), service tokens and
admin-audience tokens without the admin role; every 401/403 emits `authz_deny` with its reason,
route and sub. A revoked `jti` or an `iat` before a cut-off (global or per tenant) is 403
`token_revoked` on every route, including `/whoami`.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import jwt
import pytest

from syston.tokens import TokenService

if TYPE_CHECKING:
    from tests.support.admin_stack import AdminStack, StartStack

NEXT_SECRET = "next-secret-9876543210-zyxwvutsrqponmlkjihgfedcba"


def admin_routes(tenant_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Every admin route with a body that would succeed for an admin."""
    base = "/api/v1/admin"
    return [
        (
            "POST",
            f"{base}/tenant/webhook",
            {"tenant": tenant_id, "make_webhook_url": "https://hook.eu1.make.com/abc"},
        ),
        ("POST", f"{base}/tenants/{tenant_id}/webhook/test", None),
        ("GET", f"{base}/tenants", None),
        ("GET", f"{base}/tenants/{tenant_id}", None),
        ("POST", f"{base}/tenants/{tenant_id}/status", {"status": "active", "reason": "x"}),
        ("POST", f"{base}/promo-codes", {"code": "AUTHZ"}),
        ("GET", f"{base}/promo-codes", None),
        ("POST", f"{base}/tokens/revoke", {"jti": "some-jti"}),
        ("DELETE", f"{base}/tokens/revoke/some-jti", None),
        (
            "POST",
            f"{base}/tokens/cutoff",
            {"notBefore": "2020-01-01T00:00:00Z", "tenantId": tenant_id},
        ),
        ("GET", f"{base}/stats", None),
        ("POST", f"{base}/tenants/{tenant_id}/plan", {"plan": "pro"}),
        ("POST", f"{base}/tenants/{tenant_id}/suspend", {"reason": "x"}),
        ("POST", f"{base}/tenants/{tenant_id}/reactivate", {"reason": "x"}),
        ("DELETE", f"{base}/tenants/{tenant_id}", {"graceSeconds": 60}),
        ("POST", f"{base}/tenants/{tenant_id}/offboard/cancel", None),
    ]


async def call(
    stack: AdminStack, method: str, path: str, body: dict[str, Any] | None, token: str | None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await stack.api.request(method, path, json=body, headers=headers)


def assert_denied(response: httpx.Response, status: int, reason: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["reason"] == reason
    assert body["code"] == ("UNAUTHORIZED" if status == 401 else "FORBIDDEN")


def jti_of(token: str) -> str:
    jti: str = jwt.decode(token, options={"verify_signature": False})["jti"]
    return jti


def tenant_token(stack: AdminStack, tenant_id: str, **claims: Any) -> str:
    return stack.token(aud="syston-mobile", roles=["owner"], tenant_id=tenant_id, **claims)


def test_the_route_table_here_covers_every_admin_route() -> None:
    from api.app import create_app
    from syston.core.settings import Settings

    app = create_app(Settings(jwt_secret=NEXT_SECRET))
    served = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/api/v1/admin")
        for method in operations
    }
    listed = {
        (method, path.replace("tenant_X", "{tenantId}").replace("some-jti", "{jti}"))
        for method, path, _ in admin_routes("tenant_X")
    }
    assert served == listed


@pytest.mark.parametrize("who", ["own_tenant", "other_tenant", "service", "admin_without_role"])
async def test_only_admins_pass_any_admin_route(
    admin_stack: AdminStack, who: str, caplog: pytest.LogCaptureFixture
) -> None:
    mine, my_token = await admin_stack.tenant("authz-mine")
    other, _ = await admin_stack.tenant("authz-other")
    token, tenant_id, reason, sub = {
        "own_tenant": (my_token, mine, "invalid_audience", None),
        "other_tenant": (my_token, other, "invalid_audience", None),
        "service": (admin_stack.tokens.issue_service("svc-1"), mine, "invalid_audience", "svc-1"),
        "admin_without_role": (
            admin_stack.token(roles=["viewer"], sub="not-an-admin"),
            mine,
            "role_mismatch",
            "not-an-admin",
        ),
    }[who]
    caplog.set_level(logging.INFO)
    routes = admin_routes(tenant_id)

    for method, path, body in routes:
        assert_denied(await call(admin_stack, method, path, body, token), 403, reason)

    denials = [r for r in caplog.records if getattr(r, "event", None) == "authz_deny"]
    assert len(denials) == len(routes)
    assert {r.reason for r in denials} == {reason}  # type: ignore[attr-defined]
    assert all(r.route.startswith("/api/v1/admin/") for r in denials)  # type: ignore[attr-defined]
    assert any("{tenantId}" in r.route for r in denials)  # type: ignore[attr-defined]
    if sub is not None:
        assert {r.sub for r in denials} == {sub}  # type: ignore[attr-defined]
    # Nothing was changed by the refused calls.
    detail = await admin_stack.api.get(
        f"/api/v1/admin/tenants/{mine}", headers=admin_stack.admin_headers()
    )
    assert detail.json()["status"] == "processing" and detail.json()["audit"] == []


async def test_no_token_is_401_with_www_authenticate_on_every_admin_route(
    admin_stack: AdminStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    for method, path, body in admin_routes("tenant_X"):
        response = await call(admin_stack, method, path, body, None)
        assert_denied(response, 401, "missing_token")
        assert response.headers["www-authenticate"].startswith("Bearer")

    denials = [r for r in caplog.records if getattr(r, "event", None) == "authz_deny"]
    expected = ["missing_token"] * len(admin_routes("tenant_X"))
    assert [r.reason for r in denials] == expected  # type: ignore[attr-defined]


async def test_a_revoked_token_is_refused_everywhere_until_un_revoked(
    admin_stack: AdminStack, caplog: pytest.LogCaptureFixture
) -> None:
    tenant_id, tenant_jwt = await admin_stack.tenant("revoke-club")
    victim_admin = admin_stack.tokens.issue_admin("ops-bob")
    caplog.set_level(logging.INFO)
    status_path = f"/api/v1/tenants/{tenant_id}/provision-status"

    for token in (tenant_jwt, victim_admin):
        response = await admin_stack.api.post(
            "/api/v1/admin/tokens/revoke",
            json={"jti": jti_of(token)},
            headers=admin_stack.admin_headers(),
        )
        assert response.status_code == 200, response.text
        assert response.json()["revoked"] is True and response.json()["revokedAt"]

    for path in ("/whoami", status_path):
        assert_denied(await call(admin_stack, "GET", path, None, tenant_jwt), 403, "token_revoked")
    for method, path, body in [("GET", "/whoami", None), *admin_routes(tenant_id)]:
        response = await call(admin_stack, method, path, body, victim_admin)
        assert_denied(response, 403, "token_revoked")
    revoked = [r for r in caplog.records if getattr(r, "event", None) == "token_revoked"]
    assert {r.jti for r in revoked} == {jti_of(tenant_jwt), jti_of(victim_admin)}  # type: ignore[attr-defined]
    assert (
        await call(admin_stack, "GET", status_path, None, admin_stack.tokens.issue_admin())
    ).status_code == 200

    response = await admin_stack.api.delete(
        f"/api/v1/admin/tokens/revoke/{jti_of(tenant_jwt)}", headers=admin_stack.admin_headers()
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"jti": jti_of(tenant_jwt), "revoked": False, "revokedAt": None}
    assert (await call(admin_stack, "GET", "/whoami", None, tenant_jwt)).status_code == 200
    assert (await call(admin_stack, "GET", status_path, None, tenant_jwt)).status_code == 200
    assert_denied(
        await call(admin_stack, "GET", "/whoami", None, victim_admin), 403, "token_revoked"
    )


@pytest.mark.parametrize("iat", [-1e15, -1e300, 1e15, 1e300, "yesterday"])
async def test_a_signed_token_with_an_absurd_iat_is_malformed(
    admin_stack: AdminStack, iat: Any
) -> None:
    token = admin_stack.token(iat=iat)

    response = await call(admin_stack, "GET", "/whoami", None, token)

    assert_denied(response, 401, "malformed_token")


async def test_revoking_twice_and_un_revoking_an_unknown_jti_are_both_fine(
    admin_stack: AdminStack,
) -> None:
    headers = admin_stack.admin_headers()
    first = await admin_stack.api.post(
        "/api/v1/admin/tokens/revoke", json={"jti": "j1"}, headers=headers
    )
    second = await admin_stack.api.post(
        "/api/v1/admin/tokens/revoke", json={"jti": "j1"}, headers=headers
    )
    unknown = await admin_stack.api.delete(
        "/api/v1/admin/tokens/revoke/never-seen", headers=headers
    )

    assert first.status_code == second.status_code == unknown.status_code == 200
    assert first.json()["revokedAt"] == second.json()["revokedAt"]


async def test_a_global_cutoff_refuses_older_tokens_of_every_kind(admin_stack: AdminStack) -> None:
    tenant_id, _ = await admin_stack.tenant("cutoff-all")
    hour_ago = int(time.time()) - 3600
    old_tenant = tenant_token(admin_stack, tenant_id, iat=hour_ago)
    old_admin = admin_stack.token(iat=hour_ago)
    not_before = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()

    response = await admin_stack.api.post(
        "/api/v1/admin/tokens/cutoff",
        json={"notBefore": not_before},
        headers=admin_stack.admin_headers(),
    )

    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "global" and response.json()["tenantId"] is None
    assert_denied(await call(admin_stack, "GET", "/whoami", None, old_tenant), 403, "token_revoked")
    assert_denied(
        await call(admin_stack, "GET", "/api/v1/admin/stats", None, old_admin), 403, "token_revoked"
    )
    fresh_tenant = tenant_token(admin_stack, tenant_id)
    assert (await call(admin_stack, "GET", "/whoami", None, fresh_tenant)).status_code == 200
    assert (
        await admin_stack.api.get("/api/v1/admin/stats", headers=admin_stack.admin_headers())
    ).status_code == 200


async def test_a_tenant_cutoff_refuses_only_that_tenants_older_tokens(
    admin_stack: AdminStack,
) -> None:
    target, _ = await admin_stack.tenant("cutoff-target")
    bystander, _ = await admin_stack.tenant("cutoff-bystander")
    hour_ago = int(time.time()) - 3600
    old_target = tenant_token(admin_stack, target, iat=hour_ago)
    old_bystander = tenant_token(admin_stack, bystander, iat=hour_ago)
    not_before = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()

    response = await admin_stack.api.post(
        "/api/v1/admin/tokens/cutoff",
        json={"notBefore": not_before, "tenantId": target},
        headers=admin_stack.admin_headers(),
    )

    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "tenant" and response.json()["tenantId"] == target
    target_status = f"/api/v1/tenants/{target}/provision-status"
    assert_denied(
        await call(admin_stack, "GET", target_status, None, old_target), 403, "token_revoked"
    )
    bystander_status = f"/api/v1/tenants/{bystander}/provision-status"
    assert (
        await call(admin_stack, "GET", bystander_status, None, old_bystander)
    ).status_code == 200
    assert (
        await call(admin_stack, "GET", "/api/v1/admin/stats", None, admin_stack.token(iat=hour_ago))
    ).status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"notBefore": "2020-01-01T00:00:00"}, 422, "VALIDATION"),  # no offset
        ({"notBefore": "yesterday"}, 422, "VALIDATION"),
        ({"notBefore": 0}, 422, "VALIDATION"),  # RFC 3339 strings only, not Unix time
        ({"notBefore": 1577836800}, 422, "VALIDATION"),
        ({"notBefore": "1577836800"}, 422, "VALIDATION"),
        ({"notBefore": "2999-01-01T00:00:00Z"}, 422, "VALIDATION"),  # the future
        ({"notBefore": "2020-01-01T00:00:00Z", "tenantId": "tenant_nope"}, 404, "TENANT_NOT_FOUND"),
    ],
)
async def test_cutoff_errors(
    admin_stack: AdminStack, body: dict[str, Any], status: int, code: str
) -> None:
    response = await admin_stack.api.post(
        "/api/v1/admin/tokens/cutoff", json=body, headers=admin_stack.admin_headers()
    )

    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert (
        await admin_stack.api.get("/whoami", headers=admin_stack.admin_headers())
    ).status_code == 200


@pytest.mark.parametrize("body", [{}, {"jti": ""}, {"jti": "x" * 129}, {"jti": 5}])
async def test_revoke_validation(admin_stack: AdminStack, body: dict[str, Any]) -> None:
    response = await admin_stack.api.post(
        "/api/v1/admin/tokens/revoke", json=body, headers=admin_stack.admin_headers()
    )

    assert response.status_code == 422 and response.json()["code"] == "VALIDATION"


async def test_rotation_accepts_next_secret_tokens_and_keeps_current_ones(
    start_admin_stack: StartStack,
) -> None:
    async with start_admin_stack(jwt_secret_next=NEXT_SECRET) as stack:
        tenant_id, signup_jwt = await stack.tenant("rotation-club")  # signed with JWT_SECRET
        issuer = stack.settings.jwt_issuer
        next_only = TokenService([NEXT_SECRET.encode()], issuer)
        next_admin = next_only.issue_admin("next-admin")
        next_tenant = next_only.issue_tenant(tenant_id, "user-next")
        stranger = TokenService([b"z" * 40], issuer).issue_admin()

        assert (await call(stack, "GET", "/whoami", None, next_admin)).json()["sub"] == "next-admin"
        assert (
            await call(stack, "GET", "/api/v1/admin/stats", None, next_admin)
        ).status_code == 200
        status_path = f"/api/v1/tenants/{tenant_id}/provision-status"
        assert (await call(stack, "GET", status_path, None, next_tenant)).status_code == 200
        assert (await call(stack, "GET", status_path, None, signup_jwt)).status_code == 200
        current_admin = stack.tokens.issue_admin()
        assert (
            await call(stack, "GET", "/api/v1/admin/tenants", None, current_admin)
        ).status_code == 200
        assert_denied(await call(stack, "GET", "/whoami", None, stranger), 401, "invalid_signature")
