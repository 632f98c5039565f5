"""Re-queue a tenant's provisioning (`POST /internal/provision/queue`, `syston requeue`).

`resumed` (a stopped run was told to retry), `restarted` (a new run; completed steps are not
redone), `already_running`, or `already_active` (nothing done unless `force`, which re-runs
every step idempotently). Repeating the call is safe.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syston.core.db import Tenant
from syston.core.errors import TenantNotActive, TenantNotFoundError
from syston.core.logs import log_event
from syston.models import RequeueAction, TenantStatus
from syston.provisioning_client import TemporalGateway
from syston.provisioning_store import ProvisioningStore

NOT_PROVISIONABLE = ("suspended", "deprovisioning", "deleted")


@dataclass(frozen=True, slots=True)
class Requeued:
    tenant_id: str
    status: TenantStatus
    action: RequeueAction
    workflow_id: str
    run_id: str | None


class RequeueService:
    """Resumes or restarts provisioning, keeping the ledger ahead of what a poll could read."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], temporal: TemporalGateway
    ) -> None:
        self._sessions = sessions
        self._store = ProvisioningStore(sessions)
        self._temporal = temporal

    async def requeue(self, tenant_id: str, *, force: bool, actor: str) -> Requeued:
        async with self._sessions() as session:
            tenant = await session.get(Tenant, tenant_id)
        if tenant is None:
            raise TenantNotFoundError(tenant_id)
        if tenant.status in NOT_PROVISIONABLE:
            # Suspension and offboarding own these tenants; provisioning would undo them.
            raise TenantNotActive(tenant_id, tenant.status, "re-queued")
        if force and tenant.status == "active":
            # A forced re-queue of an active tenant always starts a new run; say so in the
            # database first, so polling clients never see the old `active` after `restarted`.
            await self._store.reopen(tenant.id)
        outcome = await self._temporal.requeue(tenant.id, tenant.plan, tenant.status, force=force)
        if outcome.action == "resumed":
            # The run will record this itself in a moment; say it now so a client polling right
            # after `resumed` never reads the stale `failed` (unless the run got there first).
            await self._store.resume(tenant.id, if_updated_at=tenant.updated_at)
        log_event(
            "provision_requeue",
            tenant_id=tenant.id,
            action=outcome.action,
            force=force,
            sub=actor,
        )
        restarted = outcome.action in ("resumed", "restarted")
        return Requeued(
            tenant_id=tenant.id,
            status="processing" if restarted else tenant.status,  # type: ignore[arg-type]
            action=outcome.action,
            workflow_id=outcome.workflow_id,
            run_id=outcome.run_id,
        )
