"""The provisioning ledger: step checkpoints, resources and tenant status transitions.

Every write is a single conditional statement so that activities, which run at least once,
can repeat any of them safely.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, case, delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syston.core.db import (
    Owner,
    ProvisioningStep,
    ProvisionRequest,
    Tenant,
    TenantResources,
    utcnow,
)
from syston.core.engine import run_transaction
from syston.lifecycle_events import enqueue, enqueue_on
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
# A step's resources: SET the parameters' columns (`_complete_step` refuses any other key).
_STORE_RESOURCES = update(_resources).where(_resources.c.tenant_id == bindparam("b_tenant"))
_INSERT_RESOURCES = insert(_resources)
_RESOURCE_COLUMNS = frozenset(_resources.c.keys()) - {"tenant_id", "updated_at"}
_tenants = cast(Table, Tenant.__table__)
_intake = cast(Table, ProvisionRequest.__table__)
_step_of_tenant = _steps.c.tenant_id == bindparam("b_tenant")
_BEGIN_RUN = (
    update(_tenants)
    .where(_tenants.c.id == bindparam("b_tenant"))
    .values(
        workflow_run_id=bindparam("b_run"),
        provision_started_at=func.coalesce(_tenants.c.provision_started_at, bindparam("b_now")),
        updated_at=bindparam("b_now"),
    )
    .returning(_tenants.c.status)
)
_STEP_STATES = select(_steps.c.name, _steps.c.status).where(_step_of_tenant)
_SETTLE_INTAKE = delete(_intake).where(_intake.c.tenant_id == bindparam("b_tenant"))
_NO_ERROR = {"error_step": None, "error_code": None, "error_message": None}
_REPROCESS = (
    update(_tenants)
    .where(_tenants.c.id == bindparam("b_tenant"))
    .values(status="processing", updated_at=bindparam("b_now"), **_NO_ERROR)
)
# A forced run of a tenant that was not processing (e.g. active) provisions it anew.
_FORCE_REPROCESS = _REPROCESS.values(
    provisioned_at=case((_tenants.c.status != "processing", None), else_=_tenants.c.provisioned_at)
)
_RESET_ALL_STEPS = (
    update(_steps)
    .where(_step_of_tenant)
    .values(status="pending", error_code=None, error_message=None, updated_at=bindparam("b_now"))
)
_RESET_FAILED_STEPS = (
    update(_steps)
    .where(_step_of_tenant, _steps.c.status == "failed")
    .values(status="pending", updated_at=bindparam("b_now"))
)
_REOPEN_ACTIVATION = (
    update(_steps)
    .where(_step_of_tenant, _steps.c.name == "mark_active", _steps.c.status == "completed")
    .values(status="pending", updated_at=bindparam("b_now"))
)
_ACTIVATE = (
    update(_tenants)
    .where(
        _tenants.c.id == bindparam("b_tenant"),
        _tenants.c.status.in_(("processing", "failed")),
    )
    .values(
        status="active",
        # A re-activation (after a manual override) keeps the first activation's time:
        # nothing was provisioned again.
        provisioned_at=func.coalesce(_tenants.c.provisioned_at, bindparam("b_now")),
        updated_at=bindparam("b_now"),
        **_NO_ERROR,
    )
    .returning(_tenants.c.created_at, _tenants.c.plan)
)
_TENANT_EXISTS = select(_tenants.c.id).where(_tenants.c.id == bindparam("b_tenant"))
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
        return await run_transaction(
            self._sessions, _begin, tenant_id, plan, force=force, run_id=run_id
        )

    async def begin_with_step(
        self, tenant_id: str, plan: str, step: str, *, force: bool, run_id: str
    ) -> tuple[BeginResult, tuple[int, ProvisioningContext] | None]:
        """`begin` and `start_step` in one transaction, for a run's first step: the start's
        answer, and the step's attempt and context — None when there is nothing to run (the
        tenant is gone, or the step is completed already)."""
        return await run_transaction(
            self._sessions, _begin_with_step, tenant_id, plan, step, force=force, run_id=run_id
        )

    async def start_step(self, tenant_id: str, step: str) -> tuple[int, ProvisioningContext]:
        """Mark a step running and count the attempt, and read what the step needs — in one
        transaction. Returns the attempt number and the tenant's context."""
        return await run_transaction(self._sessions, _start_step, tenant_id, step)

    async def step_retrying(self, tenant_id: str, step: str, code: str, message: str) -> None:
        await self._set_step(
            tenant_id, step, status="retrying", error_code=code, error_message=_clip(message)
        )

    async def complete_step(self, tenant_id: str, step: str, **resources: Any) -> None:
        """Mark a step completed and store the resources it produced, in one transaction."""
        await run_transaction(self._sessions, _complete_step, tenant_id, step, resources)

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
            await session.execute(_RESET_FAILED_STEPS, {"b_tenant": tenant_id, "b_now": now})
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
            await session.execute(_RESET_ALL_STEPS, {"b_tenant": tenant_id, "b_now": now})
            return True

    async def mark_active(self, tenant_id: str) -> Activation:
        """Conditional transition to active; repeating it changes nothing."""
        return await run_transaction(self._sessions, _mark_active, tenant_id)

    async def _set_step(self, tenant_id: str, step: str, **values: Any) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(ProvisioningStep)
                .where(ProvisioningStep.tenant_id == tenant_id, ProvisioningStep.name == step)
                .values(updated_at=utcnow(), **values)
            )


