"""Changing a tenant's plan (docs/http-api.md#plan-change).

The request is claimed in the database first (the tenant must be `active` and have no other
lifecycle operation in progress; the operation and its steps are recorded with an audit
entry), then ChangePlan is started; a start that fails is undone. The tenant's `plan` changes
when the run's last step applies it, so provision-status shows the old plan and the running
`operation` meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syston.core import audit
from syston.core.db import OperationStep, Tenant, TenantOperation, utcnow
from syston.core.errors import LifecycleInProgress, TenantNotActive, TenantNotFoundError
from syston.core.logs import log_event
from syston.core.temporal import plan_change_workflow_id
from syston.models import Plan, plan_change_steps
from syston.operations import IN_PROGRESS, replace_operation, reset_steps
from syston.provisioning_client import TemporalGateway

BUSY_STATUSES = {"processing": "provisioning", "deprovisioning": "offboarding"}


@dataclass(frozen=True, slots=True)
class PlanChange:
    tenant_id: str
    plan: str
    previous_plan: str
    started: bool
    workflow_id: str
    run_id: str | None


class PlanChanges:
    """Starts plan changes."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], temporal: TemporalGateway
    ) -> None:
        self._sessions = sessions
        self._temporal = temporal

    async def change(self, tenant_id: str, plan: Plan, actor: str) -> PlanChange:
        claimed = await self._claim(tenant_id, plan, actor)
        if not claimed.started:
            return claimed
        try:
            run_id = await self._temporal.start_plan_change(tenant_id, plan, claimed.previous_plan)
        except BaseException:
            await self._release(tenant_id)
            raise
        async with self._sessions.begin() as session:
            await session.execute(
                update(TenantOperation)
                .where(TenantOperation.tenant_id == tenant_id, TenantOperation.run_id.is_(None))
                .values(run_id=run_id)
            )
        log_event(
            "tenant_plan_change_started",
            tenant_id=tenant_id,
            plan=plan,
            previous_plan=claimed.previous_plan,
            sub=actor,
        )
        return PlanChange(tenant_id, plan, claimed.previous_plan, True, claimed.workflow_id, run_id)

    async def _claim(self, tenant_id: str, plan: Plan, actor: str) -> PlanChange:
        workflow_id = plan_change_workflow_id(tenant_id)
        async with self._sessions.begin() as session:
            tenant = await session.get(Tenant, tenant_id, with_for_update=True)
            if tenant is None:
                raise TenantNotFoundError(tenant_id)
            operation = await session.get(TenantOperation, tenant_id, with_for_update=True)
            if operation is not None and operation.status in IN_PROGRESS:
                raise LifecycleInProgress(tenant_id, operation.type.replace("_", " "))
            if tenant.status in BUSY_STATUSES:
                raise LifecycleInProgress(tenant_id, BUSY_STATUSES[tenant.status])
            if tenant.status != "active":
                raise TenantNotActive(tenant_id, tenant.status, "moved to another plan")
            if tenant.plan == plan:
                last = operation.run_id if operation and operation.type == "plan_change" else None
                return PlanChange(tenant_id, plan, plan, False, workflow_id, last)
            replace_operation(
                session, operation, tenant_id, type="plan_change", status="running",
                phase="steps", workflow_id=workflow_id, run_id=None, plan=plan,
                previous_plan=tenant.plan, actor=actor,
            )  # fmt: skip
            await reset_steps(session, tenant_id, plan_change_steps(tenant.plan, plan))
            audit.record(
                session,
                actor=actor,
                action="plan_change_requested",
                tenant_id=tenant_id,
                at=utcnow(),
                **{"from": tenant.plan, "to": plan},
            )
            return PlanChange(tenant_id, plan, tenant.plan, True, workflow_id, None)

    async def _release(self, tenant_id: str) -> None:
        """The run could not be started: forget the claim."""
        async with self._sessions.begin() as session:
            await session.execute(delete(OperationStep).where(OperationStep.tenant_id == tenant_id))
            await session.execute(
                delete(TenantOperation).where(
                    TenantOperation.tenant_id == tenant_id, TenantOperation.run_id.is_(None)
                )
            )
