"""Offboarding a tenant: scheduled with a grace period, cancellable until it ends
(docs/http-api.md#offboarding).

`offboard()` moves the tenant to `deprovisioning` (one conditional update, with its operation,
steps and audit entry), stops a running provisioning, and starts OffboardTenant, which waits
on a durable timer. `cancel()` restores the status the tenant had, as long as the grace period
is not over and the run has not begun deleting: both sides are conditional updates on the
operation's `phase`, so exactly one of a last-moment cancel and the end of the grace wins.
A start that fails (Temporal down) is undone, so the tenant is never left `deprovisioning`
without a run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syston.core import audit
from syston.core.db import OperationStep, Tenant, TenantOperation, utcnow
from syston.core.errors import (
    LifecycleInProgress,
    ServiceError,
    TenantNotActive,
    TenantNotFoundError,
)
from syston.core.logs import log_event
from syston.core.temporal import offboard_workflow_id
from syston.models import OFFBOARD_STEPS
from syston.operations import IN_PROGRESS, replace_operation, reset_steps, still_in_grace
from syston.provisioning_client import TemporalGateway

NOT_OFFBOARDABLE = ("deprovisioning", "deleted")
SYSTEM_ACTOR = "system"


@dataclass(frozen=True, slots=True)
class OffboardScheduled:
    tenant_id: str
    delete_after: datetime
    workflow_id: str
    run_id: str | None


@dataclass(frozen=True, slots=True)
class OffboardCancelled:
    tenant_id: str
    status: str


class Offboarding:
    """Schedules and cancels offboardings."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        temporal: TemporalGateway,
        default_grace_seconds: int,
    ) -> None:
        self._sessions = sessions
        self._temporal = temporal
        self._default_grace = default_grace_seconds

    async def offboard(
        self, tenant_id: str, grace_seconds: int | None, reason: str | None, actor: str
    ) -> OffboardScheduled:
        grace = self._default_grace if grace_seconds is None else grace_seconds
        delete_after = utcnow() + timedelta(seconds=grace)
        previous, plan = await self._schedule(tenant_id, delete_after, reason, actor)
        try:
            if previous in ("processing", "failed"):
                await self._temporal.stop_provisioning(tenant_id)
            run_id = await self._temporal.start_offboarding(tenant_id, plan, delete_after)
        except BaseException:
            await self._unschedule(tenant_id, previous)
            raise
        async with self._sessions.begin() as session:
            await session.execute(
                update(TenantOperation)
                .where(TenantOperation.tenant_id == tenant_id, TenantOperation.run_id.is_(None))
                .values(run_id=run_id)
            )
        log_event(
            "tenant_offboarding_scheduled",
            tenant_id=tenant_id,
            from_status=previous,
            grace_seconds=grace,
            delete_after=delete_after.isoformat(),
            sub=actor,
        )
        return OffboardScheduled(tenant_id, delete_after, offboard_workflow_id(tenant_id), run_id)

    async def _schedule(
        self, tenant_id: str, delete_after: datetime, reason: str | None, actor: str
    ) -> tuple[str, str]:
        """The database side: deprovisioning, the operation, its steps and the audit entry;
        (previous status, plan)."""
        now = utcnow()
        async with self._sessions.begin() as session:
            tenant = await session.get(Tenant, tenant_id, with_for_update=True)
            if tenant is None:
                raise TenantNotFoundError(tenant_id)
            if tenant.status in NOT_OFFBOARDABLE:
                raise TenantNotActive(tenant_id, tenant.status, "offboarded")
            operation = await session.get(TenantOperation, tenant_id, with_for_update=True)
            if operation is not None and operation.status in IN_PROGRESS:
                raise LifecycleInProgress(tenant_id, operation.type.replace("_", " "))
            previous = tenant.status
            moved = await session.execute(
                update(Tenant)
                .where(Tenant.id == tenant_id, Tenant.status == previous)
                .values(status="deprovisioning", updated_at=now)
            )
            if not moved.rowcount:  # type: ignore[attr-defined]
                raise LifecycleInProgress(tenant_id, "status change")
            replace_operation(
                session, operation, tenant_id, type="offboard", status="running", phase="grace",
                workflow_id=offboard_workflow_id(tenant_id), run_id=None, plan=tenant.plan,
                previous_status=previous, delete_after=delete_after, reason=reason, actor=actor,
            )  # fmt: skip
            await reset_steps(session, tenant_id, OFFBOARD_STEPS)
            audit.record(
                session,
                actor=actor,
                action="tenant_offboarding_scheduled",
                tenant_id=tenant_id,
                at=now,
                **{"from": previous, "to": "deprovisioning", "reason": reason},
                deleteAfter=delete_after.isoformat(),
            )
            return previous, tenant.plan

    async def _unschedule(self, tenant_id: str, previous: str) -> None:
        """The run could not be started: put the tenant back as it was."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(Tenant)
                .where(Tenant.id == tenant_id, Tenant.status == "deprovisioning")
                .values(status=previous, updated_at=utcnow())
            )
            await session.execute(delete(OperationStep).where(OperationStep.tenant_id == tenant_id))
            await session.execute(
                delete(TenantOperation).where(
                    TenantOperation.tenant_id == tenant_id, TenantOperation.run_id.is_(None)
                )
            )
            audit.record(
                session,
                actor=SYSTEM_ACTOR,
                action="tenant_offboarding_not_started",
                tenant_id=tenant_id,
                to=previous,
            )

    async def cancel(self, tenant_id: str, reason: str | None, actor: str) -> OffboardCancelled:
        """Restore the status from before the offboarding, if its grace period is not over."""
        restored, run_id = await self._restore(tenant_id, reason, actor)
        try:
            await self._temporal.cancel_offboarding(tenant_id, run_id)
            if restored == "processing":  # provisioning was stopped for the offboarding
                await self._temporal.start_provisioning(tenant_id, await self._plan(tenant_id))
        except (ServiceError, OSError) as exc:
            # The database is the record; a run not told ends by itself at the grace's end.
            log_event(
                "tenant_offboarding_cancel_not_signalled",
                logging.WARNING,
                tenant_id=tenant_id,
                error=type(exc).__name__,
            )
        log_event(
            "tenant_offboarding_cancelled", tenant_id=tenant_id, to_status=restored, sub=actor
        )
        return OffboardCancelled(tenant_id, restored)

    async def _restore(
        self, tenant_id: str, reason: str | None, actor: str
    ) -> tuple[str, str | None]:
        now = utcnow()
        async with self._sessions.begin() as session:
            tenant = await session.get(Tenant, tenant_id, with_for_update=True)
            if tenant is None:
                raise TenantNotFoundError(tenant_id)
            operation = await session.get(TenantOperation, tenant_id, with_for_update=True)
            if tenant.status != "deprovisioning" or not still_in_grace(operation, now):
                raise TenantNotActive(
                    tenant_id, tenant.status, "restored (no offboarding to cancel)"
                )
            assert operation is not None
            restored = operation.previous_status or "active"
            cancelled = await session.execute(
                update(TenantOperation)
                .where(TenantOperation.tenant_id == tenant_id, TenantOperation.phase == "grace")
                .values(status="cancelled", phase="cancelled", completed_at=now, updated_at=now)
            )
            if not cancelled.rowcount:  # type: ignore[attr-defined]  # the grace ended under us
                raise TenantNotActive(tenant_id, tenant.status, "restored (deletion has begun)")
            await session.execute(
                update(Tenant)
                .where(Tenant.id == tenant_id, Tenant.status == "deprovisioning")
                .values(status=restored, updated_at=now)
            )
            audit.record(
                session,
                actor=actor,
                action="tenant_offboarding_cancelled",
                tenant_id=tenant_id,
                at=now,
                **{"from": "deprovisioning", "to": restored, "reason": reason},
            )
            return restored, operation.run_id

    async def _plan(self, tenant_id: str) -> str:
        async with self._sessions() as session:
            tenant = await session.get(Tenant, tenant_id)
        return tenant.plan if tenant is not None else "starter"
