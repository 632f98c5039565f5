"""Admin routes of the tenant lifecycle: plan change, suspension, reactivation, offboarding and
its cancellation (docs/http-api.md#tenant-lifecycle)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from api.deps import Admin, AdminCaller
from api.schemas import TENANT_ID_PATTERN, problem_responses, rfc3339
from api.schemas.lifecycle import (
    OffboardCancelled,
    OffboardRequest,
    OffboardScheduled,
    OptionalReasonRequest,
    PlanChangeRequest,
    PlanChangeResult,
    ReasonRequest,
    StatusTransitionView,
)
from syston.plan_change import PlanChange

router = APIRouter(prefix="/api/v1/admin", tags=["admin", "lifecycle"])

TenantId = Annotated[str, Path(min_length=1, max_length=64, pattern=TENANT_ID_PATTERN)]
CHANGE = problem_responses(401, 403, 404, 409, 413, 415, 422, 503)


def plan_change_result(change: PlanChange, response: Response) -> PlanChangeResult:
    """202 when a run started, 200 when the tenant is already on the plan."""
    response.status_code = 202 if change.started else 200
    return PlanChangeResult(
        tenantId=change.tenant_id,
        plan=change.plan,  # type: ignore[arg-type]
        previousPlan=change.previous_plan,  # type: ignore[arg-type]
        action="started" if change.started else "unchanged",
        workflowId=change.workflow_id,
        runId=change.run_id,
    )


@router.post(
    "/tenants/{tenantId}/plan",
    response_model=PlanChangeResult,
    status_code=202,
    responses={200: {"model": PlanChangeResult, "description": "Already on that plan"}, **CHANGE},
)
async def change_plan(
    tenantId: TenantId,
    body: PlanChangeRequest,
    admin: Admin,
    caller: AdminCaller,
    response: Response,
) -> PlanChangeResult:
    """Move an active tenant to another plan (ChangePlan workflow `plan-{tenantId}`)."""
    change = await admin.plan_changes.change(tenantId, body.plan, caller.sub)
    return plan_change_result(change, response)


@router.post("/tenants/{tenantId}/suspend", response_model=StatusTransitionView, responses=CHANGE)
async def suspend_tenant(
    tenantId: TenantId, body: ReasonRequest, admin: Admin, caller: AdminCaller
) -> StatusTransitionView:
    """Suspend an active tenant: its own tokens are refused (`tenant_suspended`) until
    reactivated; sends `tenant.suspended`."""
    moved = await admin.suspensions.suspend(tenantId, body.reason, caller.sub)
    return StatusTransitionView(
        tenantId=moved.tenant_id,
        status=moved.status,  # type: ignore[arg-type]
        previousStatus=moved.previous,  # type: ignore[arg-type]
    )


@router.post(
    "/tenants/{tenantId}/reactivate", response_model=StatusTransitionView, responses=CHANGE
)
async def reactivate_tenant(
    tenantId: TenantId, body: ReasonRequest, admin: Admin, caller: AdminCaller
) -> StatusTransitionView:
    """Reactivate a suspended tenant; sends `tenant.reactivated`."""
    moved = await admin.suspensions.reactivate(tenantId, body.reason, caller.sub)
    return StatusTransitionView(
        tenantId=moved.tenant_id,
        status=moved.status,  # type: ignore[arg-type]
        previousStatus=moved.previous,  # type: ignore[arg-type]
    )


@router.delete(
    "/tenants/{tenantId}",
    response_model=OffboardScheduled,
    status_code=202,
    responses=problem_responses(401, 403, 404, 409, 413, 422, 503),
)
async def offboard_tenant(
    tenantId: TenantId,
    admin: Admin,
    caller: AdminCaller,
    body: OffboardRequest | None = None,
) -> OffboardScheduled:
    """Offboard a tenant: `deprovisioning` now, deleted after the grace period
    (OFFBOARD_GRACE_SECONDS unless `graceSeconds`) unless cancelled."""
    request = body or OffboardRequest()
    scheduled = await admin.offboarding.offboard(
        tenantId, request.graceSeconds, request.reason, caller.sub
    )
    return OffboardScheduled(
        tenantId=scheduled.tenant_id,
        status="deprovisioning",
        deleteAfter=rfc3339(scheduled.delete_after) or "",
        workflowId=scheduled.workflow_id,
        runId=scheduled.run_id,
    )


@router.post(
    "/tenants/{tenantId}/offboard/cancel", response_model=OffboardCancelled, responses=CHANGE
)
async def cancel_offboarding(
    tenantId: TenantId,
    admin: Admin,
    caller: AdminCaller,
    body: OptionalReasonRequest | None = None,
) -> OffboardCancelled:
    """Cancel an offboarding within its grace period: the tenant gets its status back."""
    reason = body.reason if body else None
    cancelled = await admin.offboarding.cancel(tenantId, reason, caller.sub)
    return OffboardCancelled(tenantId=cancelled.tenant_id, status=cancelled.status)  # type: ignore[arg-type]
