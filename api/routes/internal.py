"""Internal routes for services and ops: re-queue provisioning."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ServiceCaller, Sessions, Temporal
from api.schemas import QueueRequest, QueueResponse, problem_responses
from syston.core.db import Tenant
from syston.core.errors import TenantNotFoundError
from syston.core.logs import log_event
from syston.provisioning_store import ProvisioningStore

router = APIRouter(tags=["internal"])


@router.post(
    "/internal/provision/queue",
    response_model=QueueResponse,
    responses=problem_responses(401, 403, 404, 413, 415, 422, 503),
)
async def queue_provisioning(
    body: QueueRequest, sessions: Sessions, temporal: Temporal, caller: ServiceCaller
) -> QueueResponse:
    """Re-queue a tenant's provisioning: resume a stopped run or start a new one."""
    async with sessions() as session:
        tenant = await session.get(Tenant, body.tenantId)
    if tenant is None:
        raise TenantNotFoundError(body.tenantId)
    if body.force and tenant.status == "active":
        # A forced re-queue of an active tenant always starts a new run; say so in the
        # database first, so polling clients never see the old `active` after `restarted`.
        await ProvisioningStore(sessions).reopen(tenant.id)
    outcome = await temporal.requeue(tenant.id, tenant.plan, tenant.status, force=body.force)
    if outcome.action == "resumed":
        # The run will record this itself in a moment; say it now so a client polling right
        # after `resumed` never reads the stale `failed` (unless the run got there first).
        await ProvisioningStore(sessions).resume(tenant.id, if_updated_at=tenant.updated_at)
    log_event(
        "provision_requeue",
        tenant_id=tenant.id,
        action=outcome.action,
        force=body.force,
        sub=caller.sub,
    )
    status = "processing" if outcome.action in ("resumed", "restarted") else tenant.status
    return QueueResponse(
        tenantId=tenant.id,
        status=status,
        action=outcome.action,
        workflowId=outcome.workflow_id,
        runId=outcome.run_id,
    )
