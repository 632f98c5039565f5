"""Re-queue (`POST /internal/provision/queue`)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.schemas.requests import RequestModel
from syston.models import RequeueAction, TenantStatus


class QueueRequest(RequestModel):
    tenantId: str = Field(min_length=1, max_length=64)
    force: bool = False


class QueueResponse(BaseModel):
    tenantId: str
    status: TenantStatus
    action: RequeueAction
    workflowId: str
    runId: str | None
