"""Typed references to the activities the workflows call.

Each reference carries the activity's name (from `syston.core.temporal`) and its input and
output models, so a workflow calls `workflow.execute_activity(begin, BeginInput(...))` with
types checked and no string names. The worker registers the implementations
(`activities.provisioning.ProvisioningActivities`) under the same names; a test checks that
every reference has an implementation with the same signature. The bodies never run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from temporalio import activity

from syston.core import temporal as names
from syston.models import (
    BeginInput,
    BeginOperationInput,
    BeginOperationResult,
    BeginResult,
    FailureInput,
    FinishOperationInput,
    OperationFailureInput,
    OperationRef,
    OperationStepInput,
    OperationStepName,
    OperationStepResult,
    ResumeInput,
    StepInput,
    StepName,
    StepResult,
)


def _reference_only() -> NotImplementedError:
    return NotImplementedError("an activity reference: the worker runs the implementation")


@activity.defn(name=names.ACTIVITY_BEGIN)
async def begin(request: BeginInput) -> BeginResult:
    """Record the run and report which steps are already completed."""
    raise _reference_only()


@activity.defn(name=names.ACTIVITY_RECORD_FAILURE)
async def record_failure(request: FailureInput) -> None:
    """Record that a step stopped on an error (the tenant becomes `failed`)."""
    raise _reference_only()


@activity.defn(name=names.ACTIVITY_RESUME)
async def resume(request: ResumeInput) -> None:
    """Record that a stopped run resumes (the tenant is `processing` again)."""
    raise _reference_only()


@activity.defn(name=names.ACTIVITY_CREATE_SHEET)
async def create_sheet(request: StepInput) -> StepResult:
    """Find or create the tenant's spreadsheet (pro plan)."""
    raise _reference_only()


@activity.defn(name=names.ACTIVITY_CONFIGURE_WEBHOOK)
async def configure_webhook(request: StepInput) -> StepResult:
    """Announce the tenant to its Make webhook."""
    raise _reference_only()


@activity.defn(name=names.ACTIVITY_MARK_ACTIVE)
async def mark_active(request: StepInput) -> StepResult:
    """Turn the tenant `active`."""
    raise _reference_only()


STEP_ACTIVITIES: dict[StepName, Callable[[StepInput], Awaitable[StepResult]]] = {
    "create_sheet": create_sheet,
    "configure_webhook": configure_webhook,
    "mark_active": mark_active,
}
"""The activity of each provisioning step, by step name."""


# -- the lifecycle workflows (ChangePlan, OffboardTenant) ------------------------------------


@activity.defn(name=names.ACTIVITY_BEGIN_OPERATION)
async def begin_operation(request: BeginOperationInput) -> BeginOperationResult:
    """Attach the run to the tenant's operation; which steps are already completed."""
    raise _reference_only()


@activity.defn(name=names.ACTIVITY_RECORD_OPERATION_FAILURE)
async def record_operation_failure(request: OperationFailureInput) -> None:
    """Record that a step stopped on an error (the operation becomes `failed`)."""
    raise _reference_only()


@activity.defn(name=names.ACTIVITY_RESUME_OPERATION)
async def resume_operation(request: OperationRef) -> None:
    """Record that a stopped run resumes."""
    raise _reference_only()


@activity.defn(name=names.ACTIVITY_FINISH_OPERATION)
async def finish_operation(request: FinishOperationInput) -> None:
    """Record how the operation ended."""
    raise _reference_only()


@activity.defn(name=names.ACTIVITY_BEGIN_DELETION)
async def begin_deletion(request: OperationRef) -> BeginOperationResult:
    """The grace period is over: deletion begins unless the offboarding was cancelled."""
    raise _reference_only()


@activity.defn(name=names.ACTIVITY_PLAN_CREATE_SHEET)
async def plan_create_sheet(request: OperationStepInput) -> OperationStepResult:
    """Find or create and share the tenant's spreadsheet (starter → pro)."""
    raise _reference_only()


@activity.defn(name=names.ACTIVITY_PLAN_ANNOUNCE)
async def plan_announce(request: OperationStepInput) -> OperationStepResult:
    """Re-announce the tenant (tenant.registered with its spreadsheet) to its webhook."""
    raise _reference_only()


@activity.defn(name=names.ACTIVITY_PLAN_APPLY)
async def plan_apply(request: OperationStepInput) -> OperationStepResult:
    """Switch the tenant's plan and queue tenant.plan_changed."""
    raise _reference_only()


@activity.defn(name=names.ACTIVITY_OFFBOARD_TRANSFER_SHEET)
async def offboard_transfer_sheet(request: OperationStepInput) -> OperationStepResult:
    """Transfer the spreadsheet's ownership to the owner's e-mail (never delete it)."""
    raise _reference_only()


@activity.defn(name=names.ACTIVITY_OFFBOARD_NOTIFY)
async def offboard_notify(request: OperationStepInput) -> OperationStepResult:
    """Queue tenant.offboarded for the tenant's webhook."""
    raise _reference_only()


@activity.defn(name=names.ACTIVITY_OFFBOARD_CLEAR_WEBHOOK)
async def offboard_clear_webhook(request: OperationStepInput) -> OperationStepResult:
    """Clear the tenant's webhook URL."""
    raise _reference_only()


@activity.defn(name=names.ACTIVITY_OFFBOARD_REVOKE_TOKENS)
async def offboard_revoke_tokens(request: OperationStepInput) -> OperationStepResult:
    """Cut off every token of the tenant."""
    raise _reference_only()


@activity.defn(name=names.ACTIVITY_OFFBOARD_ERASE)
async def offboard_erase_personal_data(request: OperationStepInput) -> OperationStepResult:
    """Erase the owner's e-mail and the club name; free the slug and the e-mail."""
    raise _reference_only()


@activity.defn(name=names.ACTIVITY_OFFBOARD_MARK_DELETED)
async def offboard_mark_deleted(request: OperationStepInput) -> OperationStepResult:
    """Turn the tenant `deleted`."""
    raise _reference_only()


OPERATION_STEP_ACTIVITIES: dict[
    OperationStepName, Callable[[OperationStepInput], Awaitable[OperationStepResult]]
] = {
    "create_sheet": plan_create_sheet,
    "announce": plan_announce,
    "apply_plan": plan_apply,
    "transfer_sheet": offboard_transfer_sheet,
    "notify_offboarded": offboard_notify,
    "clear_webhook": offboard_clear_webhook,
    "revoke_tokens": offboard_revoke_tokens,
    "erase_personal_data": offboard_erase_personal_data,
    "mark_deleted": offboard_mark_deleted,
}
"""The activity of each lifecycle step, by step name."""
