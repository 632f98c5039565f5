"""Admin routes on tenants: list, detail (unmasked) and manual status override."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from api.deps import Admin, AdminCaller, Sessions
from api.schemas import TENANT_ID_PATTERN, ProvisionStatusView, problem_responses, rfc3339
from api.schemas.admin import (
    AdminTenantView,
    AuditView,
    StatusOverrideRequest,
    StatusOverrideResult,
    TenantPageView,
    TenantSummaryView,
)
from syston.tenant_admin import MAX_PAGE
from syston.tenant_status import read_provision_status

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])

TenantId = Annotated[str, Path(min_length=1, max_length=64, pattern=TENANT_ID_PATTERN)]
# "" is "no filter", so `?status=&plan=` (the contract's spelling) lists everything.
StatusFilter = Literal[
    "", "processing", "active", "failed", "suspended", "deprovisioning", "deleted"
]


@router.get(
    "/tenants",
    response_model=TenantPageView,
    responses=problem_responses(401, 403, 422, 503),
)
async def list_tenants(
    admin: Admin,
    caller: AdminCaller,
    status: StatusFilter | None = None,
    plan: Literal["", "starter", "pro"] | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    # base64url, as nextCursor is
    cursor: Annotated[str | None, Query(max_length=512, pattern=r"^[A-Za-z0-9_-]*$")] = None,
) -> TenantPageView:
    """Tenants, newest first, filtered by status and plan; pass `nextCursor` for the next page."""
    page = await admin.tenants.list(status=status, plan=plan, limit=limit, cursor=cursor)
    return TenantPageView(
        items=[
            TenantSummaryView(
                tenantId=t.tenant_id,
                slug=t.slug,
                clubName=t.club_name or None,  # erased at offboarding
                plan=t.plan,
                status=t.status,
                ownerEmail=t.owner_email,
                createdAt=rfc3339(t.created_at) or "",
                updatedAt=rfc3339(t.updated_at) or "",
                provisionedAt=rfc3339(t.provisioned_at),
            )
            for t in page.items
        ],
        nextCursor=page.next_cursor,
    )


@router.get(
    "/tenants/{tenantId}",
    response_model=AdminTenantView,
    responses=problem_responses(401, 403, 404, 422, 503),
)
async def get_tenant(
    tenantId: TenantId, sessions: Sessions, admin: Admin, caller: AdminCaller
) -> AdminTenantView:
    """A tenant with its steps, resources (unmasked), owner and recent audit trail."""
    async with sessions() as session:
        record = await session.run_sync(
            read_provision_status, tenantId, platform_webhook_url=admin.settings.make_webhook_url
        )
        facts = await admin.tenants.facts(session, tenantId)
    return AdminTenantView(
        **ProvisionStatusView.of(record, unmask=True).model_dump(),
        clubName=facts.club_name or None,  # erased at offboarding
        ownerEmail=facts.owner_email,
        promoCode=facts.promo_code,
        provisionStartedAt=rfc3339(facts.provision_started_at),
        webhookRegisteredAt=rfc3339(facts.webhook_registered_at),
        audit=[
            AuditView(at=rfc3339(e.at) or "", actor=e.actor, action=e.action, detail=e.detail)
            for e in facts.audit
        ],
    )


@router.post(
    "/tenants/{tenantId}/status",
    response_model=StatusOverrideResult,
    responses=problem_responses(401, 403, 404, 413, 415, 422, 503),
)
async def override_status(
    tenantId: TenantId,
    body: StatusOverrideRequest,
    admin: Admin,
    caller: AdminCaller,
) -> StatusOverrideResult:
    """Set a tenant's status by hand (runbook "Option B"), recorded in the audit trail."""
    change = await admin.tenants.override_status(tenantId, body.status, body.reason, caller.sub)
    return StatusOverrideResult(
        tenantId=change.tenant_id,
        status=change.status,
        previousStatus=change.previous,
        updatedAt=rfc3339(change.updated_at) or "",
        provisionedAt=rfc3339(change.provisioned_at),
    )
