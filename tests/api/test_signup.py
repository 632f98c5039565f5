"""Signup semantics (docs/http-api.md#signup): validation, conflicts, promo codes,
Idempotency-Key, replays, and what a failed signup leaves behind (nothing)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select

from syston.core.db import (
    IdempotencyRecord,
    Owner,
    PromoCode,
    PromoRedemption,
    ProvisioningStep,
    ProvisionRequest,
    Tenant,
    utcnow,
)
from syston.signup import SignupData
from tests.support.database import count, engine_of
from tests.support.problems import assert_problem
from tests.support.stack import Stack

SIGNUP = "/public/signup/start"


@pytest.fixture
def stack(api_stack: Stack) -> Stack:
    """The API without a worker: these tests are about answers and stored rows."""
    return api_stack


def payload(slug: str = "syston-town", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "clubName": "Syston Town FC",
        "clubSlug": slug,
        "email": f"{slug}@example.org",
        "plan": "pro",
    }
    body.update(changes)
    return body


async def post(stack: Stack, body: Any, **kwargs: Any) -> httpx.Response:
    return await stack.api.post(SIGNUP, json=body, **kwargs)


async def stored(stack: Stack) -> dict[str, int]:
    """How many rows each signup table holds (a rejected signup must leave these at zero)."""
    async with engine_of(stack) as engine:
        return {
            model.__tablename__: await count(engine, model)
            for model in (
                Tenant,
                Owner,
                ProvisioningStep,
                PromoRedemption,
                IdempotencyRecord,
                ProvisionRequest,
            )
        }


NOTHING = {
    "tenants": 0,
    "owners": 0,
    "provisioning_steps": 0,
    "promo_redemptions": 0,
    "idempotency_records": 0,
    "provision_intake": 0,
}


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("clubName", ""),
        ("clubName", "   "),
        ("clubName", "\t\n\u00a0"),
        ("clubName", "x" * 101),
        ("clubName", 42),
        ("clubSlug", "ab"),
        ("clubSlug", "a" * 64),
        ("clubSlug", "Syston-Town"),
        ("clubSlug", "syston--town"),
        ("clubSlug", "-syston"),
        ("clubSlug", "syston_town"),
        ("email", "not-an-email"),
        ("email", "a@b"),
        ("email", ""),
        ("plan", "enterprise"),
        ("plan", "PRO"),
        ("plan", None),
        ("promoCode", 7),
        ("promoCode", "P" * 65),
    ],
)
async def test_an_invalid_field_is_named_in_errors(stack: Stack, field: str, value: Any) -> None:
    response = await post(stack, payload(**{field: value}))
    body = assert_problem(response, 422, "VALIDATION")
    assert [e["field"] for e in body["errors"]] == [field]
    assert all(e["message"] for e in body["errors"])


@pytest.mark.parametrize("field", ["clubName", "clubSlug", "email", "plan"])
async def test_a_missing_field_is_named_in_errors(stack: Stack, field: str) -> None:
    body = payload()
    del body[field]
    problem = assert_problem(await post(stack, body), 422, "VALIDATION")
    assert [e["field"] for e in problem["errors"]] == [field]


async def test_every_invalid_field_is_reported_at_once(stack: Stack) -> None:
    body = {"clubName": "", "clubSlug": "NO", "email": "nope", "plan": "gold", "promoCode": 1}
    problem = assert_problem(await post(stack, body), 422, "VALIDATION")
    assert sorted(e["field"] for e in problem["errors"]) == sorted(
        ["clubName", "clubSlug", "email", "plan", "promoCode"]
    )
    assert await stored(stack) == NOTHING


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"", b"[]", b'"a string"', b"null", b"42", b'{"clubName": "x",', b"\xff\xfe"],
)
async def test_a_body_that_is_not_a_json_object_is_a_validation_problem(
    stack: Stack, raw: bytes
) -> None:
    response = await stack.api.post(
        SIGNUP, content=raw, headers={"Content-Type": "application/json"}
    )
    problem = assert_problem(response, 422, "VALIDATION")
    assert [e["field"] for e in problem["errors"]] == ["body"]
    assert problem["errors"][0]["message"]
    assert await stored(stack) == NOTHING


async def test_a_header_value_too_long_is_a_validation_problem(stack: Stack) -> None:
    response = await post(stack, payload(), headers={"Idempotency-Key": "k" * 256})
    problem = assert_problem(response, 422, "VALIDATION")
    assert [e["field"] for e in problem["errors"]] == ["Idempotency-Key"]


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        None,
    ],
)
async def test_a_body_in_another_media_type_is_415(stack: Stack, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = await stack.api.post(SIGNUP, content=json.dumps(payload()).encode(), headers=headers)
    assert_problem(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert await stored(stack) == NOTHING


async def test_json_with_a_charset_is_accepted(stack: Stack) -> None:
    response = await stack.api.post(
        SIGNUP,
        content=json.dumps(payload()).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 202, response.text


async def test_a_declared_body_over_64_kib_is_413(stack: Stack) -> None:
    body = payload(clubName="x" * (64 * 1024))
    response = await post(stack, body)
    assert_problem(response, 413, "PAYLOAD_TOO_LARGE")
    assert await stored(stack) == NOTHING


async def test_a_chunked_body_over_64_kib_is_413(stack: Stack) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"clubName": "'
        for _ in range(80):
            yield b"x" * 1024
        yield b'", "clubSlug": "big-club", "email": "big@example.org", "plan": "pro"}'

    response = await stack.api.post(
        SIGNUP, content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "PAYLOAD_TOO_LARGE")
    assert await stored(stack) == NOTHING


async def test_a_body_of_exactly_64_kib_is_not_refused_for_its_size(stack: Stack) -> None:
    raw = json.dumps(payload(clubName="x")).encode()
    raw = raw[:-1] + b" " * (64 * 1024 - len(raw)) + b"}"
    assert len(raw) == 64 * 1024
    response = await stack.api.post(
        SIGNUP, content=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 202, response.text


# -- conflicts --------------------------------------------------------------------------------


async def test_a_taken_slug_is_409_and_stores_nothing_more(stack: Stack) -> None:
    first = await post(stack, payload("syston-town"))
    assert first.status_code == 202
    before = await stored(stack)
    again = await post(stack, payload("syston-town", email="someone-else@example.org"))
    problem = assert_problem(again, 409, "SLUG_TAKEN")
    assert "syston-town" in problem["detail"]
    assert await stored(stack) == before


@pytest.mark.parametrize(
    "email",
    ["owner@example.org", "OWNER@Example.ORG", "  owner@example.org  ", "Owner@EXAMPLE.org"],
)
async def test_a_registered_email_is_409_whatever_its_case_or_spacing(
    stack: Stack, email: str
) -> None:
    assert (await post(stack, payload("first-club", email="owner@example.org"))).status_code == 202
    before = await stored(stack)
    again = await post(stack, payload("second-club", email=email))
    assert_problem(again, 409, "EMAIL_EXISTS")
    assert await stored(stack) == before


async def test_a_different_club_with_the_same_slug_and_email_is_slug_taken(stack: Stack) -> None:
    assert (await post(stack, payload("syston-town"))).status_code == 202
    again = await post(stack, payload("syston-town", clubName="Another club", plan="starter"))
    assert_problem(again, 409, "SLUG_TAKEN")


# -- payload replay (no key) ------------------------------------------------------------------


async def test_the_same_payload_again_is_a_200_replay_without_a_token(stack: Stack) -> None:
    first = await post(stack, payload())
    assert first.status_code == 202
    tenant_id = first.json()["tenantId"]
    before = await stored(stack)
    # the same signup as the service understands it: email case and spacing do not matter
    again = await post(stack, payload(email="  SYSTON-TOWN@example.org "))
    assert again.status_code == 200, again.text
    body = again.json()
    assert body == {
        "tenantId": tenant_id,
        "status": body["status"],
        "plan": "pro",
        "statusUrl": f"/api/v1/tenants/{tenant_id}/provision-status",
        "replayed": True,
    }
    assert "jwt" not in body and "idempotent-replayed" not in again.headers
    assert await stored(stack) == before


# -- promo codes ------------------------------------------------------------------------------


async def add_promo(stack: Stack, code: str, **values: Any) -> None:
    async with engine_of(stack) as engine, engine.begin() as conn:
        await conn.execute(
            insert(PromoCode).values(code=code, redemptions=0, created_at=utcnow(), **values)
        )


async def promo_redemptions(stack: Stack, code: str) -> tuple[int, int]:
    """(the code's counter, the redemption rows) — the two must agree."""
    async with engine_of(stack) as engine, engine.connect() as conn:
        counter = await conn.scalar(select(PromoCode.redemptions).where(PromoCode.code == code))
        rows = await count(engine, PromoRedemption, PromoRedemption.code == code)
    return int(counter or 0), rows


@pytest.mark.parametrize(
    ("code", "promo", "plan"),
    [
        ("NOSUCH", None, "pro"),
        ("OLD", {"expires_at": utcnow() - timedelta(seconds=1)}, "pro"),
        ("USEDUP", {"max_redemptions": 0}, "pro"),
        ("PROONLY", {"plan": "pro"}, "starter"),
    ],
    ids=["unknown", "expired", "exhausted", "other-plan"],
)
async def test_an_invalid_promo_code_is_422_and_redeems_nothing(
    stack: Stack, code: str, promo: dict[str, Any] | None, plan: str
) -> None:
    if promo is not None:
        await add_promo(stack, code, **promo)
    response = await post(stack, payload(plan=plan, promoCode=code))
    problem = assert_problem(response, 422, "INVALID_PROMO")
    assert [e["field"] for e in problem["errors"]] == ["promoCode"]
    assert await stored(stack) == NOTHING
    assert await promo_redemptions(stack, code) == (0, 0)


async def test_a_promo_code_is_redeemed_once_per_signup_never_on_replay(stack: Stack) -> None:
    await add_promo(stack, "SPRING", max_redemptions=2, plan="pro")
    first = await post(stack, payload("club-one", promoCode="spring "))
    assert first.status_code == 202, first.text
    assert await promo_redemptions(stack, "SPRING") == (1, 1)

    replay = await post(stack, payload("club-one", promoCode="SPRING"))
    assert replay.status_code == 200 and replay.json()["replayed"] is True
    keyed = {"Idempotency-Key": "spring-two"}
    second = await post(stack, payload("club-two", promoCode="SPRING"), headers=keyed)
    assert second.status_code == 202
    again = await post(stack, payload("club-two", promoCode="SPRING"), headers=keyed)
    assert again.headers["idempotent-replayed"] == "true"
    assert await promo_redemptions(stack, "SPRING") == (2, 2)

    # exhausted now, and a conflict never consumes it either
    third = await post(stack, payload("club-three", promoCode="SPRING"))
    assert_problem(third, 422, "INVALID_PROMO")
    taken = await post(stack, payload("club-one", email="x@example.org", promoCode="SPRING"))
    assert_problem(taken, 409, "SLUG_TAKEN")
    assert await promo_redemptions(stack, "SPRING") == (2, 2)


async def test_a_promo_code_for_any_plan_with_a_future_expiry_is_accepted(stack: Stack) -> None:
    await add_promo(stack, "ANYPLAN", expires_at=utcnow() + timedelta(days=1))
    response = await post(stack, payload(plan="starter", promoCode="ANYPLAN"))
    assert response.status_code == 202, response.text
    assert await promo_redemptions(stack, "ANYPLAN") == (1, 1)


# -- Idempotency-Key --------------------------------------------------------------------------


async def test_a_key_replays_the_original_bytes_and_token(stack: Stack) -> None:
    headers = {"Idempotency-Key": "signup-123"}
    first = await post(stack, payload(), headers=headers)
    assert first.status_code == 202 and "idempotent-replayed" not in first.headers
    before = await stored(stack)
    again = await post(stack, payload(), headers=headers)
    assert again.status_code == 202
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["content-type"] == "application/json"
    assert await stored(stack) == before
    # the replayed token is the original, working token
    tenant_id = first.json()["tenantId"]
    status = await stack.api.get(
        f"/api/v1/tenants/{tenant_id}/provision-status",
        headers={"Authorization": f"Bearer {again.json()['jwt']}"},
    )
    assert status.status_code == 200


async def test_a_key_reused_with_another_payload_is_422(stack: Stack) -> None:
    headers = {"Idempotency-Key": "signup-123"}
    assert (await post(stack, payload("club-one"), headers=headers)).status_code == 202
    before = await stored(stack)
    other = await post(stack, payload("club-two"), headers=headers)
    assert_problem(other, 422, "IDEMPOTENCY_KEY_REUSED")
    assert await stored(stack) == before


async def claim_key(stack: Stack, key: str, body: dict[str, Any], claimed_at: datetime) -> None:
    """What a request holding `key` leaves in the database while it runs."""
    data = SignupData(body["clubName"], body["clubSlug"], body["email"], body["plan"], None)
    async with engine_of(stack) as engine, engine.begin() as conn:
        await conn.execute(
            insert(IdempotencyRecord).values(
                key_hash=hashlib.sha256(key.encode()).hexdigest(),
                request_hash=data.fingerprint(),
                state="in_progress",
                created_at=claimed_at,
                expires_at=claimed_at + timedelta(hours=24),
            )
        )


async def test_a_key_still_in_progress_is_409(stack: Stack) -> None:
    await claim_key(stack, "in-flight", payload(), utcnow())
    response = await post(stack, payload(), headers={"Idempotency-Key": "in-flight"})
    assert_problem(response, 409, "IDEMPOTENCY_IN_PROGRESS")
    assert response.headers["retry-after"]
    assert (await stored(stack))["tenants"] == 0


async def test_a_key_abandoned_in_progress_by_a_dead_process_is_taken_over(stack: Stack) -> None:
    await claim_key(stack, "orphaned", payload(), utcnow() - timedelta(minutes=10))
    response = await post(stack, payload(), headers={"Idempotency-Key": "orphaned"})
    assert response.status_code == 202, response.text
    again = await post(stack, payload(), headers={"Idempotency-Key": "orphaned"})
    assert again.content == response.content


async def test_a_rejected_request_does_not_hold_its_key(stack: Stack) -> None:
    headers = {"Idempotency-Key": "fix-and-retry"}
    assert (await post(stack, payload("taken-club", email="a@example.org"))).status_code == 202
    # rejected three ways under the same key; the corrected request then goes through
    rejected = await post(stack, payload("taken-club"), headers=headers)
    assert_problem(rejected, 409, "SLUG_TAKEN")
    rejected = await post(stack, payload("new-club", promoCode="NOPE"), headers=headers)
    assert_problem(rejected, 422, "INVALID_PROMO")
    rejected = await post(stack, payload("new-club", plan="gold"), headers=headers)
    assert_problem(rejected, 422, "VALIDATION")
    corrected = await post(stack, payload("new-club"), headers=headers)
    assert corrected.status_code == 202, corrected.text
    assert "idempotent-replayed" not in corrected.headers


@pytest.mark.parametrize(
    ("content", "headers", "code"),
    [
        (b'{"clubName": ', {"Content-Type": "application/json"}, "VALIDATION"),
        (b'{"plan": "gold"}', {"Content-Type": "application/json"}, "VALIDATION"),
        (
            b"clubName=x",
            {"Content-Type": "application/x-www-form-urlencoded"},
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            b"{" + b" " * (65 * 1024) + b"}",
            {"Content-Type": "application/json"},
            "PAYLOAD_TOO_LARGE",
        ),
    ],
    ids=["not-json", "bad-fields", "form", "too-large"],
)
async def test_signups_refused_before_the_route_still_log_signup_rejected(
    stack: Stack,
    caplog: pytest.LogCaptureFixture,
    content: bytes,
    headers: dict[str, str],
    code: str,
) -> None:
    import logging

    caplog.set_level(logging.INFO)
    response = await stack.api.post(SIGNUP, content=content, headers=headers)
    assert response.json()["code"] == code
    events = [r for r in caplog.records if getattr(r, "event", None) == "signup_rejected"]
    assert [getattr(r, "code", None) for r in events] == [code]
