"""The tenant read model: provision-status from the database (never from Temporal)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.schemas import (
    ProvisionStatusView,
    ResourcesView,
    StepError,
    StepView,
    TenantError,
    WorkflowRef,
)
from syston.db import ProvisioningStep, Tenant, TenantResources
from syston.errors import TenantNotFoundError
from syston.logs import mask_url
from syston.temporal import workflow_id


def rfc3339(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


async def provision_status(
    session: AsyncSession, tenant_id: str, *, unmask: bool
) -> ProvisionStatusView:
    row = (
        await session.execute(
            select(Tenant, TenantResources)
            .outerjoin(TenantResources, TenantResources.tenant_id == Tenant.id)
            .where(Tenant.id == tenant_id)
        )
    ).one_or_none()
    if row is None:
        raise TenantNotFoundError(tenant_id)
    tenant, resources = row
    steps = (
        await session.scalars(
            select(ProvisioningStep)
            .where(ProvisioningStep.tenant_id == tenant_id)
            .order_by(ProvisioningStep.position)
        )
    ).all()
    webhook = resources.webhook_url if resources else None
    return ProvisionStatusView(
        tenantId=tenant.id,
        slug=tenant.slug,
        plan=tenant.plan,
        status=tenant.status,
        steps=[
            StepView(
                name=s.name,
                status=s.status,
                attempts=s.attempts,
                startedAt=rfc3339(s.started_at),
                completedAt=rfc3339(s.completed_at),
                error=StepError(code=s.error_code, message=s.error_message or "")
                if s.error_code
                else None,
            )
            for s in steps
        ],
        resources=ResourcesView(
            spreadsheetId=resources.spreadsheet_id if resources else None,
            spreadsheetUrl=resources.spreadsheet_url if resources else None,
            webhookUrl=webhook if unmask else mask_url(webhook),
        ),
        createdAt=rfc3339(tenant.created_at) or "",
        updatedAt=rfc3339(tenant.updated_at) or "",
        provisionedAt=rfc3339(tenant.provisioned_at),
        error=TenantError(
            step=tenant.error_step, code=tenant.error_code, message=tenant.error_message
        )
        if tenant.error_code
        else None,
        workflow=WorkflowRef(id=workflow_id(tenant.id), runId=tenant.workflow_run_id),
    )
