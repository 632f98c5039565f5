"""What the lifecycle workflows' steps write: the plan, the offboarding's phases, the webhook,
the personal data and the final status. Each is a conditional update (or one transaction), so
a step that runs twice changes nothing the second time.

Erasure keeps the tenant id, status, plan and audit trail and removes the rest: the owner row
(e-mail; its `sub` can no longer sign in, every token being cut off first), the club name (an
empty value that the API shows as null) and the signup fingerprint; the slug is rewritten to a
tombstone that no signup can ask for (it contains the tenant id's `_`), so the slug and e-mail
are free for a new signup at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syston.core.db import Owner, Tenant, TenantOperation, TenantResources, utcnow
from syston.lifecycle_events import enqueue, stable_event_id
from syston.models import LifecycleEventType

ERASED = ""


def tombstone_slug(tenant_id: str) -> str:
    """A slug no signup can take (signup slugs are `^[a-z0-9]+(-[a-z0-9]+)*$`)."""
    return f"deleted-{tenant_id}"[:63]


@dataclass(frozen=True, slots=True)
class LifecycleContext:
    """What the lifecycle steps need to know about a tenant."""

    tenant_id: str
    slug: str
    club_name: str
    plan: str
    status: str
    owner_email: str | None
    spreadsheet_id: str | None
    webhook_url: str | None
    operation_plan: str | None
    previous_plan: str | None


class LifecycleStore:
    """Reads and writes of the plan-change and offboarding steps."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def context(self, tenant_id: str) -> LifecycleContext | None:
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(Tenant, Owner.email, TenantResources, TenantOperation)
                    .outerjoin(Owner, Owner.tenant_id == Tenant.id)
                    .outerjoin(TenantResources, TenantResources.tenant_id == Tenant.id)
                    .outerjoin(TenantOperation, TenantOperation.tenant_id == Tenant.id)
                    .where(Tenant.id == tenant_id)
                    .limit(1)
                )
            ).one_or_none()
        if row is None:
            return None
        tenant, email, resources, operation = row
        return LifecycleContext(
            tenant_id=tenant.id,
            slug=tenant.slug,
            club_name=tenant.club_name,
            plan=tenant.plan,
            status=tenant.status,
            owner_email=email,
            spreadsheet_id=resources.spreadsheet_id if resources else None,
            webhook_url=resources.webhook_url if resources else None,
            operation_plan=operation.plan if operation else None,
            previous_plan=operation.previous_plan if operation else None,
        )

    async def store_sheet(self, tenant_id: str, spreadsheet_id: str, url: str) -> None:
        now = utcnow()
        async with self._sessions.begin() as session:
            stored = await session.execute(
                update(TenantResources)
                .where(TenantResources.tenant_id == tenant_id)
                .values(spreadsheet_id=spreadsheet_id, spreadsheet_url=url, updated_at=now)
            )
            if not stored.rowcount:  # type: ignore[attr-defined]
                session.add(
                    TenantResources(
                        tenant_id=tenant_id,
                        spreadsheet_id=spreadsheet_id,
                        spreadsheet_url=url,
                        updated_at=now,
                    )
                )

    async def apply_plan(self, tenant_id: str, plan: str, previous: str, run_id: str) -> bool:
        """Switch the tenant to `plan` and announce it (once: the event id is the run's)."""
        async with self._sessions.begin() as session:
            changed = await session.execute(
                update(Tenant)
                .where(Tenant.id == tenant_id, Tenant.plan == previous)
                .values(plan=plan, updated_at=utcnow())
                .returning(Tenant.status)
            )
            status = changed.scalar_one_or_none()
            if status is None:
                return False
            data = {"plan": plan, "status": status, "previousPlan": previous}
            await self._announce(session, tenant_id, "tenant.plan_changed", data, run_id)
            return True

    async def begin_deletion(self, tenant_id: str, run_id: str) -> bool:
        """The grace period is over: the offboarding (this run's, still in grace and not
        cancelled) moves to `deleting` and can no longer be cancelled. False when there is
        nothing to delete (cancelled, replaced): the run ends without touching anything."""
        async with self._sessions.begin() as session:
            moved = await session.execute(
                update(TenantOperation)
                .where(
                    TenantOperation.tenant_id == tenant_id,
                    TenantOperation.type == "offboard",
                    TenantOperation.run_id == run_id,
                    TenantOperation.status.in_(("running", "failed")),
                    TenantOperation.phase.in_(("grace", "deleting")),
                )
                .values(phase="deleting", updated_at=utcnow())
            )
            if not moved.rowcount:  # type: ignore[attr-defined]
                return False
            status = await session.scalar(select(Tenant.status).where(Tenant.id == tenant_id))
            return status in ("deprovisioning", "deleted")

    async def announce_offboarded(self, tenant_id: str, plan: str, run_id: str) -> None:
        """Queue `tenant.offboarded` for the webhook of this moment (before it is cleared)."""
        async with self._sessions.begin() as session:
            data = {"plan": plan, "status": "deleted", "previousStatus": "deprovisioning"}
            await self._announce(session, tenant_id, "tenant.offboarded", data, run_id)

    async def announce_offboarding(self, tenant_id: str, run_id: str) -> None:
        """Queue `tenant.offboarding_scheduled` (once per run)."""
        async with self._sessions.begin() as session:
            row = (
                await session.execute(
                    select(
                        Tenant.plan, TenantOperation.previous_status, TenantOperation.delete_after
                    )
                    .join(TenantOperation, TenantOperation.tenant_id == Tenant.id)
                    .where(Tenant.id == tenant_id)
                )
            ).one_or_none()
            if row is None:
                return
            data = {
                "plan": row[0],
                "status": "deprovisioning",
                "previousStatus": row[1],
                "deleteAfter": row[2].isoformat().replace("+00:00", "Z") if row[2] else None,
            }
            await self._announce(session, tenant_id, "tenant.offboarding_scheduled", data, run_id)

    async def clear_webhook(self, tenant_id: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(TenantResources)
                .where(TenantResources.tenant_id == tenant_id)
                .values(webhook_url=None, webhook_registered_at=None, updated_at=utcnow())
            )

    async def erase_personal_data(self, tenant_id: str) -> bool:
        """Owner e-mail and club name gone, slug and e-mail free; True when something changed."""
        async with self._sessions.begin() as session:
            owners = await session.execute(delete(Owner).where(Owner.tenant_id == tenant_id))
            tenants = await session.execute(
                update(Tenant)
                .where(Tenant.id == tenant_id, Tenant.payload_hash != ERASED)
                .values(
                    club_name=ERASED,
                    slug=tombstone_slug(tenant_id),
                    payload_hash=ERASED,
                    updated_at=utcnow(),
                )
            )
            return bool(owners.rowcount or tenants.rowcount)  # type: ignore[attr-defined]

    async def mark_deleted(self, tenant_id: str) -> bool:
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(Tenant)
                .where(Tenant.id == tenant_id, Tenant.status == "deprovisioning")
                .values(status="deleted", updated_at=utcnow())
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    @staticmethod
    async def _announce(
        session: AsyncSession,
        tenant_id: str,
        type_: LifecycleEventType,
        data: Mapping[str, object],
        run_id: str,
    ) -> None:
        event_id = stable_event_id(tenant_id, type_, run_id)
        await enqueue(session, tenant_id, type_, dict(data), event_id=event_id)
