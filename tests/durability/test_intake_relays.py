"""Several intake relays (each with its own engine, as in separate processes) draining one
backlog at once, on SQLite and PostgreSQL, against the dev server: every pending workflow is
started exactly once — no row is claimed twice, none is skipped."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from sqlalchemy import update
from temporalio.client import Client

from syston.core.db import ProvisionRequest, utcnow
from syston.core.engine import create_engine, sessionmaker
from syston.core.settings import Settings
from syston.intake import ProvisionIntake
from syston.provisioning_client import TemporalGateway
from syston.signup import SignupData, SignupService
from syston.tokens import TokenService
from tests.support.emulator_server import RunningEmulator
from tests.support.intake import pending_intake, runs_per_tenant
from tests.support.stack import make_settings

BACKLOG = 40
RELAYS = 3
BATCH = 3  # small batches: many claims racing each other


async def backlog_of(settings: Settings, n: int) -> list[str]:
    """`n` accepted signups whose workflows did not start (Temporal unreachable), due now."""
    engine = create_engine(settings.effective_database_url)
    sessions = sessionmaker(engine)
    dead = settings.model_copy(update={"temporal_address": "127.0.0.1:1"})
    signups = SignupService(
        sessions,
        ProvisionIntake(sessions, TemporalGateway(dead)),
        TokenService(settings.jwt_secrets, settings.jwt_issuer),
    )
    tenant_ids = []
    for i in range(n):
        slug = f"backlog-{i}-fc"
        data = SignupData(slug, slug, f"{slug}@example.org", "starter" if i % 2 else "pro", None)
        outcome = await signups.signup(data, None)
        assert outcome.status_code == 202 and outcome.tenant_id
        tenant_ids.append(outcome.tenant_id)
    async with engine.begin() as conn:
        await conn.execute(update(ProvisionRequest).values(available_at=utcnow()))
    await engine.dispose()
    return tenant_ids


async def test_concurrent_relays_start_every_pending_workflow_exactly_once(
    temporal_client: Client,
    emulator: RunningEmulator,
    service_account_key: dict[str, Any],
    database_url: str,
) -> None:
    settings = make_settings(
        database_url,
        emulator,
        service_account_key,
        temporal_client.service_client.config.target_host,
    )
    tenant_ids = await backlog_of(settings, BACKLOG)
    assert await pending_intake(database_url) == set(tenant_ids)

    engines = [create_engine(database_url) for _ in range(RELAYS)]
    relays = [
        ProvisionIntake(sessionmaker(e), TemporalGateway(settings, temporal_client))
        for e in engines
    ]
    claims: list[list[str]] = [[] for _ in relays]
    started = Counter[str]()

    async def drain(n: int) -> None:
        while claimed := await relays[n].claim(BATCH):
            claims[n] += [c.tenant_id for c in claimed]
            done = await relays[n].start_claimed(claimed)
            assert not done.temporal_down and done.failed == 0
            assert done.already_started == 0  # nobody else had started one of ours
            started[str(n)] += done.started

    try:
        await asyncio.gather(*(drain(n) for n in range(RELAYS)))
    finally:
        for engine in engines:
            await engine.dispose()
    print(f"\nclaims per relay: {[len(c) for c in claims]}")

    every_claim = [t for c in claims for t in c]
    assert sorted(every_claim) == sorted(tenant_ids)  # each exactly once: none twice, none left
    assert sum(started.values()) == BACKLOG
    assert await pending_intake(database_url) == set()
    runs = await runs_per_tenant(temporal_client, settings.temporal_task_queue, tenant_ids)
    assert runs == dict.fromkeys(tenant_ids, 1)
