"""Signed lifecycle events from the outbox to the Make stand-in: Standard Webhooks signatures
verified with the reference library, the same id, timestamp and signature on a re-delivery,
both secrets signing during a rotation, failed attempts retried later, and tenant-set URLs
through the SSRF-safe client."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from activities.event_delivery import EventDispatcher
from integrations.make import MakeClient
from syston.core.db import LifecycleEvent, Tenant, TenantResources, utcnow
from syston.core.engine import create_engine, sessionmaker
from syston.core.webhook_signing import generate_signing_secret, parse_signing_secret
from syston.lifecycle_events import EventOutbox, enqueue
from syston.migrations import migrate_engine
from syston.webhook_policy import build_safe_client
from tests.support.database import postgres_database
from tests.support.emulator_server import RunningEmulator
from tests.support.resolver import FakeResolver

SECRET = generate_signing_secret()
NEXT_SECRET = generate_signing_secret()


@dataclass
class Outbox:
    sessions: async_sessionmaker[AsyncSession]
    http: httpx.AsyncClient
    emulator: RunningEmulator

    def dispatcher(self, *secrets: str, tenant_client: httpx.AsyncClient | None = None) -> Any:
        return EventDispatcher(
            EventOutbox(self.sessions),
            MakeClient(self.http, 5),
            signing_keys=[parse_signing_secret(s) for s in secrets],
            platform_webhook_url=self.emulator.hook_url("platform"),
            tenant_webhook_client=tenant_client,
        )

    async def tenant(self, tenant_id: str, webhook_url: str | None = None) -> None:
        now = utcnow()
        async with self.sessions.begin() as session:
            session.add(
                Tenant(
                    id=tenant_id,
                    slug=tenant_id.replace("_", "-").lower(),
                    club_name="Club",
                    plan="pro",
                    status="active",
                    payload_hash="x",
                    created_at=now,
                    updated_at=now,
                )
            )
            await session.flush()
            session.add(TenantResources(tenant_id=tenant_id, webhook_url=webhook_url))

    async def event(self, tenant_id: str, type_: Any = "tenant.suspended") -> str:
        async with self.sessions.begin() as session:
            data = {"plan": "pro", "status": "suspended", "previousStatus": "active"}
            return await enqueue(session, tenant_id, type_, data)

    async def events_of_new_tenants(self, prefix: str, n: int) -> list[str]:
        """`n` new tenants (`{prefix}00`, `{prefix}01`, …), one pending event each."""
        ids = []
        for i in range(n):
            await self.tenant(f"{prefix}{i:02d}")
            ids.append(await self.event(f"{prefix}{i:02d}"))
        return ids

    async def make_due(self, event_id: str, status: str = "pending") -> None:
        async with self.sessions.begin() as session:
            await session.execute(
                update(LifecycleEvent)
                .where(LifecycleEvent.id == event_id)
                .values(status=status, next_attempt_at=utcnow())
            )

    async def row(self, event_id: str) -> LifecycleEvent:
        async with self.sessions() as session:
            row = await session.get(LifecycleEvent, event_id)
        assert row is not None
        return row


@pytest.fixture
async def outbox(emulator: RunningEmulator, tmp_path: Path) -> AsyncIterator[Outbox]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'events.db'}")
    await migrate_engine(engine)
    try:
        async with httpx.AsyncClient() as http:
            yield Outbox(sessionmaker(engine), http, emulator)
    finally:
        await engine.dispose()


def lifecycle_deliveries(emulator: RunningEmulator) -> list[dict[str, Any]]:
    return [d for d in emulator.snapshot()["deliveries"] if "type" in d["body"]]


def verify(secret: str, delivery: dict[str, Any]) -> Any:
    return Webhook(secret).verify(delivery["rawBody"], delivery["headers"])


async def test_an_event_arrives_signed_and_verifies_with_the_reference_library(
    outbox: Outbox,
) -> None:
    await outbox.tenant("tenant_signed")
    event_id = await outbox.event("tenant_signed")
    assert await outbox.dispatcher(SECRET).drain_once() == 1
    (delivery,) = lifecycle_deliveries(outbox.emulator)
    assert delivery["hookId"] == "platform"
    assert verify(SECRET, delivery) == delivery["body"]
    headers = delivery["headers"]
    assert headers["webhook-id"] == event_id == headers["idempotency-key"]
    body = delivery["body"]
    assert set(body) == {"id", "type", "createdAt", "tenantId", "data"}
    assert body["id"] == event_id and body["type"] == "tenant.suspended"
    assert body["tenantId"] == "tenant_signed"
    assert body["data"] == {"plan": "pro", "status": "suspended", "previousStatus": "active"}
    assert headers["webhook-timestamp"] == str(
        int((await outbox.row(event_id)).created_at.timestamp())
    )
    assert "@" not in delivery["rawBody"]
    with pytest.raises(WebhookVerificationError):
        verify(generate_signing_secret(), delivery)
    row = await outbox.row(event_id)
    assert row.status == "delivered" and row.attempts == 1 and row.last_status == 200
    assert await outbox.dispatcher(SECRET).drain_once() == 0  # delivered: never again


async def test_a_redelivered_event_is_recognisable_by_its_id(outbox: Outbox) -> None:
    """A worker that dies after the POST but before recording it sends the event again: same
    bytes, id, timestamp and signature, so the receiver deduplicates by webhook-id."""
    await outbox.tenant("tenant_replay")
    event_id = await outbox.event("tenant_replay")
    await outbox.dispatcher(SECRET).drain_once()
    await outbox.make_due(event_id)  # as if the delivery had never been recorded
    await outbox.dispatcher(SECRET).drain_once()
    first, second = lifecycle_deliveries(outbox.emulator)
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature", "idempotency-key"):
        assert first["headers"][name] == second["headers"][name]
    assert first["rawBody"] == second["rawBody"]
    assert verify(SECRET, second)["id"] == event_id


async def test_during_a_rotation_both_secrets_sign(outbox: Outbox) -> None:
    await outbox.tenant("tenant_rotation")
    await outbox.event("tenant_rotation")
    await outbox.dispatcher(SECRET, NEXT_SECRET).drain_once()
    (delivery,) = lifecycle_deliveries(outbox.emulator)
    signatures = delivery["headers"]["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    verify(SECRET, delivery)
    verify(NEXT_SECRET, delivery)


async def test_a_failed_attempt_is_retried_later_with_the_same_event(outbox: Outbox) -> None:
    await outbox.tenant("tenant_retry")
    event_id = await outbox.event("tenant_retry")
    outbox.emulator.add_fault(target="make", status=503, count=1)
    assert await outbox.dispatcher(SECRET).drain_once() == 1
    row = await outbox.row(event_id)
    assert row.status == "pending" and row.attempts == 1 and row.last_status == 503
    assert row.next_attempt_at > utcnow()  # backoff: not due yet
    assert await outbox.dispatcher(SECRET).drain_once() == 0
    await outbox.make_due(event_id)
    await outbox.dispatcher(SECRET).drain_once()
    (delivery,) = lifecycle_deliveries(outbox.emulator)
    assert verify(SECRET, delivery)["id"] == event_id
    assert (await outbox.row(event_id)).attempts == 2


async def test_a_tenant_set_url_goes_through_the_ssrf_safe_client(outbox: Outbox) -> None:
    """The tenant's own URL resolves to a private address at delivery: refused, never sent,
    retried later (the platform's hook would be trusted)."""
    url = "https://hook.eu1.make.com/abcdefghijklmnop"
    await outbox.tenant("tenant_ssrf", webhook_url=url)
    event_id = await outbox.event("tenant_ssrf")
    resolver = FakeResolver({"hook.eu1.make.com": ["10.0.0.7"]})
    async with build_safe_client(["*.make.com"], 5, resolver) as safe:
        await outbox.dispatcher(SECRET, tenant_client=safe).drain_once()
    assert resolver.asked == ["hook.eu1.make.com"]
    row = await outbox.row(event_id)
    assert row.status == "pending" and "private_address" in (row.last_error or "")
    assert row.target_url == url
    assert lifecycle_deliveries(outbox.emulator) == []


async def test_an_event_too_old_to_retry_is_abandoned(outbox: Outbox) -> None:
    await outbox.tenant("tenant_old")
    event_id = await outbox.event("tenant_old")
    async with outbox.sessions.begin() as session:
        await session.execute(
            update(LifecycleEvent)
            .where(LifecycleEvent.id == event_id)
            .values(created_at=utcnow() - timedelta(days=4))
        )
    outbox.emulator.add_fault(target="make", status=500, count=1)
    await outbox.dispatcher(SECRET).drain_once()
    assert (await outbox.row(event_id)).status == "abandoned"
    assert json.loads((await outbox.row(event_id)).body)["id"] == event_id


async def test_the_worker_metrics_count_deliveries(outbox: Outbox) -> None:
    from syston.core.metrics import WorkerMetrics

    metrics = WorkerMetrics()
    await outbox.tenant("tenant_metrics")
    await outbox.event("tenant_metrics")
    dispatcher = outbox.dispatcher(SECRET)
    from syston.core.logs import event_sink_var

    token = event_sink_var.set(metrics.on_event)
    try:
        await dispatcher.drain_once()
    finally:
        event_sink_var.reset(token)
    text = metrics.render().decode()
    assert 'syston_lifecycle_events_total{outcome="delivered",type="tenant.suspended"} 1.0' in text


async def test_a_batch_settles_each_event_by_its_own_outcome(outbox: Outbox) -> None:
    """The delivered events of a batch are settled together; the one that failed is retried
    alone, later."""
    ids = await outbox.events_of_new_tenants("tenant_batch", 4)
    outbox.emulator.add_fault(target="make", status=503, count=1)
    assert await outbox.dispatcher(SECRET).drain_once() == 4
    rows = [await outbox.row(event_id) for event_id in ids]
    assert sorted(r.status for r in rows) == ["delivered"] * 3 + ["pending"]
    assert all(r.attempts == 1 for r in rows)
    assert all(r.last_status == 200 and r.delivered_at for r in rows if r.status == "delivered")
    (retrying,) = [r for r in rows if r.status == "pending"]
    assert retrying.last_status == 503 and retrying.next_attempt_at > utcnow()
    assert len(lifecycle_deliveries(outbox.emulator)) == 3
    assert await outbox.dispatcher(SECRET).drain_once() == 0


@contextlib.asynccontextmanager
async def outbox_on(
    database: str, emulator: RunningEmulator, tmp_path: Path
) -> AsyncIterator[Outbox]:
    """An outbox on a fresh migrated database of that kind."""
    async with contextlib.AsyncExitStack() as stack:
        if database == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp_path / 'events.db'}"
        else:
            url = await stack.enter_async_context(postgres_database())
        engine = create_engine(url)
        stack.push_async_callback(engine.dispose)
        await migrate_engine(engine)
        http = await stack.enter_async_context(httpx.AsyncClient())
        yield Outbox(sessionmaker(engine), http, emulator)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_a_claim_takes_no_more_than_asked(
    database: str, emulator: RunningEmulator, tmp_path: Path
) -> None:
    async with outbox_on(database, emulator, tmp_path) as shared:
        await shared.events_of_new_tenants("tenant_limit", 12)
        events = EventOutbox(shared.sessions)
        sizes = [len(await events.claim_due(limit, timedelta(seconds=60))) for limit in (1, 5, 20)]
    assert sizes == [1, 5, 6]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_dispatchers_draining_at_once_send_each_event_once(
    database: str, emulator: RunningEmulator, tmp_path: Path
) -> None:
    """Several workers share the outbox: each event is claimed by exactly one of them."""
    async with outbox_on(database, emulator, tmp_path) as shared:
        await shared.events_of_new_tenants("tenant_race", 30)
        dispatchers = [shared.dispatcher(SECRET) for _ in range(4)]
        attempted = 0
        while True:
            counts = await asyncio.gather(*(d.drain_once() for d in dispatchers))
            attempted += sum(counts)
            if not any(counts):
                break
    ids = [d["body"]["id"] for d in lifecycle_deliveries(emulator)]
    assert attempted == 30 and len(ids) == 30 and len(set(ids)) == 30
