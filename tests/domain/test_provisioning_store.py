"""The provisioning ledger (syston/provisioning_store.py) as provision-status shows it: a run
begins and learns what is done, steps go running → retrying → completed or failed, a stopped
tenant resumes, an active one is reopened for a forced re-queue, and every write can be
repeated (activities run at least once)."""

from __future__ import annotations

import pytest
from sqlalchemy import delete

from syston.core.db import ProvisioningStep, TenantResources
from syston.provisioning_store import MAX_ERROR_MESSAGE, ProvisioningStore, TenantNotFound
from syston.signup import SignupService
from syston.tenant_status import ProvisionStatusRecord, read_provision_status
from tests.support.domain import Sessions, signed_up


async def status_of(sessions: Sessions, tenant_id: str) -> ProvisionStatusRecord:
    async with sessions() as session:
        return await session.run_sync(read_provision_status, tenant_id)


def steps(status: ProvisionStatusRecord) -> dict[str, str]:
    return {s.name: s.status for s in status.steps}


@pytest.fixture
async def tenant(signups: SignupService, store: ProvisioningStore) -> str:
    """A pro tenant whose run has begun."""
    tenant_id = await signed_up(signups, "ledger-fc", "pro")
    await store.begin(tenant_id, "pro", force=False, run_id="run-1")
    return tenant_id


async def fail(store: ProvisioningStore, tenant_id: str, step: str) -> None:
    await store.start_step(tenant_id, step)
    await store.record_failure(tenant_id, step, "UPSTREAM_AUTH", "Google answered 403")


async def test_a_run_begins_on_a_new_tenant_with_nothing_done(
    signups: SignupService, store: ProvisioningStore, sessions: Sessions
) -> None:
    tenant_id = await signed_up(signups, "begin-fc", "starter")

    begun = await store.begin(tenant_id, "starter", force=False, run_id="run-1")

    assert (begun.found, begun.status, begun.completed_steps) == (True, "processing", [])
    status = await status_of(sessions, tenant_id)
    assert status.workflow_run_id == "run-1"
    assert status.workflow_id == f"provision-{tenant_id}"


async def test_a_run_for_a_tenant_that_is_gone_finds_nothing(store: ProvisioningStore) -> None:
    begun = await store.begin("tenant_gone", "pro", force=False, run_id="run-1")

    assert not begun.found and begun.completed_steps == []


async def test_a_first_step_begins_the_run_and_starts_in_one_transaction(
    signups: SignupService, store: ProvisioningStore, sessions: Sessions
) -> None:
    tenant_id = await signed_up(signups, "first-step-fc", "pro")

    begun, started = await store.begin_with_step(
        tenant_id, "pro", "create_sheet", force=False, run_id="run-1"
    )

    assert (begun.found, begun.status, begun.completed_steps) == (True, "processing", [])
    assert started is not None
    attempt, context = started
    assert attempt == 1 and context.slug == "first-step-fc"
    status = await status_of(sessions, tenant_id)
    assert status.workflow_run_id == "run-1"
    assert steps(status)["create_sheet"] == "running"


async def test_a_completed_step_stores_its_resources_for_that_tenant_only(
    signups: SignupService, tenant: str, store: ProvisioningStore, sessions: Sessions
) -> None:
    other = await signed_up(signups, "ledger-other-fc", "pro")
    await store.start_step(tenant, "create_sheet")

    await store.complete_step(
        tenant, "create_sheet", spreadsheet_id="sheet-1", spreadsheet_url="https://s/1"
    )

    status = await status_of(sessions, tenant)
    assert (status.spreadsheet_id, status.spreadsheet_url) == ("sheet-1", "https://s/1")
    untouched = await status_of(sessions, other)
    assert (untouched.spreadsheet_id, untouched.spreadsheet_url) == (None, None)


async def test_a_resource_that_names_no_column_is_refused_and_nothing_is_written(
    tenant: str, store: ProvisioningStore, sessions: Sessions
) -> None:
    await store.start_step(tenant, "create_sheet")

    with pytest.raises(ValueError, match="spreadsheet_idd"):
        await store.complete_step(tenant, "create_sheet", spreadsheet_idd="sheet-1")

    status = await status_of(sessions, tenant)
    assert steps(status)["create_sheet"] == "running" and status.spreadsheet_id is None


