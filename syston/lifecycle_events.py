"""Signed lifecycle events: the outbox (docs/http-api.md#signed-lifecycle-events).

`enqueue()` adds an event to the session of the change it announces, so the change and its
event commit together and an event is never lost nor sent for a change that rolled back. The
body is rendered once, here, and stored: every delivery attempt sends (and signs) the same
bytes, id and timestamp, so a receiver deduplicates by `webhook-id`. The worker's dispatcher
(activities.event_delivery) claims due events with a lease, delivers them and records the
outcome; events are delivered at least once and never delay the status change itself.

Bodies carry the plan and status only: never an email, a club name or a token.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syston.core.db import LifecycleEvent, TenantResources, utcnow
from syston.models import LifecycleEventType

MAX_ERROR_CHARS = 500


def new_event_id() -> str:
    return "evt_" + secrets.token_urlsafe(18)


def stable_event_id(*parts: str) -> str:
    """An id derived from what identifies the event (a step's retry re-derives the same one)."""
    return "evt_" + hashlib.sha256(":".join(parts).encode()).hexdigest()[:32]


def render_body(
    event_id: str, type_: str, created_at: datetime, tenant_id: str, data: dict[str, Any]
) -> str:
    created = created_at.isoformat(timespec="seconds").replace("+00:00", "Z")
    return json.dumps(
        {"id": event_id, "type": type_, "createdAt": created, "tenantId": tenant_id, "data": data},
        separators=(",", ":"),
    )


async def enqueue(
    session: AsyncSession,
    tenant_id: str,
    type_: LifecycleEventType,
    data: dict[str, Any],
    *,
    event_id: str | None = None,
) -> str:
    """Add the event to `session` (committed with the change); the tenant's admin-set webhook
    URL of this moment is its target (None: the platform's). With `event_id`, a repeat adds
    nothing."""
    if event_id is not None and await session.get(LifecycleEvent, event_id) is not None:
        return event_id
    event_id = event_id or new_event_id()
    now = utcnow().replace(microsecond=0)
    target = await session.scalar(
        select(TenantResources.webhook_url).where(TenantResources.tenant_id == tenant_id)
    )
    session.add(
        LifecycleEvent(
            id=event_id,
            tenant_id=tenant_id,
            type=type_,
            body=render_body(event_id, type_, now, tenant_id, data),
            created_at=now,
            target_url=target,
            status="pending",
            attempts=0,
            next_attempt_at=now,
        )
    )
    return event_id


@dataclass(frozen=True, slots=True)
class PendingEvent:
    id: str
    tenant_id: str
    type: str
    body: str
    created_at: datetime
    target_url: str | None
    attempts: int


class EventOutbox:
    """Claims and settles the outbox's events (the dispatcher's side)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def claim_due(self, limit: int, lease: timedelta) -> list[PendingEvent]:
        """Up to `limit` due events, each leased to this caller until `lease` from now (a
        conditional update: two dispatchers never claim the same attempt)."""
        now = utcnow()
        async with self._sessions.begin() as session:
            due = (
                await session.execute(
                    select(LifecycleEvent.id, LifecycleEvent.next_attempt_at)
                    .where(
                        LifecycleEvent.status == "pending", LifecycleEvent.next_attempt_at <= now
                    )
                    .order_by(LifecycleEvent.next_attempt_at)
                    .limit(limit)
                )
            ).all()
            claimed: list[PendingEvent] = []
            for event_id, due_at in due:
                row = (
                    await session.execute(
                        update(LifecycleEvent)
                        .where(
                            LifecycleEvent.id == event_id,
                            LifecycleEvent.status == "pending",
                            LifecycleEvent.next_attempt_at == due_at,
                        )
                        .values(next_attempt_at=now + lease, attempts=LifecycleEvent.attempts + 1)
                        .returning(LifecycleEvent)
                    )
                ).scalar_one_or_none()
                if row is not None:
                    claimed.append(
                        PendingEvent(
                            row.id,
                            row.tenant_id,
                            row.type,
                            row.body,
                            row.created_at,
                            row.target_url,
                            row.attempts,
                        )
                    )
            return claimed

    async def delivered(self, event_id: str, status: int) -> None:
        await self._settle(
            event_id, status="delivered", delivered_at=utcnow(), last_status=status, last_error=None
        )

    async def failed(
        self, event_id: str, error: str, status: int | None, retry_at: datetime | None
    ) -> None:
        """Record a failed attempt: retried at `retry_at`, or abandoned when None."""
        values: dict[str, Any] = {"last_status": status, "last_error": error[:MAX_ERROR_CHARS]}
        if retry_at is None:
            values["status"] = "abandoned"
        else:
            values["next_attempt_at"] = retry_at
        await self._settle(event_id, **values)

    async def _settle(self, event_id: str, **values: Any) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(LifecycleEvent)
                .where(LifecycleEvent.id == event_id, LifecycleEvent.status == "pending")
                .values(**values)
            )
