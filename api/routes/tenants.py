"""Tenant routes: provision status (tenant, admin or service tokens) and the tenant's own plan
change (its token, role owner or tenant_admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from api.deps import PlanChangesDep, Reads, ServicesDep, TenantOwnerCaller, allow
from api.routes.admin_lifecycle import plan_change_result
from api.schemas import TENANT_ID_PATTERN, ProvisionStatusView, problem_responses
from api.schemas.lifecycle import PlanChangeRequest, PlanChangeResult
from syston.tenant_status import read_provision_status
from syston.tokens import Principal

router = APIRouter(tags=["tenants"])

TenantId = Annotated[str, Path(min_length=1, max_length=64, pattern=TENANT_ID_PATTERN)]


@router.get(
    "/api/v1/tenants/{tenantId}/provision-status",
    response_model=ProvisionStatusView,
    responses=problem_responses(401, 403, 404, 422, 503),
)
async def get_provision_status(
    tenantId: TenantId,
    reads: Reads,
    services: ServicesDep,
    caller: Annotated[
        Principal, Depends(allow("tenant", "admin", "service", tenant_param="tenantId"))
    ],
) -> ProvisionStatusView:
    """Live provisioning progress of a tenant, served from the database."""
    record = await reads.run(
        read_provision_status, tenantId, platform_webhook_url=services.settings.make_webhook_url
    )
    return ProvisionStatusView.of(record, unmask=caller.kind != "tenant")


@router.post(
    "/api/v1/tenants/{tenantId}/plan",
    response_model=PlanChangeResult,
    status_code=202,
    responses={
        200: {"model": PlanChangeResult, "description": "Already on that plan"},
        **problem_responses(401, 403, 404, 409, 413, 415, 422, 503),
    },
)
async def change_own_plan(
    tenantId: TenantId,
    body: PlanChangeRequest,
    plan_changes: PlanChangesDep,
    caller: TenantOwnerCaller,
    response: Response,
) -> PlanChangeResult:
    """Move your own (active) tenant to another plan."""
    change = await plan_changes.change(tenantId, body.plan, caller.sub)
    return plan_change_result(change, response)
