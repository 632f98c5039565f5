"""The intake's rows (syston/intake.py) on SQLite with a stand-in for Temporal: a new request
is left to its signup for a grace period, a claim leases rows so no other relay takes them, a
refused start backs off (an outage does not count as an attempt), a request whose run already
began is dropped without asking Temporal, and a run's first activity settles its request."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update

from syston.core.db import ProvisionRequest, Tenant, utcnow
from syston.intake import CLAIM_LEASE, INTAKE_GRACE, ProvisionIntake
from syston.provisioning_store import ProvisioningStore
from syston.signup import SignupService
from tests.support.domain import Sessions, TemporalStandIn, signed_up


async def pending_while_down(signups: SignupService, temporal: TemporalStandIn, slug: str) -> str:
    """A signup accepted while Temporal was down: its request is pending."""
    temporal.down = True
    tenant_id = await signed_up(signups, slug, "starter")
    temporal.down = temporal.seems_down = False
    return tenant_id


async def row(sessions: Sessions, tenant_id: str) -> ProvisionRequest | None:
    async with sessions() as session:
        return await session.get(ProvisionRequest, tenant_id)


async def due(sessions: Sessions, at: datetime | None = None) -> None:
    async with sessions.begin() as session:
        await session.execute(update(ProvisionRequest).values(available_at=at or utcnow()))


async def test_a_new_request_is_left_to_its_signup_for_the_grace_period(
    signups: SignupService, intake: ProvisionIntake, temporal: TemporalStandIn, sessions: Sessions
) -> None:
    tenant_id = await pending_while_down(signups, temporal, "grace-fc")
    request = await row(sessions, tenant_id)
    assert request is not None
    assert request.available_at == request.requested_at + INTAKE_GRACE
    assert await intake.claim(10) == []
    await due(sessions)
    assert [c.tenant_id for c in await intake.claim(10)] == [tenant_id]


async def test_a_claimed_request_is_leased_to_its_relay(
    signups: SignupService, intake: ProvisionIntake, temporal: TemporalStandIn, sessions: Sessions
) -> None:
    tenant_id = await pending_while_down(signups, temporal, "leased-fc")
    await due(sessions)
    before = utcnow()
    (claimed,) = await intake.claim(10)
    assert (claimed.tenant_id, claimed.plan, claimed.attempts) == (tenant_id, "starter", 1)
    assert await intake.claim(10) == []  # another relay's claim finds nothing
    request = await row(sessions, tenant_id)
    assert request is not None and request.available_at >= before + CLAIM_LEASE
    # the relay that claimed it died: once the lease runs out, another takes it over
    await due(sessions)
    (again,) = await intake.claim(10)
    assert again.attempts == 2


async def test_a_refused_start_backs_off_and_an_outage_does_not_count(
    signups: SignupService, intake: ProvisionIntake, temporal: TemporalStandIn, sessions: Sessions
) -> None:
    tenant_id = await pending_while_down(signups, temporal, "refused-fc")
    await due(sessions)
    temporal.down = True
    assert (await intake.relay()).temporal_down
    request = await row(sessions, tenant_id)
    assert request is not None and request.attempts == 0  # nothing was tried
    assert request.available_at <= utcnow()  # ready for the next pass at once

    temporal.down = False
    temporal.refusal = RuntimeError("search attribute TenantId is not registered")
    done = await intake.relay()
    assert (done.started, done.failed, done.temporal_down) == (0, 1, False)
    request = await row(sessions, tenant_id)
    assert request is not None and request.attempts == 1
    assert "TenantId is not registered" in (request.last_error or "")
    assert request.available_at > utcnow() + INTAKE_GRACE / 2  # backed off

    temporal.refusal = None
    await due(sessions)
    assert (await intake.relay()).started == 1
    assert await row(sessions, tenant_id) is None
    assert temporal.started == [(tenant_id, "starter")]


async def test_a_request_whose_run_already_began_is_dropped_without_temporal(
    signups: SignupService,
    intake: ProvisionIntake,
    temporal: TemporalStandIn,
    sessions: Sessions,
) -> None:
    tenant_id = await pending_while_down(signups, temporal, "began-fc")
    await due(sessions, utcnow() - timedelta(seconds=1))
    async with sessions.begin() as session:
        # a run has recorded itself (a rolled-back delete, a row filed by the migration for a
        # tenant whose run had not reported in yet): the request is stale
        await session.execute(update(Tenant).values(workflow_run_id="run-1"))
    temporal.down = True  # it must not be asked
    done = await intake.relay()
    assert (done.started, done.failed, done.temporal_down) == (0, 0, False)
    assert await row(sessions, tenant_id) is None and temporal.started == []


async def test_a_run_s_first_activity_settles_its_request(
    signups: SignupService,
    temporal: TemporalStandIn,
    store: ProvisioningStore,
    sessions: Sessions,
) -> None:
    tenant_id = await pending_while_down(signups, temporal, "settled-fc")
    await store.begin(tenant_id, "starter", force=False, run_id="run-1")
    async with sessions() as session:
        assert list(await session.scalars(select(ProvisionRequest.tenant_id))) == []
