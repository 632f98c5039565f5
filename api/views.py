"""The tenant read model: provision-status from the database (never from Temporal)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from api.schemas import (
    ProvisionStatusView,
    ResourcesView,
    StepError,
    StepView,
    TenantError,
    WorkflowRef,
)
from syston.core.db import ProvisioningStep, Tenant, TenantResources
from syston.core.errors import TenantNotFoundError
from syston.core.logs import mask_url
from syston.core.temporal import provision_workflow_id


def rfc3339(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


async def provision_status(
    db: AsyncSession | AsyncConnection, tenant_id: str, *, unmask: bool
) -> ProvisionStatusView:
    """One indexed read: the tenant, its resources and its steps in a single query."""
    rows = (
        await db.execute(
            select(
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
                ProvisioningStep.name.label("step_name"),
                ProvisioningStep.status.label("step_status"),
                ProvisioningStep.attempts.label("step_attempts"),
                ProvisioningStep.started_at.label("step_started_at"),
                ProvisioningStep.completed_at.label("step_completed_at"),
                ProvisioningStep.error_code.label("step_error_code"),
                ProvisioningStep.error_message.label("step_error_message"),
            )
            .select_from(Tenant)
            .outerjoin(TenantResources, TenantResources.tenant_id == Tenant.id)
            .outerjoin(ProvisioningStep, ProvisioningStep.tenant_id == Tenant.id)
            .where(Tenant.id == tenant_id)
            .order_by(ProvisioningStep.position)
        )
    ).all()
    if not rows:
        raise TenantNotFoundError(tenant_id)
    tenant = rows[0]
    return ProvisionStatusView(
        tenantId=tenant.id,
        slug=tenant.slug,
        plan=tenant.plan,
        status=tenant.status,
        steps=[
            StepView(
                name=row.step_name,
                status=row.step_status,
                attempts=row.step_attempts,
                startedAt=rfc3339(row.step_started_at),
                completedAt=rfc3339(row.step_completed_at),
                error=StepError(code=row.step_error_code, message=row.step_error_message or "")
                if row.step_error_code
                else None,
            )
            for row in rows
            if row.step_name is not None
        ],
        resources=ResourcesView(
            spreadsheetId=tenant.spreadsheet_id,
            spreadsheetUrl=tenant.spreadsheet_url,
            webhookUrl=tenant.webhook_url if unmask else mask_url(tenant.webhook_url),
        ),
        createdAt=rfc3339(tenant.created_at) or "",
        updatedAt=rfc3339(tenant.updated_at) or "",
        provisionedAt=rfc3339(tenant.provisioned_at),
        error=TenantError(
            step=tenant.error_step, code=tenant.error_code, message=tenant.error_message
        )
        if tenant.error_code
        else None,
        workflow=WorkflowRef(id=provision_workflow_id(tenant.id), runId=tenant.workflow_run_id),
    )
