"""provision-status: a tenant's steps, resources and workflow, as clients read them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from syston.core.logs import mask_url
from syston.models import (
    OperationStatus,
    OperationStepName,
    OperationType,
    Plan,
    StepName,
    StepStatus,
    TenantStatus,
)
from syston.tenant_status import OperationRecord, ProvisionStatusRecord, StepRecord

# Tenant ids as signup makes them (`tenant_` + url-safe base64) and as every route takes them.
TENANT_ID_PATTERN = r"^[A-Za-z0-9_-]+$"


def rfc3339(value: datetime | None) -> str | None:
    """RFC 3339 UTC with a `Z`, or None."""
    return value.isoformat().replace("+00:00", "Z") if value else None


class StepError(BaseModel):
    code: str
    message: str


class StepView(BaseModel):
    name: StepName
    status: StepStatus
    attempts: int
    startedAt: str | None
    completedAt: str | None
    error: StepError | None


class ResourcesView(BaseModel):
    spreadsheetId: str | None
    spreadsheetUrl: str | None
    webhookUrl: str | None


class TenantError(BaseModel):
    step: str | None
    code: str | None
    message: str | None


class WorkflowRef(BaseModel):
    id: str
    runId: str | None


class OperationStepView(BaseModel):
    name: OperationStepName
    status: StepStatus
    attempts: int
    startedAt: str | None
    completedAt: str | None
    error: StepError | None


class OperationView(BaseModel):
    """The tenant's current or last lifecycle operation (plan change or offboarding)."""

    type: OperationType
    status: OperationStatus
    workflowId: str
    runId: str | None
    steps: list[OperationStepView]
    plan: Plan | None
    previousPlan: Plan | None
    deleteAfter: str | None

    @classmethod
    def of(cls, record: OperationRecord | None) -> OperationView | None:
        if record is None:
            return None
        return cls(
            type=record.type,
            status=record.status,
            workflowId=record.workflow_id,
            runId=record.run_id,
            steps=[OperationStepView.model_validate(_step_fields(s)) for s in record.steps],
            plan=record.plan,
            previousPlan=record.previous_plan,
            deleteAfter=rfc3339(record.delete_after),
        )


def _step_fields(step: StepRecord) -> dict[str, object]:
    return {
        "name": step.name,
        "status": step.status,
        "attempts": step.attempts,
        "startedAt": rfc3339(step.started_at),
        "completedAt": rfc3339(step.completed_at),
        "error": StepError(code=step.error_code, message=step.error_message or "")
        if step.error_code
        else None,
    }


class ProvisionStatusView(BaseModel):
    tenantId: str
    slug: str
    plan: Plan
    status: TenantStatus
    steps: list[StepView]
    resources: ResourcesView
    createdAt: str
    updatedAt: str
    provisionedAt: str | None
    error: TenantError | None
    workflow: WorkflowRef
    operation: OperationView | None = None

    @classmethod
    def of(cls, record: ProvisionStatusRecord, *, unmask: bool) -> ProvisionStatusView:
        """The view of a tenant's status; webhook URLs (bearer secrets) masked unless `unmask`."""
        return cls(
            tenantId=record.tenant_id,
            slug=record.slug,
            plan=record.plan,
            status=record.status,
            steps=[StepView.model_validate(_step_fields(step)) for step in record.steps],
            resources=ResourcesView(
                spreadsheetId=record.spreadsheet_id,
                spreadsheetUrl=record.spreadsheet_url,
                webhookUrl=record.webhook_url if unmask else mask_url(record.webhook_url),
            ),
            createdAt=rfc3339(record.created_at) or "",
            updatedAt=rfc3339(record.updated_at) or "",
            provisionedAt=rfc3339(record.provisioned_at),
            error=TenantError(
                step=record.error_step, code=record.error_code, message=record.error_message
            )
            if record.error_code
            else None,
            workflow=WorkflowRef(id=record.workflow_id, runId=record.workflow_run_id),
            operation=OperationView.of(record.operation),
        )
