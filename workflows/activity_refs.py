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
    BeginResult,
    FailureInput,
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
