"""Admin routes for a tenant's Make webhook: set it (URL policy) and send a test event."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.deps import Admin, AdminCaller
from api.schemas import TENANT_ID_PATTERN, problem_responses, rfc3339
from api.schemas.admin import (
    WebhookTestResult,
    WebhookUpdated,
    WebhookUpdateRequest,
)
from syston.core.logs import log_event, mask_url

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])

TenantId = Annotated[str, Path(min_length=1, max_length=64, pattern=TENANT_ID_PATTERN)]


@router.post(
    "/tenant/webhook",
    response_model=WebhookUpdated,
    responses=problem_responses(401, 403, 404, 413, 415, 422, 503),
)
async def update_webhook(
    body: WebhookUpdateRequest, admin: Admin, caller: AdminCaller
) -> WebhookUpdated:
    """Set a tenant's own Make webhook URL (https, port 443, allowed host, public addresses)."""
    change = await admin.tenants.set_webhook(body.tenant, body.make_webhook_url, caller.sub)
    log_event(
        "webhook_updated",
        tenant_id=change.tenant_id,
        url=mask_url(change.webhook_url),
        sub=caller.sub,
    )
    return WebhookUpdated(
        tenantId=change.tenant_id,
        webhookUrl=change.webhook_url,
        updatedAt=rfc3339(change.updated_at) or "",
    )


@router.post(
    "/tenants/{tenantId}/webhook/test",
    response_model=WebhookTestResult,
    responses=problem_responses(401, 403, 404, 413, 415, 422, 503),
)
async def test_webhook(tenantId: TenantId, admin: Admin, caller: AdminCaller) -> WebhookTestResult:
    """Send a `tenant.webhook_test` event to the tenant's webhook (or the platform's)."""
    outcome = await admin.webhooks.send(tenantId, caller.sub)
    return WebhookTestResult(
        delivered=outcome.delivered, status=outcome.status, error=outcome.error
    )
