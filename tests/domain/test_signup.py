"""Signup as the service decides it (syston/signup.py), on SQLite with a stand-in for
Temporal: a new club gets a tenant, an owner, its plan's steps and one provisioning run; a
replay gets the same tenant back without asking Temporal; a taken slug or email is refused; a
signup Temporal could not start is kept, and the intake relay starts it once Temporal is back.
The HTTP side is in tests/api/test_signup.py and tests/api/test_signup_intake.py."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select, update

from syston.core.db import Owner, PromoCode, PromoRedemption, ProvisionRequest, Tenant, utcnow
from syston.core.errors import Conflict
from syston.intake import ProvisionIntake
from syston.provisioning_store import ProvisioningStore
from syston.signup import SignupService
from syston.tenant_status import read_provision_status
from syston.tokens import TokenService
from tests.support.domain import Sessions, TemporalStandIn, club, signed_up


async def count(sessions: Sessions, model: type) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_new_club_gets_a_tenant_its_plan_steps_a_run_and_a_token(
    signups: SignupService, temporal: TemporalStandIn, tokens: TokenService, sessions: Sessions
) -> None:
    outcome = await signups.signup(club("new-fc", "pro"), None)

    assert outcome.status_code == 202
    body = json.loads(outcome.content)
    tenant_id = body["tenantId"]
    assert body["status"] == "processing" and body["plan"] == "pro"
    assert body["statusUrl"] == f"/api/v1/tenants/{tenant_id}/provision-status"
    principal = tokens.authenticate(body["jwt"])
    assert (principal.kind, principal.tenant_id) == ("tenant", tenant_id)
    assert temporal.started == [(tenant_id, "pro")]
    async with sessions() as session:
        status = await session.run_sync(read_provision_status, tenant_id)
    assert status.slug == "new-fc" and status.status == "processing"
    assert [(s.name, s.status) for s in status.steps] == [
        ("create_sheet", "pending"),
        ("configure_webhook", "pending"),
        ("mark_active", "pending"),
    ]


async def test_the_same_signup_again_is_a_replay_of_the_same_tenant(
    signups: SignupService, temporal: TemporalStandIn
) -> None:
    first = await signups.signup(club("again-fc", "starter"), None)
    # the same club, written a little differently: same email in capitals, name with spaces
    again = await signups.signup(
        club("again-fc", "starter", email=" AGAIN-FC@example.org ", club_name=" Club again-fc "),
        None,
    )

    assert again.status_code == 200
    body = json.loads(again.content)
    assert body["tenantId"] == first.tenant_id
    assert body["replayed"] is True and "jwt" not in body
    # a replay is answered from the database: a run not started yet is the relay's
    assert temporal.started == [(first.tenant_id, "starter")]


async def test_a_replay_after_the_run_began_starts_no_second_run(
    signups: SignupService, temporal: TemporalStandIn, store: ProvisioningStore
) -> None:
    tenant_id = await signed_up(signups, "begun-fc", "starter")
    await store.begin(tenant_id, "starter", force=False, run_id="run-1")

    again = await signups.signup(club("begun-fc", "starter"), None)

    assert again.status_code == 200 and again.tenant_id == tenant_id
    assert temporal.started == [(tenant_id, "starter")]


async def test_a_taken_slug_or_email_is_refused(signups: SignupService, sessions: Sessions) -> None:
    await signed_up(signups, "taken-fc")

    with pytest.raises(Conflict) as slug:
        await signups.signup(club("taken-fc", email="someone-else@example.org"), None)
    with pytest.raises(Conflict) as email:
        await signups.signup(club("other-fc", email="Taken-FC@Example.org"), None)
    with pytest.raises(Conflict) as other_plan:
        await signups.signup(club("taken-fc", "starter"), None)

    assert slug.value.code == "SLUG_TAKEN"
    assert email.value.code == "EMAIL_EXISTS"
    assert other_plan.value.code == "SLUG_TAKEN"  # a different payload is not a replay
    assert await count(sessions, Tenant) == 1
    assert await count(sessions, Owner) == 1


async def test_a_signup_temporal_cannot_start_is_kept_and_started_by_the_relay(
    signups: SignupService,
    intake: ProvisionIntake,
    temporal: TemporalStandIn,
    sessions: Sessions,
) -> None:
    async with sessions.begin() as session:
        session.add(PromoCode(code="LAUNCH", redemptions=0, max_redemptions=1))
    temporal.down = True

    tenant_id = await signed_up(signups, "down-fc", promo_code="launch")

    assert temporal.started == []
    assert await count(sessions, Tenant) == 1
    assert await count(sessions, Owner) == 1
    assert await count(sessions, PromoRedemption) == 1
    assert await pending(sessions) == [tenant_id]
    async with sessions() as session:
        status = await session.run_sync(read_provision_status, tenant_id)
    assert (status.status, status.workflow_run_id) == ("processing", None)
    # while Temporal is known to be down, further signups do not even try
    other = await signed_up(signups, "down-too-fc")
    assert temporal.started == []

    # the relay leaves a new request to the signup's own start for a few seconds, then...
    assert (await intake.relay()).started == 0
    await make_due(sessions)
    assert (await intake.relay()).temporal_down  # ...finds Temporal down: kept for later
    temporal.down = False
    done = await intake.relay()

    assert done.started == 2 and await pending(sessions) == []
    assert sorted(temporal.started) == sorted([(tenant_id, "pro"), (other, "pro")])
    assert (await intake.relay()).started == 0  # nothing twice


async def pending(sessions: Sessions) -> list[str]:
    async with sessions() as session:
        return list(await session.scalars(select(ProvisionRequest.tenant_id)))


async def make_due(sessions: Sessions) -> None:
    async with sessions.begin() as session:
        await session.execute(update(ProvisionRequest).values(available_at=utcnow()))


async def test_the_reply_carries_location_and_marks_a_keyed_replay(
    signups: SignupService,
) -> None:
    first = await signups.start(club("reply-fc"), "key-1", client_host="203.0.113.7")
    again = await signups.start(club("reply-fc"), "key-1", client_host="203.0.113.7")
    plain_replay = await signups.start(club("reply-fc"), None, client_host="203.0.113.7")

    tenant_id = json.loads(first.content)["tenantId"]
    assert first.status_code == 202
    assert first.headers == {"Location": f"/api/v1/tenants/{tenant_id}/provision-status"}
    # the key's replay is the original answer, byte for byte
    assert (again.status_code, again.content) == (202, first.content)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert plain_replay.status_code == 200 and "Idempotent-Replayed" not in plain_replay.headers