# -- the transactions (run by run_transaction: plain Core on one connection) -----------------


def _begin(db: Connection, tenant_id: str, plan: str, *, force: bool, run_id: str) -> BeginResult:
    now = utcnow()
    # The update takes the tenant's row lock (a concurrent begin or activation waits).
    status = db.execute(
        _BEGIN_RUN, {"b_tenant": tenant_id, "b_run": run_id, "b_now": now}
    ).scalar_one_or_none()
    if status is None:
        return BeginResult(found=False)
    steps: dict[str, str] = dict(db.execute(_STEP_STATES, {"b_tenant": tenant_id}).all())
    missing = [
        {
            "tenant_id": tenant_id,
            "name": name,
            "position": position,
            "status": "pending",
            "attempts": 0,
            "updated_at": now,
        }
        for position, name in enumerate(steps_for(plan))
        if name not in steps
    ]
    if missing:  # a tenant from before signups wrote their steps
        db.execute(insert(_steps), missing)
    db.execute(_SETTLE_INTAKE, {"b_tenant": tenant_id})
    if force:
        db.execute(_RESET_ALL_STEPS, {"b_tenant": tenant_id, "b_now": now})
        db.execute(_FORCE_REPROCESS, {"b_tenant": tenant_id, "b_now": now})
        return BeginResult(found=True, status="processing", completed_steps=[])
    if status == "failed":
        status = "processing"
        db.execute(_REPROCESS, {"b_tenant": tenant_id, "b_now": now})
        db.execute(_RESET_FAILED_STEPS, {"b_tenant": tenant_id, "b_now": now})
    if status == "processing" and steps.get("mark_active") == "completed":
        # mark_active completes in the same transaction as the tenant turns active, so a
        # tenant that is not active while the step says completed was set back by hand (an
        # admin override). The step is pending again, so this run re-asserts `active` instead
        # of finding nothing to do and leaving the tenant in `processing` for good.
        db.execute(_REOPEN_ACTIVATION, {"b_tenant": tenant_id, "b_now": now})
        steps["mark_active"] = "pending"
    completed: list[StepName] = [s for s in steps_for(plan) if steps.get(s) == "completed"]
    return BeginResult(found=True, status=status, completed_steps=completed)


def _begin_with_step(
    db: Connection, tenant_id: str, plan: str, step: str, *, force: bool, run_id: str
) -> tuple[BeginResult, tuple[int, ProvisioningContext] | None]:
    begun = _begin(db, tenant_id, plan, force=force, run_id=run_id)
    if not begun.found or step in begun.completed_steps:
        return begun, None
    return begun, _start_step(db, tenant_id, step)


def _start_step(db: Connection, tenant_id: str, step: str) -> tuple[int, ProvisioningContext]:
    attempts = db.execute(
        _START_STEP, {"b_tenant": tenant_id, "b_step": step, "b_now": utcnow()}
    ).scalar_one_or_none()
    if attempts is None:
        raise TenantNotFound(tenant_id)
    return int(attempts), _context(db, tenant_id)


def _complete_step(db: Connection, tenant_id: str, step: str, resources: dict[str, Any]) -> None:
    now = utcnow()
    db.execute(_COMPLETE_STEP, {"b_tenant": tenant_id, "b_step": step, "b_now": now})
    if resources:
        if unknown := resources.keys() - _RESOURCE_COLUMNS:
            raise ValueError(f"not a tenant resource: {', '.join(sorted(unknown))}")
        values = {"updated_at": now, **resources}
        stored = db.execute(_STORE_RESOURCES, {"b_tenant": tenant_id, **values})
        if not stored.rowcount:
            db.execute(_INSERT_RESOURCES, {"tenant_id": tenant_id, **values})


def _mark_active(db: Connection, tenant_id: str) -> Activation:
    now = utcnow()
    params = {"b_tenant": tenant_id, "b_now": now}
    row = db.execute(_ACTIVATE, params).one_or_none()
    if row is None:
        if db.execute(_TENANT_EXISTS, params).first() is None:
            raise TenantNotFound(tenant_id)
        return Activation(activated=False, duration_ms=None)
    created_at, plan = row
    enqueue_on(db, tenant_id, "tenant.provisioned", {"plan": plan, "status": "active"})
    # Same transaction: nobody ever reads an active tenant whose last step is still running.
    db.execute(_COMPLETE_STEP, {**params, "b_step": "mark_active"})
    started: datetime = created_at
    return Activation(activated=True, duration_ms=int((now - started).total_seconds() * 1000))


def _context(db: Connection, tenant_id: str) -> ProvisioningContext:
    row = db.execute(_CONTEXT, {"b_tenant": tenant_id}).one_or_none()
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


def _clip(message: str) -> str:
    return message if len(message) <= MAX_ERROR_MESSAGE else message[: MAX_ERROR_MESSAGE - 1] + "…"
