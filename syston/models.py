"""Models shared by the workflow, its activities, the worker and the API.

Deterministic and import-safe: the workflow sandbox re-imports this module.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Plan = Literal["starter", "pro"]
TenantStatus = Literal["processing", "active", "failed", "suspended", "deprovisioning", "deleted"]
StepStatus = Literal["pending", "running", "retrying", "completed", "failed"]
StepName = Literal["create_sheet", "configure_webhook", "mark_active"]
RequeueAction = Literal["resumed", "restarted", "already_running", "already_active"]

STEPS_BY_PLAN: dict[str, tuple[StepName, ...]] = {
    "starter": ("configure_webhook", "mark_active"),
    "pro": ("create_sheet", "configure_webhook", "mark_active"),
}

REGISTRATION_EVENT = "tenant.registered"


def steps_for(plan: str) -> tuple[StepName, ...]:
    return STEPS_BY_PLAN[plan]


class ProvisionInput(BaseModel):
    """Input of the ProvisionTenant workflow."""

    tenant_id: str
    plan: Plan
    force: bool = False


class ProvisionResult(BaseModel):
    tenant_id: str
    status: TenantStatus | Literal["abandoned"]
    completed_steps: list[StepName] = Field(default_factory=list)


class BeginInput(BaseModel):
    tenant_id: str
    plan: Plan
    force: bool = False


class BeginResult(BaseModel):
    """What the database says when a run starts: which steps are already done."""

    found: bool
    status: str | None = None
    completed_steps: list[StepName] = Field(default_factory=list)


class StepInput(BaseModel):
    tenant_id: str
    step: StepName
    force: bool = False


class StepResult(BaseModel):
    step: StepName
    reused: bool = False


class FailureInput(BaseModel):
    tenant_id: str
    step: StepName
    code: str
    message: str


class ResumeInput(BaseModel):
    tenant_id: str


class StepProgress(BaseModel):
    name: StepName
    status: StepStatus


class ProgressView(BaseModel):
    """Answer of the `progress` query."""

    tenant_id: str
    status: str
    waiting_for_retry: bool
    steps: list[StepProgress]
    last_error: str | None = None


class StatusOverridden(BaseModel):
    """Payload of the `status_overridden` signal the admin override route sends."""

    status: TenantStatus
