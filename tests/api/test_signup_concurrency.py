"""Exactly one tenant under concurrency, enforced by the database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import insert, select

from syston.core.db import IdempotencyRecord, Owner, PromoCode, PromoRedemption, Tenant, utcnow
from syston.core.temporal import provision_workflow_id
from tests.support.database import count, engine_of
from tests.support.stack import Stack

SIGNUP = "/public/signup/start"
N = 50


async def burst(stack: Stack, bodies: list[dict[str, Any]], **kwargs: Any) -> list[httpx.Response]:
    """All requests in flight at once."""
    return list(await asyncio.gather(*(stack.api.post(SIGNUP, json=b, **kwargs) for b in bodies)))


async def listed(stack: Stack, query: str, field: str = "run_id") -> list[str]:
    """Runs matching a visibility query, once visibility shows any (it lags starts slightly)."""
    for _ in range(100):
        if [wf async for wf in stack.client.list_workflows(query)]:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)  # a duplicate started alongside would be listed by now too
    return [getattr(wf, field) async for wf in stack.client.list_workflows(query)]


async def workflow_runs(stack: Stack) -> list[str]:
    """Every ProvisionTenant run on this stack's task queue (the queue is unique per test)."""
    return await listed(stack, f'TaskQueue = "{stack.settings.temporal_task_queue}"', "id")


async def test_concurrent_identical_signups_make_one_tenant_workflow_owner_and_redemption(
    db_stack: Stack,
) -> None:
    async with engine_of(db_stack) as engine:
        async with engine.begin() as conn:
            await conn.execute(
                insert(PromoCode).values(
                    code="FOUNDER", max_redemptions=1, redemptions=0, created_at=utcnow()
                )
            )
        body = {
            "clubName": "Syston Town",
            "clubSlug": "syston-town",
            "email": "owner@example.org",
            "plan": "pro",
            "promoCode": "FOUNDER",
        }
        responses = await burst(db_stack, [body] * N)

        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] * (N - 1) + [202], [
            r.text for r in responses if r.status_code > 202
        ]
        accepted = next(r.json() for r in responses if r.status_code == 202)
        tenant_id = accepted["tenantId"]
        assert accepted["jwt"]
        for response in responses:
            body_out = response.json()
            assert body_out["tenantId"] == tenant_id
            if response.status_code == 200:
                assert body_out["replayed"] is True and "jwt" not in body_out

        assert await count(engine, Tenant) == 1
        assert await count(engine, Owner) == 1
        assert await count(engine, PromoRedemption) == 1
        async with engine.connect() as conn:
            assert await conn.scalar(select(PromoCode.redemptions)) == 1

    await db_stack.wait_for(tenant_id, "active")
    runs = await workflow_runs(db_stack)
    assert runs == [provision_workflow_id(tenant_id)]


async def test_concurrent_signups_for_one_slug_make_one_202_and_the_rest_slug_taken(
    db_stack: Stack,
) -> None:
    bodies = [
        {
            "clubName": f"Club {i}",
            "clubSlug": "contested",
            "email": f"owner{i}@example.org",
            "plan": "starter",
        }
        for i in range(N)
    ]
    responses = await burst(db_stack, bodies)

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [202] + [409] * (N - 1), [r.text for r in responses if r.status_code != 409]
    codes = {r.json()["code"] for r in responses if r.status_code == 409}
    assert codes == {"SLUG_TAKEN"}
    winner = next(r for r in responses if r.status_code == 202)
    async with engine_of(db_stack) as engine:
        assert await count(engine, Tenant) == 1
        assert await count(engine, Owner) == 1
        async with engine.connect() as conn:
            owner_email = await conn.scalar(select(Owner.email))
    assert owner_email == bodies[responses.index(winner)]["email"]
    await db_stack.wait_for(winner.json()["tenantId"], "active")
    assert len(await workflow_runs(db_stack)) == 1


async def test_concurrent_requests_with_one_key_make_one_tenant(db_stack: Stack) -> None:
    body = {"clubName": "Keyed", "clubSlug": "keyed-club", "email": "k@example.org", "plan": "pro"}
    responses = await burst(db_stack, [body] * N, headers={"Idempotency-Key": "one-key"})

    accepted = [r for r in responses if r.status_code == 202]
    in_progress = [r for r in responses if r.status_code == 409]
    assert len(accepted) + len(in_progress) == N, [r.text for r in responses]
    assert {r.json()["code"] for r in in_progress} <= {"IDEMPOTENCY_IN_PROGRESS"}
    originals = [r for r in accepted if "idempotent-replayed" not in r.headers]
    assert len(originals) == 1
    # every replay is the original, byte for byte
    assert {r.content for r in accepted} == {originals[0].content}
    # and once it is done, the key replays
    after = await db_stack.api.post(SIGNUP, json=body, headers={"Idempotency-Key": "one-key"})
    assert after.content == originals[0].content
    assert after.headers["idempotent-replayed"] == "true"
    async with engine_of(db_stack) as engine:
        assert await count(engine, Tenant) == 1
        assert await count(engine, Owner) == 1
        assert await count(engine, IdempotencyRecord) == 1
    await db_stack.wait_for(originals[0].json()["tenantId"], "active")


async def test_a_replay_after_provisioning_finished_starts_no_second_run(db_stack: Stack) -> None:
    stack = db_stack
    body = {
        "clubName": "Done",
        "clubSlug": "done-club",
        "email": "d@example.org",
        "plan": "starter",
    }
    first = await stack.api.post(SIGNUP, json=body)
    tenant_id = first.json()["tenantId"]
    await stack.wait_for(tenant_id, "active")
    again = await stack.api.post(SIGNUP, json=body)
    assert again.status_code == 200 and again.json()["status"] == "active"
    query = f'WorkflowId = "provision-{tenant_id}"'
    runs = await listed(stack, query)
    assert len(runs) == 1, runs
