"""Models shared by the workflow, its activities, the worker and the API.

Deterministic and import-safe: the workflow sandbox re-imports this module.
"""

from __future__ import annotations

from datetime import datetime
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


RUN_SHAPE_BEGIN_IN_FIRST_STEP = 2
"""`ProvisionInput.shape` of a run whose first step activity records the run's start too (no
`begin_provisioning` of its own) and whose `mark_active` runs as a local activity. Runs without
it (shape 1: started by hand, or by an API from before it) still decide their first command by
the `local-begin` versioning patch, and run every step as an activity task."""


class ProvisionInput(BaseModel):
    """Input of the ProvisionTenant workflow."""

    tenant_id: str
    plan: Plan
    force: bool = False
    # The command sequence the starter asks for (RUN_SHAPE_BEGIN_IN_FIRST_STEP); 1 when absent.
    shape: int = 1


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
    # Set on a run's first step (RUN_SHAPE_BEGIN_IN_FIRST_STEP): record the run's start in the
    # step's first transaction, and skip the step if the ledger has it completed already.
    begin: BeginInput | None = None


class StepResult(BaseModel):
    step: StepName
    reused: bool = False
    # The start's answer when the input carried `begin` (None from a worker that predates it:
    # it ran the step alone, and the run records its start itself).
    begun: BeginResult | None = None


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


# -- the lifecycle after signup (ChangePlan, OffboardTenant, signed events) --------------------

OperationType = Literal["plan_change", "offboard"]
OperationStatus = Literal["running", "completed", "failed", "cancelled"]
OperationStepName = Literal[
    "create_sheet",
    "announce",
    "apply_plan",
    "transfer_sheet",
    "notify_offboarded",
    "clear_webhook",
    "revoke_tokens",
    "erase_personal_data",
    "mark_deleted",
]
LifecycleEventType = Literal[
    "tenant.provisioned",
    "tenant.failed",
    "tenant.plan_changed",
    "tenant.suspended",
    "tenant.reactivated",
    "tenant.offboarding_scheduled",
    "tenant.offboarded",
]
OFFBOARD_STEPS: tuple[OperationStepName, ...] = (
    "transfer_sheet",
    "notify_offboarded",
    "clear_webhook",
    "revoke_tokens",
    "erase_personal_data",
    "mark_deleted",
)


def plan_change_steps(previous: str, target: str) -> tuple[OperationStepName, ...]:
    """starter → pro creates and shares the sheet and re-announces the tenant; any other
    change only applies the plan (a pro → starter tenant keeps its sheet)."""
    if previous == "starter" and target == "pro":
        return ("create_sheet", "announce", "apply_plan")
    return ("apply_plan",)


def operation_steps(
    operation: str, previous_plan: str = "", plan: str = ""
) -> tuple[OperationStepName, ...]:
    return OFFBOARD_STEPS if operation == "offboard" else plan_change_steps(previous_plan, plan)


class ChangePlanInput(BaseModel):
    """Input of the ChangePlan workflow."""

    tenant_id: str
    plan: Plan
    previous_plan: Plan


class OffboardInput(BaseModel):
    """Input of the OffboardTenant workflow: nothing is touched before `delete_after`."""

    tenant_id: str
    delete_after: datetime


class OperationResult(BaseModel):
    tenant_id: str
    status: OperationStatus | Literal["abandoned"]


class BeginOperationInput(BaseModel):
    tenant_id: str
    operation: OperationType
    steps: list[OperationStepName]


class BeginOperationResult(BaseModel):
    """Whether the operation is still the tenant's current one, and which steps are done."""

    found: bool
    completed_steps: list[OperationStepName] = Field(default_factory=list)


class OperationStepInput(BaseModel):
    tenant_id: str
    operation: OperationType
    step: OperationStepName


class OperationStepResult(BaseModel):
    step: OperationStepName
    reused: bool = False


class OperationFailureInput(BaseModel):
    tenant_id: str
    operation: OperationType
    step: OperationStepName
    code: str
    message: str


class OperationRef(BaseModel):
    tenant_id: str
    operation: OperationType


class FinishOperationInput(BaseModel):
    tenant_id: str
    operation: OperationType
    status: OperationStatus


class OperationStepProgress(BaseModel):
    name: OperationStepName
    status: StepStatus


class OperationProgressView(BaseModel):
    """Answer of the lifecycle workflows' `progress` query."""

    tenant_id: str
    operation: OperationType
    status: str
    waiting_for_retry: bool
    steps: list[OperationStepProgress]
    last_error: str | None = None
    delete_after: datetime | None = None
