"""Promo codes (created by admins, redeemed by signups) and the stats route, whose numbers come
from the database (SQLite and PostgreSQL) so every replica reports the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.support.problems import assert_problem

if TYPE_CHECKING:
    from tests.support.admin_stack import AdminStack, StartStack

PROMOS = "/api/v1/admin/promo-codes"
STATS = "/api/v1/admin/stats"


async def create(stack: AdminStack, **body: Any) -> httpx.Response:
    return await stack.api.post(PROMOS, json=body, headers=stack.admin_headers())


async def listed(stack: AdminStack) -> dict[str, dict[str, Any]]:
    response = await stack.api.get(PROMOS, headers=stack.admin_headers())
    assert response.status_code == 200, response.text
    return {p["code"]: p for p in response.json()["items"]}


async def test_a_created_code_is_redeemed_once_by_a_signup_and_listed_with_it(
    start_admin_stack: StartStack, database_url: str
) -> None:
    async with start_admin_stack(database_url) as stack:
        response = await create(
            stack, code=" Summer-10 ", plan="pro", maxRedemptions=5, expiresAt=None
        )
        assert response.status_code == 201, response.text
        assert response.json() == {
            "code": "SUMMER-10",
            "plan": "pro",
            "maxRedemptions": 5,
            "redemptions": 0,
            "expiresAt": None,
            "createdAt": response.json()["createdAt"],
        }

        signup = await stack.signup("promo-club", "pro", body={"promoCode": "summer-10"})
        assert signup.status_code == 202, signup.text
        wrong_plan = await stack.signup("promo-starter", "starter", body={"promoCode": "SUMMER-10"})
        assert_problem(wrong_plan, 422, "INVALID_PROMO")

        assert (await listed(stack))["SUMMER-10"]["redemptions"] == 1


async def test_codes_are_case_insensitive_so_a_duplicate_is_409(admin_stack: AdminStack) -> None:
    assert (await create(admin_stack, code="WELCOME")).status_code == 201

    assert_problem(await create(admin_stack, code="welcome", plan="starter"), 409, "PROMO_EXISTS")

    assert list(await listed(admin_stack)) == ["WELCOME"]


async def test_an_expired_code_may_be_created_but_never_redeems(admin_stack: AdminStack) -> None:
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    response = await create(admin_stack, code="OLD", expiresAt=past)
    assert response.status_code == 201, response.text
    assert response.json()["expiresAt"].endswith("Z")

    signup = await admin_stack.signup("late-club", body={"promoCode": "old"})

    assert_problem(signup, 422, "INVALID_PROMO")
    assert (await listed(admin_stack))["OLD"]["redemptions"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"code": ""},
        {"code": "two words"},
        {"code": "X" * 65},
        {"code": "OK", "plan": "gold"},
        {"code": "OK", "maxRedemptions": 0},
        {"code": "OK", "expiresAt": "2030-01-01T00:00:00"},  # no offset: not RFC 3339
        {"code": "OK", "expiresAt": "9999-12-31T23:59:59-01:00"},  # beyond year 9999 in UTC
        # RFC 3339 strings only: no numbers (or numeric strings) read as Unix time, no
        # date-time without seconds or with an offset lacking its colon
        {"code": "OK", "expiresAt": 0},
        {"code": "OK", "expiresAt": 1893456000},
        {"code": "OK", "expiresAt": 1.5e9},
        {"code": "OK", "expiresAt": "1893456000"},
        {"code": "OK", "expiresAt": "2030-01-01T00:00Z"},
        {"code": "OK", "expiresAt": "2030-01-01T00:00:00+0100"},
        {"code": "OK", "expiresAt": "2030-01-01"},
        {"code": "OK", "surprise": True},
    ],
)
async def test_invalid_promo_bodies_are_validation(
    admin_stack: AdminStack, body: dict[str, Any]
) -> None:
    assert_problem(await create(admin_stack, **body), 422, "VALIDATION")

    assert await listed(admin_stack) == {}


async def test_stats_count_tenants_signups_provisioning_time_and_denials(
    start_admin_stack: StartStack, database_url: str
) -> None:
    async with start_admin_stack(database_url, worker=True) as stack:
        ids = [(await stack.tenant(f"stats-{i}"))[0] for i in range(3)]
        for tenant_id in ids[:2]:
            await stack.wait_for(tenant_id, "active")
        await stack.api.post(
            f"/api/v1/admin/tenants/{ids[2]}/status",
            json={"status": "suspended", "reason": "test"},
            headers=stack.admin_headers(),
        )
        assert (await stack.api.get("/whoami")).status_code == 401
        assert (await stack.api.get(STATS)).status_code == 401
        tenant_jwt = (await stack.tenant("stats-denied"))[1]
        denied = await stack.api.get(STATS, headers={"Authorization": f"Bearer {tenant_jwt}"})
        assert denied.status_code == 403

        response = await stack.api.get(STATS, headers=stack.admin_headers())

    assert response.status_code == 200, response.text
    stats = response.json()
    by_status = stats["tenantsByStatus"]
    assert by_status["suspended"] == 1
    assert by_status["active"] + by_status["processing"] == 3  # stats-denied may be done too
    assert by_status["active"] >= 2 and by_status["failed"] == 0
    hours = stats["signupsPerHour"]
    assert len(hours) == 24 and sum(h["count"] for h in hours) == 4
    this_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    last = datetime.fromisoformat(hours[-1]["hour"])
    assert this_hour - timedelta(hours=1) <= last <= this_hour
    assert [h["hour"] for h in hours] == sorted({h["hour"] for h in hours})
    seconds = stats["provisioningSeconds"]
    assert seconds["avg"] is not None and seconds["avg"] >= 0
    assert 0 <= seconds["p50"] <= seconds["p95"]
    assert stats["denialsByReason"] == {"missing_token": 2, "invalid_audience": 1}


async def test_denials_are_stored_so_another_replica_reports_them(
    start_admin_stack: StartStack,
) -> None:
    async with start_admin_stack() as first:
        for _ in range(3):
            assert (await first.api.get("/whoami")).status_code == 401

    async with start_admin_stack() as second:  # same database, a fresh process state
        response = await second.api.get(STATS, headers=second.admin_headers())

    assert response.json()["denialsByReason"] == {"missing_token": 3}
    assert response.json()["provisioningSeconds"] == {"avg": None, "p50": None, "p95": None}
