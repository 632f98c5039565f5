"""The provision-status read model (syston/tenant_status.py): one read gives the tenant, its
resources and its plan's steps in order — what admins and the apps poll."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from syston.core.engine import ReadConnection
from syston.core.errors import TenantNotFoundError
from syston.provisioning_store import ProvisioningStore
from syston.signup import SignupService
from syston.tenant_status import ProvisionStatusRecord, read_provision_status
from tests.support.domain import Sessions, signed_up


async def status_of(sessions: Sessions, tenant_id: str) -> ProvisionStatusRecord:
    async with sessions() as session:
        return await session.run_sync(read_provision_status, tenant_id)


async def test_provision_status_of_an_unknown_tenant_is_not_found(sessions: Sessions) -> None:
    with pytest.raises(TenantNotFoundError):
        await status_of(sessions, "tenant_nobody")


async def test_provision_status_lists_each_plan_s_steps_in_order(
    signups: SignupService, sessions: Sessions
) -> None:
    starter = await signed_up(signups, "small-fc", "starter")
    pro = await signed_up(signups, "big-fc", "pro")

    starter_status = await status_of(sessions, starter)
    assert [s.name for s in starter_status.steps] == ["configure_webhook", "mark_active"]
    pro_status = await status_of(sessions, pro)
    assert [s.name for s in pro_status.steps] == [
        "create_sheet",
        "configure_webhook",
        "mark_active",
    ]
    assert (pro_status.plan, pro_status.slug) == ("pro", "big-fc")
    assert all(s.attempts == 0 and s.started_at is None for s in pro_status.steps)


async def test_provision_status_shows_the_resources_and_the_error_of_a_stopped_tenant(
    signups: SignupService, store: ProvisioningStore, engine: AsyncEngine
) -> None:
    tenant_id = await signed_up(signups, "stopped-fc", "pro")
    await store.begin(tenant_id, "pro", force=False, run_id="run-7")
    await store.start_step(tenant_id, "create_sheet")
    await store.complete_step(
        tenant_id, "create_sheet", spreadsheet_id="sheet-7", spreadsheet_url="https://sheet/7"
    )
    await store.start_step(tenant_id, "configure_webhook")
    await store.record_failure(tenant_id, "configure_webhook", "UPSTREAM_AUTH", "Make said 401")

    # read on a request's read connection too, as the API's status route does
    reads = ReadConnection(engine)
    try:
        status = await reads.run(read_provision_status, tenant_id)
    finally:
        await reads.close()

    assert (status.status, status.workflow_run_id) == ("failed", "run-7")
    assert (status.error_step, status.error_code, status.error_message) == (
        "configure_webhook",
        "UPSTREAM_AUTH",
        "Make said 401",
    )
    assert (status.spreadsheet_id, status.spreadsheet_url) == ("sheet-7", "https://sheet/7")
    sheet, webhook, active = status.steps
    assert (sheet.status, sheet.attempts) == ("completed", 1)
    assert sheet.started_at is not None and sheet.completed_at is not None
    assert (webhook.status, webhook.error_code, webhook.attempts) == ("failed", "UPSTREAM_AUTH", 1)
    assert (active.status, active.attempts) == ("pending", 0)
