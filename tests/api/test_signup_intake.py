"""Durable intake at the API: a signup is accepted (202) while Temporal is unreachable, shows
as `processing` with no run, replays from the database alone, and is started later by a relay
with no client retry; the intake's start never runs a tenant's workflow twice."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import insert, select, update
from temporalio.client import Client

from syston.core.db import PromoCode, PromoRedemption, ProvisionRequest, Tenant, utcnow
from syston.core.engine import create_engine, sessionmaker
from syston.core.metrics import WorkerMetrics
from syston.core.settings import Settings
from syston.core.temporal import provision_workflow_id
from syston.intake import ProvisionIntake
from syston.provisioning_client import TemporalGateway
from syston.tokens import TokenService
from tests.support.emulator_server import RunningEmulator
from tests.support.intake import pending_intake, runs_per_tenant, wait_until
from tests.support.problems import assert_problem
from tests.support.stack import make_settings, migrate, running_api, running_worker

SIGNUP = "/public/signup/start"
RELAY_DEADLINE = 30.0  # the relay's grace and interval are 5 s each; this leaves room


def body(slug: str, **changes: Any) -> dict[str, Any]:
    return {
        "clubName": f"Club {slug}",
        "clubSlug": slug,
        "email": f"{slug}@example.org",
        "plan": "pro",
        **changes,
    }


async def settings_for(
    temporal_client: Client,
    emulator: RunningEmulator,
    key: dict[str, Any],
    database_url: str,
) -> Settings:
    settings = make_settings(
        database_url, emulator, key, temporal_client.service_client.config.target_host
    )
    await migrate(database_url)
    return settings


async def test_signups_are_accepted_while_temporal_is_unreachable_and_started_once_back(
    temporal_client: Client,
    emulator: RunningEmulator,
    service_account_key: dict[str, Any],
    sqlite_url: str,
) -> None:
    settings = await settings_for(temporal_client, emulator, service_account_key, sqlite_url)
    engine = create_engine(sqlite_url)
    async with engine.begin() as conn:
        await conn.execute(
            insert(PromoCode).values(
                code="LAUNCH", max_redemptions=1, redemptions=0, created_at=utcnow()
            )
        )
    dead = settings.model_copy(update={"temporal_address": "127.0.0.1:1"})
    keyed = body("outage-fc", promoCode="LAUNCH")
    key = {"Idempotency-Key": "during-outage"}
    async with running_api(dead, None) as api:  # type: ignore[arg-type]
        first = await api.post(SIGNUP, json=keyed, headers=key)
        assert first.status_code == 202, first.text
        assert first.json()["jwt"]
        tenant_id = first.json()["tenantId"]
        assert first.headers["location"] == f"/api/v1/tenants/{tenant_id}/provision-status"
        second = await api.post(SIGNUP, json=body("outage-two", plan="starter"))
        assert second.status_code == 202, second.text
        other_id = second.json()["tenantId"]

        # polled with the signup's own token: processing, nothing started, no run
        status = await api.get(
            first.headers["location"],
            headers={"Authorization": f"Bearer {first.json()['jwt']}"},
        )
        assert status.status_code == 200, status.text
        view = status.json()
        assert view["status"] == "processing"
        assert [s["status"] for s in view["steps"]] == ["pending"] * 3
        assert view["workflow"] == {"id": provision_workflow_id(tenant_id), "runId": None}

        # replays need only the database
        again = await api.post(SIGNUP, json=keyed, headers=key)
        assert again.status_code == 202 and again.content == first.content
        assert again.headers["idempotent-replayed"] == "true"
        keyless = await api.post(SIGNUP, json=keyed)
        assert keyless.status_code == 200, keyless.text
        assert keyless.json()["replayed"] is True and keyless.json()["tenantId"] == tenant_id

        ready = await api.get("/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json() == {"ok": True, "checks": {"database": "ok", "temporal": "down"}}

        # what must talk to Temporal now still says so
        tokens = TokenService(settings.jwt_secrets, settings.jwt_issuer)
        service = {"Authorization": f"Bearer {tokens.issue_service()}"}
        queued = await api.post(
            "/internal/provision/queue", json={"tenantId": tenant_id}, headers=service
        )
        assert_problem(queued, 503, "UNAVAILABLE")
        assert int(queued.headers["retry-after"]) > 0

    assert await pending_intake(sqlite_url) == {tenant_id, other_id}
    async with engine.connect() as conn:
        redeemed = await conn.scalar(select(PromoCode.redemptions))
        rows = (await conn.scalars(select(PromoRedemption.tenant_id))).all()
    assert (redeemed, rows) == (1, [tenant_id])  # accepted means kept: no undo

    # an API that reaches Temporal relays both; nobody re-sends anything
    async with running_api(settings, temporal_client) as api:

        async def drained() -> bool:
            return not await pending_intake(sqlite_url)

        took = await wait_until(drained, "the relay started the pending workflows", RELAY_DEADLINE)
        print(f"\nrelayed both pending signups in {took:.1f} s")
        runs = await runs_per_tenant(
            temporal_client, settings.temporal_task_queue, [tenant_id, other_id]
        )
        assert runs == {tenant_id: 1, other_id: 1}
        # a replay now still starts nothing
        assert (await api.post(SIGNUP, json=keyed)).status_code == 200
        metrics = (await api.get("/metrics")).text
        assert 'syston_intake_relayed_total{how="relay"} 2.0' in metrics
    runs = await runs_per_tenant(
        temporal_client, settings.temporal_task_queue, [tenant_id, other_id]
    )
    assert runs == {tenant_id: 1, other_id: 1}
    await engine.dispose()


async def test_a_worker_alone_relays_what_a_dead_api_left_pending(
    temporal_client: Client,
    emulator: RunningEmulator,
    service_account_key: dict[str, Any],
    sqlite_url: str,
) -> None:
    settings = await settings_for(temporal_client, emulator, service_account_key, sqlite_url)
    dead = settings.model_copy(update={"temporal_address": "127.0.0.1:1"})
    async with running_api(dead, None) as api:  # type: ignore[arg-type]
        response = await api.post(SIGNUP, json=body("worker-relay-fc", plan="starter"))
        assert response.status_code == 202
    tenant_id = response.json()["tenantId"]
    metrics = WorkerMetrics()
    async with running_worker(settings, temporal_client, metrics):

        async def active() -> bool:
            engine = create_engine(sqlite_url)
            try:
                async with engine.connect() as conn:
                    status = await conn.scalar(select(Tenant.status).where(Tenant.id == tenant_id))
            finally:
                await engine.dispose()
            return status == "active"

        await wait_until(active, "the worker's relay started it and it ran", RELAY_DEADLINE)
    assert await pending_intake(sqlite_url) == set()
    exposed = metrics.render().decode()
    assert 'syston_intake_relayed_total{how="relay"} 1.0' in exposed


async def test_a_signup_starts_its_workflow_at_once_when_temporal_is_up(
    temporal_client: Client,
    emulator: RunningEmulator,
    service_account_key: dict[str, Any],
    sqlite_url: str,
) -> None:
    settings = await settings_for(temporal_client, emulator, service_account_key, sqlite_url)
    async with running_api(settings, temporal_client) as api:
        response = await api.post(SIGNUP, json=body("at-once-fc"))
        assert response.status_code == 202, response.text
        tenant_id = response.json()["tenantId"]
        # started before the answer: the workflow exists; the intake row is there until the
        # run begins (no worker here yet), then its first ledger write deletes it
        handle = temporal_client.get_workflow_handle(provision_workflow_id(tenant_id))
        assert (await handle.describe()).id == provision_workflow_id(tenant_id)
        assert await pending_intake(sqlite_url) == {tenant_id}
        async with running_worker(settings, temporal_client, WorkerMetrics()):
            await asyncio.wait_for(handle.result(), 60)
        assert await pending_intake(sqlite_url) == set()
        metrics = (await api.get("/metrics")).text
        assert 'syston_intake_relayed_total{how="immediate"} 1.0' in metrics


async def test_the_intake_start_attaches_and_never_reruns_a_finished_workflow(
    temporal_client: Client,
    emulator: RunningEmulator,
    service_account_key: dict[str, Any],
    sqlite_url: str,
) -> None:
    settings = await settings_for(temporal_client, emulator, service_account_key, sqlite_url)
    gateway = TemporalGateway(settings, temporal_client)
    tenant_id = "tenant_intake-start-policy"
    run_id = await gateway.start_intake(tenant_id, "starter")
    assert run_id
    assert await gateway.start_intake(tenant_id, "starter") == run_id  # attached
    handle = temporal_client.get_workflow_handle(provision_workflow_id(tenant_id))
    await handle.terminate("test: the run is over")
    assert await gateway.start_intake(tenant_id, "starter") is None  # ran already: no new run
    assert (await handle.describe()).run_id == run_id
    # a re-queue keeps its own semantics: it does start a new run after the old one closed
    restarted = await gateway.start_provisioning(tenant_id, "starter")
    assert restarted and restarted != run_id
    await temporal_client.get_workflow_handle(provision_workflow_id(tenant_id)).terminate("done")


async def test_the_relay_drops_a_request_whose_workflow_already_began(
    temporal_client: Client,
    emulator: RunningEmulator,
    service_account_key: dict[str, Any],
    sqlite_url: str,
) -> None:
    """A crash between a start and the row's delete leaves a row behind; the run recorded
    itself meanwhile, so the relay forgets the row without asking Temporal for anything."""
    settings = await settings_for(temporal_client, emulator, service_account_key, sqlite_url)
    dead = settings.model_copy(update={"temporal_address": "127.0.0.1:1"})
    async with running_api(dead, None) as api:  # type: ignore[arg-type]
        response = await api.post(SIGNUP, json=body("began-fc"))
        assert response.status_code == 202
    tenant_id = response.json()["tenantId"]
    engine = create_engine(sqlite_url)
    async with engine.begin() as conn:
        await conn.execute(update(Tenant).values(workflow_run_id="run-that-began"))
    # a gateway that cannot reach Temporal: the relay must not need it
    intake = ProvisionIntake(sessionmaker(engine), TemporalGateway(dead))
    claimed = await intake.claim(10)
    assert claimed == []  # still inside the accepting API's grace period
    async with engine.begin() as conn:
        await conn.execute(
            update(ProvisionRequest).values(available_at=utcnow())  # due now
        )
    done = await intake.relay()
    assert (done.started, done.failed, done.temporal_down) == (0, 0, False)
    assert await pending_intake(sqlite_url) == set()
    await engine.dispose()
    assert tenant_id not in await pending_intake(sqlite_url)
