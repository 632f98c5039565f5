"""The provisioning ledger: step checkpoints, resources and tenant status transitions.

Every write is a single conditional statement so that activities, which run at least once,
can repeat any of them safely.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from syston.core.db import (
    Owner,
    ProvisioningStep,
    ProvisionRequest,
    Tenant,
    TenantResources,
    utcnow,
)
from syston.lifecycle_events import enqueue
from syston.models import BeginResult, StepName, steps_for

MAX_ERROR_MESSAGE = 1000

# The statements every step runs, built once and run on the connection (Core, not the ORM's
# bulk-update path): building and synchronising them was most of the ledger's CPU per step
# (bench/README.md). Bind names are prefixed so they never clash with column names.
_steps = cast(Table, ProvisioningStep.__table__)
_resources = cast(Table, TenantResources.__table__)
_START_STEP = (
    update(_steps)
    .where(_steps.c.tenant_id == bindparam("b_tenant"), _steps.c.name == bindparam("b_step"))
    .values(
        status="running",
        attempts=_steps.c.attempts + 1,
        started_at=func.coalesce(_steps.c.started_at, bindparam("b_now")),
        completed_at=None,
        updated_at=bindparam("b_now"),
    )
    .returning(_steps.c.attempts)
)
_COMPLETE_STEP = (
    update(_steps)
    .where(_steps.c.tenant_id == bindparam("b_tenant"), _steps.c.name == bindparam("b_step"))
    .values(
        status="completed",
        completed_at=bindparam("b_now"),
        error_code=None,
        error_message=None,
        updated_at=bindparam("b_now"),
    )
)
_CONTEXT = (
    select(
        Tenant.id,
        Tenant.slug,
        Tenant.club_name,
        Tenant.plan,
        Owner.email,
        TenantResources.spreadsheet_id,
        TenantResources.spreadsheet_url,
        TenantResources.webhook_url,
        TenantResources.webhook_registered_at,
    )
    .join(Owner, Owner.tenant_id == Tenant.id)
    .outerjoin(TenantResources, TenantResources.tenant_id == Tenant.id)
    .where(Tenant.id == bindparam("b_tenant"))
    .limit(1)
)


class TenantNotFound(LookupError):
    """No tenant with that id."""


@dataclass(frozen=True)
class ProvisioningContext:
    """What the activities need to know about a tenant."""

    tenant_id: str
    slug: str
    club_name: str
    plan: str
    owner_email: str
    spreadsheet_id: str | None
    spreadsheet_url: str | None
    tenant_webhook_url: str | None  # set by an admin; None = the platform's MAKE_WEBHOOK_URL
    webhook_registered: bool


@dataclass(frozen=True)
class Activation:
    activated: bool
    duration_ms: int | None


class ProvisioningStore:
    """Reads and writes the provisioning state of tenants."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def begin(self, tenant_id: str, plan: str, *, force: bool, run_id: str) -> BeginResult:
        """Called when a run starts: record the run, and say which steps are already done.

        The tenant's request to provision (syston.intake) is settled too, whoever started the
        run: had the starter died before deleting it, no relay needs to try again."""
        now = utcnow()
        async with self._sessions.begin() as session:
            tenant = await session.get(Tenant, tenant_id, with_for_update=True)
            if tenant is None:
                return BeginResult(found=False)
            await self._ensure_steps(session, tenant_id, plan)
            await session.execute(
                delete(ProvisionRequest).where(ProvisionRequest.tenant_id == tenant_id)
            )
            tenant.workflow_run_id = run_id
            tenant.provision_started_at = tenant.provision_started_at or now
            tenant.updated_at = now
            if force:
                await session.execute(
                    update(ProvisioningStep)
                    .where(ProvisioningStep.tenant_id == tenant_id)
                    .values(status="pending", error_code=None, error_message=None, updated_at=now)
                )
                if tenant.status != "processing":
                    tenant.status = "processing"
                    tenant.provisioned_at = None
                tenant.error_step = tenant.error_code = tenant.error_message = None
                return BeginResult(found=True, status=tenant.status, completed_steps=[])
            if tenant.status == "failed":
                tenant.status = "processing"
                tenant.error_step = tenant.error_code = tenant.error_message = None
                await self._reset_failed_steps(session, tenant_id)
            if tenant.status == "processing":
                await self._reopen_activation(session, tenant_id, now)
            rows = await session.execute(
                select(ProvisioningStep.name).where(
                    ProvisioningStep.tenant_id == tenant_id,
                    ProvisioningStep.status == "completed",
                )
            )
            done = set(rows.scalars())
            completed: list[StepName] = [s for s in steps_for(plan) if s in done]
            return BeginResult(found=True, status=tenant.status, completed_steps=completed)

    async def _ensure_steps(self, session: AsyncSession, tenant_id: str, plan: str) -> None:
        rows = await session.execute(
            select(ProvisioningStep.name).where(ProvisioningStep.tenant_id == tenant_id)
        )
        present = set(rows.scalars())
        for position, name in enumerate(steps_for(plan)):
            if name not in present:
                session.add(
                    ProvisioningStep(
                        tenant_id=tenant_id, name=name, position=position, status="pending"
                    )
                )

    async def _reopen_activation(
        self, session: AsyncSession, tenant_id: str, now: datetime
    ) -> None:
        """mark_active completes in the same transaction as the tenant turns active, so a
        tenant that is not active while the step says completed was set back by hand (an
        admin override). The step is pending again, so this run re-asserts `active` instead of
        finding nothing to do and leaving the tenant in `processing` for good."""
        await session.execute(
            update(ProvisioningStep)
            .where(
                ProvisioningStep.tenant_id == tenant_id,
                ProvisioningStep.name == "mark_active",
                ProvisioningStep.status == "completed",
            )
            .values(status="pending", updated_at=now)
        )

    async def _reset_failed_steps(self, session: AsyncSession, tenant_id: str) -> None:
        await session.execute(
            update(ProvisioningStep)
            .where(ProvisioningStep.tenant_id == tenant_id, ProvisioningStep.status == "failed")
            .values(status="pending", updated_at=utcnow())
        )

    async def start_step(self, tenant_id: str, step: str) -> tuple[int, ProvisioningContext]:
        """Mark a step running and count the attempt, and read what the step needs — in one
        transaction. Returns the attempt number and the tenant's context."""
        async with self._sessions.begin() as session:
            db = await session.connection()
            attempts = (
                await db.execute(
                    _START_STEP, {"b_tenant": tenant_id, "b_step": step, "b_now": utcnow()}
                )
            ).scalar_one_or_none()
            if attempts is None:
                raise TenantNotFound(tenant_id)
            return int(attempts), await self._context(db, tenant_id)

    async def step_retrying(self, tenant_id: str, step: str, code: str, message: str) -> None:
        await self._set_step(
            tenant_id, step, status="retrying", error_code=code, error_message=_clip(message)
        )

    async def complete_step(self, tenant_id: str, step: str, **resources: Any) -> None:
        """Mark a step completed and store the resources it produced, in one transaction."""
        now = utcnow()
        async with self._sessions.begin() as session:
            db = await session.connection()
            await db.execute(_COMPLETE_STEP, {"b_tenant": tenant_id, "b_step": step, "b_now": now})
            if resources:
                stored = await db.execute(
                    update(_resources)
                    .where(_resources.c.tenant_id == tenant_id)
                    .values(updated_at=now, **resources)
                )
                if not stored.rowcount:
                    await db.execute(
                        insert(_resources).values(tenant_id=tenant_id, updated_at=now, **resources)
                    )

    async def record_failure(self, tenant_id: str, step: str, code: str, message: str) -> None:
        """Provisioning stopped on an error retrying won't fix: the step and tenant say why."""
        now = utcnow()
        message = _clip(message)
        async with self._sessions.begin() as session:
            await session.execute(
                update(ProvisioningStep)
                .where(ProvisioningStep.tenant_id == tenant_id, ProvisioningStep.name == step)
                .values(status="failed", error_code=code, error_message=message, updated_at=now)
            )
            failed = await session.execute(
                update(Tenant)
                .where(Tenant.id == tenant_id, Tenant.status == "processing")
                .values(
                    status="failed",
                    error_step=step,
                    error_code=code,
                    error_message=message,
                    updated_at=now,
                )
                .returning(Tenant.plan)
            )
            plan = failed.scalar_one_or_none()
            if plan is not None:  # announced once per stop, with the change it announces
                data = {"plan": plan, "status": "failed", "previousStatus": "processing"}
                await enqueue(session, tenant_id, "tenant.failed", data)

    async def resume(self, tenant_id: str, *, if_updated_at: datetime | None = None) -> bool:
        """A stopped run was told to retry: back to processing, failed steps pending.

        With `if_updated_at`, only if the tenant is unchanged since that moment: the API calls
        this right after signalling `retry`, and must not overwrite anything the resumed run
        has recorded meanwhile. True when the tenant moved from failed to processing.
        """
        now = utcnow()
        conditions = [Tenant.id == tenant_id, Tenant.status == "failed"]
        if if_updated_at is not None:
            conditions.append(Tenant.updated_at == if_updated_at)
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(Tenant)
                .where(*conditions)
                .values(
                    status="processing",
                    error_step=None,
                    error_code=None,
                    error_message=None,
                    updated_at=now,
                )
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                return False
            await self._reset_failed_steps(session, tenant_id)
            return True

    async def reopen(self, tenant_id: str) -> bool:
        """A forced re-queue of an active tenant: back to processing, every step pending.

        Done before the new run starts, so a client polling provision-status never sees the
        old `active` after being told `restarted`. True when the tenant was active.
        """
        now = utcnow()
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(Tenant)
                .where(Tenant.id == tenant_id, Tenant.status == "active")
                .values(status="processing", provisioned_at=None, updated_at=now)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                return False
            await session.execute(
                update(ProvisioningStep)
                .where(ProvisioningStep.tenant_id == tenant_id)
                .values(status="pending", error_code=None, error_message=None, updated_at=now)
            )
            return True

    async def mark_active(self, tenant_id: str) -> Activation:
        """Conditional transition to active; repeating it changes nothing."""
        now = utcnow()
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(Tenant)
                .where(Tenant.id == tenant_id, Tenant.status.in_(("processing", "failed")))
                .values(
                    status="active",
                    # A re-activation (after a manual override) keeps the first activation's
                    # time: nothing was provisioned again.
                    provisioned_at=func.coalesce(Tenant.provisioned_at, now),
                    updated_at=now,
                    error_step=None,
                    error_code=None,
                    error_message=None,
                )
                .returning(Tenant.provision_started_at, Tenant.created_at, Tenant.plan)
            )
            row = result.one_or_none()
            if row is not None:
                data = {"plan": row[2], "status": "active"}
                await enqueue(session, tenant_id, "tenant.provisioned", data)
                # Same transaction: nobody ever reads an active tenant whose last step is
                # still running.
                await session.execute(
                    update(ProvisioningStep)
                    .where(
                        ProvisioningStep.tenant_id == tenant_id,
                        ProvisioningStep.name == "mark_active",
                    )
                    .values(
                        status="completed",
                        completed_at=now,
                        error_code=None,
                        error_message=None,
                        updated_at=now,
                    )
                )
            if row is None:
                exists = await session.get(Tenant, tenant_id)
                if exists is None:
                    raise TenantNotFound(tenant_id)
                return Activation(activated=False, duration_ms=None)
            started: datetime = row[1]
            return Activation(
                activated=True, duration_ms=int((now - started).total_seconds() * 1000)
            )

    async def _context(self, db: AsyncConnection, tenant_id: str) -> ProvisioningContext:
        row = (await db.execute(_CONTEXT, {"b_tenant": tenant_id})).one_or_none()
        if row is None:
            raise TenantNotFound(tenant_id)
        return ProvisioningContext(
            tenant_id=row.id,
            slug=row.slug,
            club_name=row.club_name,
            plan=row.plan,
            owner_email=row.email,
            spreadsheet_id=row.spreadsheet_id,
            spreadsheet_url=row.spreadsheet_url,
            tenant_webhook_url=row.webhook_url,
            webhook_registered=row.webhook_registered_at is not None,
        )

    async def _set_step(self, tenant_id: str, step: str, **values: Any) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(ProvisioningStep)
                .where(ProvisioningStep.tenant_id == tenant_id, ProvisioningStep.name == step)
                .values(updated_at=utcnow(), **values)
            )


def _clip(message: str) -> str:
    return message if len(message) <= MAX_ERROR_MESSAGE else message[: MAX_ERROR_MESSAGE - 1] + "…"
