"""The tenant read model: provision-status from the database (never from Temporal)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from syston.core.db import OperationStep, ProvisioningStep, Tenant, TenantOperation, TenantResources
from syston.core.errors import TenantNotFoundError
from syston.core.temporal import provision_workflow_id
from syston.models import OperationStatus, OperationType, Plan, StepStatus, TenantStatus


@dataclass(frozen=True, slots=True)
class StepRecord:
    name: str
    status: StepStatus
    attempts: int
    started_at: datetime | None
    completed_at: datetime | None
    error_code: str | None
    error_message: str | None


@dataclass(frozen=True, slots=True)
class OperationRecord:
    """The tenant's current or last lifecycle operation and its steps."""

    type: OperationType
    status: OperationStatus
    workflow_id: str
    run_id: str | None
    plan: Plan | None
    previous_plan: Plan | None
    delete_after: datetime | None
    steps: list[StepRecord]


@dataclass(frozen=True, slots=True)
class ProvisionStatusRecord:
    """A tenant's provisioning as the ledger has it: status, error, resources and steps."""

    tenant_id: str
    slug: str
    plan: Plan
    status: TenantStatus
    created_at: datetime
    updated_at: datetime
    provisioned_at: datetime | None
    workflow_run_id: str | None
    error_step: str | None
    error_code: str | None
    error_message: str | None
    spreadsheet_id: str | None
    spreadsheet_url: str | None
    webhook_url: str | None  # the one events go to (see `read_provision_status`)
    steps: list[StepRecord]
    operation: OperationRecord | None = None

    @property
    def workflow_id(self) -> str:
        return provision_workflow_id(self.tenant_id)


# The tenant, its resources and its steps: what provision-status shows, in one row per step.
_STATUS_COLUMNS = (
    Tenant.id,
    Tenant.slug,
    Tenant.plan,
    Tenant.status,
    Tenant.created_at,
    Tenant.updated_at,
    Tenant.provisioned_at,
    Tenant.workflow_run_id,
    Tenant.error_step,
    Tenant.error_code,
    Tenant.error_message,
    TenantResources.spreadsheet_id,
    TenantResources.spreadsheet_url,
    TenantResources.webhook_url,
    TenantResources.webhook_registered_at,
    TenantOperation.type.label("operation_type"),
    ProvisioningStep.name.label("step_name"),
    ProvisioningStep.status.label("step_status"),
    ProvisioningStep.attempts.label("step_attempts"),
    ProvisioningStep.started_at.label("step_started_at"),
    ProvisioningStep.completed_at.label("step_completed_at"),
    ProvisioningStep.error_code.label("step_error_code"),
    ProvisioningStep.error_message.label("step_error_message"),
)
# Built once: constructing the statement cost about as much CPU as running it.
_STATUS_READ = (
    select(*_STATUS_COLUMNS)
    .select_from(Tenant)
    .outerjoin(TenantResources, TenantResources.tenant_id == Tenant.id)
    .outerjoin(TenantOperation, TenantOperation.tenant_id == Tenant.id)
    .outerjoin(ProvisioningStep, ProvisioningStep.tenant_id == Tenant.id)
    .where(Tenant.id == bindparam("tenant_id"))
    .order_by(ProvisioningStep.position)
)


def read_provision_status(
    db: Connection | Session,
    tenant_id: str,
    *,
    platform_webhook_url: str | None = None,
) -> ProvisionStatusRecord:
    """One indexed read: the tenant, its resources and its steps in a single query.

    The webhook URL is the one events go to: the tenant's own (admin-set), else the platform's
    current MAKE_WEBHOOK_URL (`platform_webhook_url`) once the tenant is registered there.
    """
    rows = db.execute(_STATUS_READ, {"tenant_id": tenant_id}).all()
    if not rows:
        raise TenantNotFoundError(tenant_id)
    tenant = rows[0]
    # A second read only for tenants that ever had a lifecycle operation.
    operation = _read_operation(db, tenant_id) if tenant.operation_type else None
    return ProvisionStatusRecord(
        tenant_id=tenant.id,
        slug=tenant.slug,
        plan=tenant.plan,
        status=tenant.status,
        created_at=tenant.created_at,
        updated_at=tenant.updated_at,
        provisioned_at=tenant.provisioned_at,
        workflow_run_id=tenant.workflow_run_id,
        error_step=tenant.error_step,
        error_code=tenant.error_code,
        error_message=tenant.error_message,
        spreadsheet_id=tenant.spreadsheet_id,
        spreadsheet_url=tenant.spreadsheet_url,
        webhook_url=tenant.webhook_url
        or (platform_webhook_url if tenant.webhook_registered_at else None),
        steps=_step_records(rows),
        operation=operation,
    )


def _read_operation(db: Connection | Session, tenant_id: str) -> OperationRecord | None:
    rows = (
        db.execute(
            select(
                TenantOperation.type,
                TenantOperation.status,
                TenantOperation.workflow_id,
                TenantOperation.run_id,
                TenantOperation.plan,
                TenantOperation.previous_plan,
                TenantOperation.delete_after,
                *_OPERATION_STEP_COLUMNS,
            )
            .outerjoin(OperationStep, OperationStep.tenant_id == TenantOperation.tenant_id)
            .where(TenantOperation.tenant_id == tenant_id)
            .order_by(OperationStep.position)
        )
    ).all()
    if not rows:
        return None
    op = rows[0]
    return OperationRecord(
        type=op.type,
        status=op.status,
        workflow_id=op.workflow_id,
        run_id=op.run_id,
        plan=op.plan,
        previous_plan=op.previous_plan,
        delete_after=op.delete_after,
        steps=_step_records(rows),
    )


_OPERATION_STEP_COLUMNS = (
    OperationStep.name.label("step_name"),
    OperationStep.status.label("step_status"),
    OperationStep.attempts.label("step_attempts"),
    OperationStep.started_at.label("step_started_at"),
    OperationStep.completed_at.label("step_completed_at"),
    OperationStep.error_code.label("step_error_code"),
    OperationStep.error_message.label("step_error_message"),
)


def _step_records(rows: Sequence[Any]) -> list[StepRecord]:
    """The steps of a status read's rows (labelled `step_*`; none on an outer join's miss)."""
    return [
        StepRecord(
            name=row.step_name,
            status=row.step_status,
            attempts=row.step_attempts,
            started_at=row.step_started_at,
            completed_at=row.step_completed_at,
            error_code=row.step_error_code,
            error_message=row.step_error_message,
        )
        for row in rows
        if row.step_name is not None
    ]