async def test_a_tenant_without_a_resources_row_gets_one_when_a_step_completes(
    tenant: str, store: ProvisioningStore, sessions: Sessions
) -> None:
    async with sessions.begin() as session:  # as for a tenant from before the table existed
        await session.execute(delete(TenantResources).where(TenantResources.tenant_id == tenant))
    await store.start_step(tenant, "create_sheet")

    await store.complete_step(tenant, "create_sheet", spreadsheet_id="sheet-2")

    status = await status_of(sessions, tenant)
    assert status.spreadsheet_id == "sheet-2" and steps(status)["create_sheet"] == "completed"


async def test_a_first_step_the_ledger_has_done_is_not_started_again(
    tenant: str, store: ProvisioningStore, sessions: Sessions
) -> None:
    await store.start_step(tenant, "create_sheet")
    await store.complete_step(tenant, "create_sheet", spreadsheet_id="sheet-1")

    begun, started = await store.begin_with_step(
        tenant, "pro", "create_sheet", force=False, run_id="run-2"
    )

    assert started is None and begun.completed_steps == ["create_sheet"]
    status = await status_of(sessions, tenant)
    assert status.steps[0].attempts == 1 and status.steps[0].status == "completed"
    assert status.workflow_run_id == "run-2"
    # forced, the same step starts over
    begun, started = await store.begin_with_step(
        tenant, "pro", "create_sheet", force=True, run_id="run-3"
    )
    assert begun.completed_steps == [] and started is not None and started[0] == 2


async def test_a_first_step_of_a_tenant_that_is_gone_starts_nothing(
    store: ProvisioningStore,
) -> None:
    begun, started = await store.begin_with_step(
        "tenant_gone", "pro", "create_sheet", force=False, run_id="run-1"
    )

    assert not begun.found and started is None


async def test_a_step_runs_counts_its_attempts_and_completes_with_its_resource(
    tenant: str, store: ProvisioningStore, sessions: Sessions
) -> None:
    attempt, context = await store.start_step(tenant, "create_sheet")
    assert attempt == 1
    assert (context.slug, context.club_name, context.plan) == ("ledger-fc", "Club ledger-fc", "pro")
    assert context.owner_email == "ledger-fc@example.org"
    assert context.spreadsheet_id is None
    assert steps(await status_of(sessions, tenant))["create_sheet"] == "running"

    await store.step_retrying(tenant, "create_sheet", "UPSTREAM_UNAVAILABLE", "Google 503")
    retrying = await status_of(sessions, tenant)
    assert retrying.steps[0].status == "retrying"
    assert retrying.steps[0].error_code == "UPSTREAM_UNAVAILABLE"

    attempt, _ = await store.start_step(tenant, "create_sheet")
    await store.complete_step(
        tenant, "create_sheet", spreadsheet_id="sheet-1", spreadsheet_url="https://sheet/1"
    )
    await store.complete_step(tenant, "create_sheet", spreadsheet_id="sheet-1")  # a repeat

    status = await status_of(sessions, tenant)
    assert attempt == 2 and status.steps[0].attempts == 2
    assert status.steps[0].status == "completed" and status.steps[0].error_code is None
    assert (status.spreadsheet_id, status.spreadsheet_url) == ("sheet-1", "https://sheet/1")
    _, context = await store.start_step(tenant, "configure_webhook")
    assert context.spreadsheet_id == "sheet-1"
    # a new run learns the sheet is done
    begun = await store.begin(tenant, "pro", force=False, run_id="run-2")
    assert begun.completed_steps == ["create_sheet"]


async def test_a_step_of_an_unknown_tenant_is_an_error(store: ProvisioningStore) -> None:
    with pytest.raises(TenantNotFound):
        await store.start_step("tenant_gone", "create_sheet")


async def test_a_failure_stops_the_tenant_saying_where_and_why(
    tenant: str, store: ProvisioningStore, sessions: Sessions
) -> None:
    await store.complete_step(tenant, "create_sheet")
    await store.start_step(tenant, "configure_webhook")
    await store.record_failure(tenant, "configure_webhook", "UPSTREAM_REJECTED", "x" * 5000)
    await store.record_failure(tenant, "configure_webhook", "UPSTREAM_REJECTED", "x" * 5000)

    status = await status_of(sessions, tenant)
    assert status.status == "failed"
    assert (status.error_step, status.error_code) == ("configure_webhook", "UPSTREAM_REJECTED")
    assert status.error_message is not None
    assert len(status.error_message) == MAX_ERROR_MESSAGE and status.error_message.endswith("…")
    assert steps(status) == {
        "create_sheet": "completed",
        "configure_webhook": "failed",
        "mark_active": "pending",
    }


