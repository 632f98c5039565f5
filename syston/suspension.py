"""Suspension and reactivation: immediate status changes, audited, announced by signed events
(docs/http-api.md#suspension).

Each is one conditional update (`active` → `suspended`, or back) in a transaction with its
audit entry and its event, so a concurrent change is never overwritten and the event is sent
exactly when the change commits. Suspending a suspended tenant or reactivating an active one
changes nothing; any other status is 409 TENANT_NOT_ACTIVE. While a tenant is `suspended` (or
`deprovisioning`) its own tokens are refused with `tenant_suspended` (api.deps.authenticate).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syston.core import audit
from syston.core.db import Tenant, utcnow
from syston.core.errors import TenantNotActive, TenantNotFoundError
from syston.core.logs import log_event
from syston.lifecycle_events import enqueue
from syston.models import LifecycleEventType

# Statuses in which the tenant's own tokens are refused.
LOCKED_OUT_STATUSES = ("suspended", "deprovisioning")


@dataclass(frozen=True, slots=True)
class StatusTransition:
    tenant_id: str
    status: str
    previous: str
    changed: bool


class Suspensions:
    """Suspends and reactivates tenants."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def suspend(self, tenant_id: str, reason: str, actor: str) -> StatusTransition:
        return await self._move(tenant_id, "active", "suspended", "tenant.suspended", reason, actor)

    async def reactivate(self, tenant_id: str, reason: str, actor: str) -> StatusTransition:
        return await self._move(
            tenant_id, "suspended", "active", "tenant.reactivated", reason, actor
        )

    async def _move(
        self,
        tenant_id: str,
        source: str,
        target: str,
        event: LifecycleEventType,
        reason: str,
        actor: str,
    ) -> StatusTransition:
        now = utcnow()
        async with self._sessions.begin() as session:
            moved = await session.execute(
                update(Tenant)
                .where(Tenant.id == tenant_id, Tenant.status == source)
                .values(status=target, updated_at=now)
                .returning(Tenant.plan)
            )
            plan = moved.scalar_one_or_none()
            if plan is None:
                current = await session.scalar(select(Tenant.status).where(Tenant.id == tenant_id))
                if current is None:
                    raise TenantNotFoundError(tenant_id)
                if current == target:
                    return StatusTransition(tenant_id, target, target, changed=False)
                raise TenantNotActive(tenant_id, current, target)
            action = event.removeprefix("tenant.")
            audit.record(
                session,
                actor=actor,
                action=f"tenant_{action}",
                tenant_id=tenant_id,
                at=now,
                **{"from": source, "to": target, "reason": reason},
            )
            data = {"plan": plan, "status": target, "previousStatus": source}
            await enqueue(session, tenant_id, event, data)
        log_event(
            f"tenant_{action}", tenant_id=tenant_id, from_status=source, to_status=target, sub=actor
        )
        return StatusTransition(tenant_id, target, source, changed=True)
