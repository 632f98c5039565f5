"""Request and response models of the lifecycle routes: plan change, suspension, offboarding
(docs/http-api.md#tenant-lifecycle)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.admin import Text
from syston.models import Plan, TenantStatus

MAX_GRACE_SECONDS = 10 * 366 * 24 * 3600


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ReasonRequest(_Request):
    reason: Text = Field(min_length=1, max_length=500)


class OptionalReasonRequest(_Request):
    reason: Text | None = Field(default=None, max_length=500)


class StatusTransitionView(BaseModel):
    tenantId: str
    status: TenantStatus
    previousStatus: TenantStatus


class PlanChangeRequest(_Request):
    plan: Plan


class PlanChangeResult(BaseModel):
    tenantId: str
    plan: Plan
    previousPlan: Plan
    action: Literal["started", "unchanged"]
    workflowId: str
    runId: str | None


class OffboardRequest(_Request):
    reason: Text | None = Field(default=None, max_length=500)
    graceSeconds: int | None = Field(default=None, ge=0, le=MAX_GRACE_SECONDS)


class OffboardScheduled(BaseModel):
    tenantId: str
    status: Literal["deprovisioning"]
    deleteAfter: str
    workflowId: str
    runId: str | None


class OffboardCancelled(BaseModel):
    tenantId: str
    status: TenantStatus