async def test_resume_puts_a_stopped_tenant_back_to_processing_once(
    tenant: str, store: ProvisioningStore, sessions: Sessions
) -> None:
    await store.complete_step(tenant, "create_sheet")
    await fail(store, tenant, "configure_webhook")

    assert await store.resume(tenant) is True
    assert await store.resume(tenant) is False  # nothing stopped any more

    status = await status_of(sessions, tenant)
    assert status.status == "processing"
    assert (status.error_step, status.error_code, status.error_message) == (None, None, None)
    assert steps(status) == {
        "create_sheet": "completed",
        "configure_webhook": "pending",
        "mark_active": "pending",
    }


async def test_resume_does_not_overwrite_what_changed_since_it_was_asked(
    tenant: str, store: ProvisioningStore, sessions: Sessions
) -> None:
    await fail(store, tenant, "create_sheet")
    seen = (await status_of(sessions, tenant)).updated_at
    await store.resume(tenant)  # the resumed run got there first…
    await fail(store, tenant, "create_sheet")  # …and stopped again

    assert await store.resume(tenant, if_updated_at=seen) is False
    assert (await status_of(sessions, tenant)).status == "failed"


async def test_a_new_run_of_a_failed_tenant_retries_the_failed_step_only(
    tenant: str, store: ProvisioningStore, sessions: Sessions
) -> None:
    await store.complete_step(tenant, "create_sheet")
    await fail(store, tenant, "configure_webhook")

    begun = await store.begin(tenant, "pro", force=False, run_id="run-2")

    assert (begun.status, begun.completed_steps) == ("processing", ["create_sheet"])
    status = await status_of(sessions, tenant)
    assert status.error_code is None and status.workflow_run_id == "run-2"
    assert steps(status)["configure_webhook"] == "pending"


async def test_mark_active_turns_the_tenant_active_once(
    tenant: str, store: ProvisioningStore, sessions: Sessions
) -> None:
    for step in ("create_sheet", "configure_webhook"):
        await store.complete_step(tenant, step)
    await store.start_step(tenant, "mark_active")

    first = await store.mark_active(tenant)
    again = await store.mark_active(tenant)

    assert first.activated and first.duration_ms is not None and first.duration_ms >= 0
    assert not again.activated
    status = await status_of(sessions, tenant)
    assert status.status == "active" and status.provisioned_at is not None
    assert set(steps(status).values()) == {"completed"}
    with pytest.raises(TenantNotFound):
        await store.mark_active("tenant_gone")


async def test_a_forced_requeue_reopens_an_active_tenant_and_redoes_every_step(
    tenant: str, store: ProvisioningStore, sessions: Sessions
) -> None:
    for step in ("create_sheet", "configure_webhook"):
        await store.complete_step(tenant, step)
    await store.mark_active(tenant)

    assert await store.reopen(tenant) is True
    assert await store.reopen(tenant) is False  # no longer active
    reopened = await status_of(sessions, tenant)
    begun = await store.begin(tenant, "pro", force=True, run_id="run-2")

    assert reopened.status == "processing" and reopened.provisioned_at is None
    assert set(steps(reopened).values()) == {"pending"}
    assert (begun.status, begun.completed_steps) == ("processing", [])


async def test_a_forced_run_of_an_active_tenant_provisions_it_anew(
    tenant: str, store: ProvisioningStore, sessions: Sessions
) -> None:
    """`force` straight on an active tenant (no reopen first): processing, every step pending,
    no provisioned time, nothing reported done."""
    for step in ("create_sheet", "configure_webhook"):
        await store.complete_step(tenant, step)
    assert (await store.mark_active(tenant)).activated

    begun = await store.begin(tenant, "pro", force=True, run_id="run-2")

    status = await status_of(sessions, tenant)
    assert (begun.status, begun.completed_steps) == ("processing", [])
    assert status.status == "processing" and status.provisioned_at is None
    assert set(steps(status).values()) == {"pending"}
    assert status.workflow_run_id == "run-2"


async def test_a_run_begins_on_a_tenant_whose_steps_were_never_written(
    signups: SignupService, store: ProvisioningStore, sessions: Sessions
) -> None:
    """A tenant accepted before signups wrote its steps gets them at the run's begin."""
    tenant_id = await signed_up(signups, "stepless-fc", "pro")
    async with sessions.begin() as session:
        await session.execute(
            delete(ProvisioningStep).where(ProvisioningStep.tenant_id == tenant_id)
        )

    begun = await store.begin(tenant_id, "pro", force=False, run_id="run-1")

    status = await status_of(sessions, tenant_id)
    assert (begun.status, begun.completed_steps) == ("processing", [])
    assert [s.name for s in status.steps] == ["create_sheet", "configure_webhook", "mark_active"]
    assert set(steps(status).values()) == {"pending"}
