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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from syston.core.db import LifecycleEvent, TenantResources, utcnow
from syston.core.engine import run_transaction
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


_events = cast(Table, LifecycleEvent.__table__)
_resources = cast(Table, TenantResources.__table__)
# Built once and run as Core statements (not through the ORM's unit of work): the activation's
# transaction and the dispatcher run them for every tenant (bench/README.md).
_ENQUEUE = insert(_events).values(
    id=bindparam("b_id"),
    tenant_id=bindparam("b_tenant"),
    type=bindparam("b_type"),
    body=bindparam("b_body"),
    created_at=bindparam("b_now"),
    # the tenant's admin-set URL of this moment (NULL: the platform's hook)
    target_url=select(_resources.c.webhook_url)
    .where(_resources.c.tenant_id == bindparam("b_tenant"))
    .scalar_subquery(),
    status="pending",
    attempts=0,
    next_attempt_at=bindparam("b_now"),
)
_EVENT_EXISTS = select(_events.c.id).where(_events.c.id == bindparam("b_id"))
_DUE = (
    select(_events.c.id)
    .where(_events.c.status == "pending", _events.c.next_attempt_at <= bindparam("b_now"))
    .order_by(_events.c.next_attempt_at)
    .limit(bindparam("b_limit"))
    # PostgreSQL: dispatchers claiming at the same moment take different events
    .with_for_update(skip_locked=True)
    .cte("due")
    # evaluated once: as an `IN (subquery)` PostgreSQL may run it again per row, and with
    # SKIP LOCKED each run can return other rows, claiming more than the limit
    .prefix_with("MATERIALIZED", dialect="postgresql")
)
_CLAIM = (
    update(_events)
    .where(
        _events.c.id == _DUE.c.id,
        # re-checked on the row itself: an event another dispatcher leased meanwhile is not due
        _events.c.status == "pending",
        _events.c.next_attempt_at <= bindparam("b_now"),
    )
    .values(next_attempt_at=bindparam("b_lease"), attempts=_events.c.attempts + 1)
    .returning(
        _events.c.id,
        _events.c.tenant_id,
        _events.c.type,
        _events.c.body,
        _events.c.created_at,
        _events.c.target_url,
        _events.c.attempts,
    )
)
_DELIVERED = (
    update(_events)
    .where(_events.c.id == bindparam("b_id"), _events.c.status == "pending")
    .values(
        status="delivered",
        delivered_at=bindparam("b_now"),
        last_status=bindparam("b_status"),
        last_error=None,
    )
)


async def enqueue(
    db: AsyncSession | AsyncConnection,
    tenant_id: str,
    type_: LifecycleEventType,
    data: dict[str, Any],
    *,
    event_id: str | None = None,
) -> str:
    """Add the event to the transaction of `db` (committed with the change); the tenant's
    admin-set webhook URL of this moment is its target (None: the platform's). With
    `event_id`, a repeat adds nothing."""
    if isinstance(db, AsyncSession):
        await db.flush()  # the statements below see the change the event announces
        db = await db.connection()
    return await db.run_sync(enqueue_on, tenant_id, type_, data, event_id=event_id)


def enqueue_on(
    db: Connection,
    tenant_id: str,
    type_: LifecycleEventType,
    data: dict[str, Any],
    *,
    event_id: str | None = None,
) -> str:
    """`enqueue` on a plain `Connection`: in a transaction of `run_transaction`
    (syston.core.engine), or through `run_sync`."""
    if event_id is not None and db.execute(_EVENT_EXISTS, {"b_id": event_id}).first():
        return event_id
    event_id = event_id or new_event_id()
    now = utcnow().replace(microsecond=0)
    body = render_body(event_id, type_, now, tenant_id, data)
    db.execute(
        _ENQUEUE,
        {"b_id": event_id, "b_tenant": tenant_id, "b_type": type_, "b_body": body, "b_now": now},
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
        """Up to `limit` due events, each leased to this caller until `lease` from now (one
        conditional update: two dispatchers never claim the same attempt)."""
        now = utcnow()
        params = {"b_now": now, "b_lease": now + lease, "b_limit": limit}
        rows = await run_transaction(self._sessions, _claim, params)
        return sorted(rows, key=lambda e: e.created_at)

    async def delivered(self, outcomes: Sequence[tuple[str, int]]) -> None:
        """Settle delivered events, (event id, the receiver's status) each, in one
        transaction."""
        if not outcomes:
            return
        now = utcnow()
        rows = [
            {"b_id": event_id, "b_status": status, "b_now": now} for event_id, status in outcomes
        ]
        await run_transaction(self._sessions, Connection.execute, _DELIVERED, rows)

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


def _claim(db: Connection, params: dict[str, Any]) -> list[PendingEvent]:
    return [PendingEvent(*row) for row in db.execute(_CLAIM, params)]
