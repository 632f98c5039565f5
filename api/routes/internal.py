"""Internal routes for services and ops: re-queue provisioning."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Requeue, ServiceCaller
from api.schemas import QueueRequest, QueueResponse, problem_responses

router = APIRouter(tags=["internal"])


@router.post(
    "/internal/provision/queue",
    response_model=QueueResponse,
    responses=problem_responses(401, 403, 404, 409, 413, 415, 422, 503),
)
async def queue_provisioning(
    body: QueueRequest, requeue: Requeue, caller: ServiceCaller
) -> QueueResponse:
    """Re-queue a tenant's provisioning: resume a stopped run or start a new one."""
    done = await requeue.requeue(body.tenantId, force=body.force, actor=caller.sub)
    return QueueResponse(
        tenantId=done.tenant_id,
        status=done.status,
        action=done.action,
        workflowId=done.workflow_id,
        runId=done.run_id,
    )
