"""ProvisionTenant's decisions, with its activities mocked, on the time-skipping test server:
which steps run and in what order, what stops a run, what resumes or ends a stopped one, and
what the `progress` query and the `ProvisionStatus` search attribute show meanwhile.

The end-to-end tests (test_provision_flow.py, test_stop_and_resume.py) run the same paths
against the real activities, database and emulators.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from syston.core.temporal import PROVISION_STATUS_ATTR
from syston.models import (
    RUN_SHAPE_BEGIN_IN_FIRST_STEP,
    FailureInput,
    Plan,
    ProgressView,
    StatusOverridden,
    TenantStatus,
)
from tests.support.workflow_doubles import (
    ScriptedActivities,
    progress_until,
    skip_time_until_stopped,
    start_provisioning,
    stopped,
)
from workflows.provision import STEP_RETRY, ProvisionTenant

pytestmark = pytest.mark.fast

RESULT_TIMEOUT_SECONDS = 30.0


async def stopped_then_suspended(
    env: WorkflowEnvironment, script: ScriptedActivities, plan: Plan, shape: int
) -> ProgressView:
    """Run a provisioning until it stops (the retries' backoff, minutes, skipped by the test
    server), then end it by suspending the tenant; the view at the stop."""
    async with script.worker(env.client) as task_queue:
        handle = await start_provisioning(env.client, task_queue, plan, shape)
        view = await skip_time_until_stopped(env, handle)
        await handle.signal(ProvisionTenant.status_overridden, StatusOverridden(status="suspended"))
        await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_SECONDS)
    return view


@pytest.fixture(params=[RUN_SHAPE_BEGIN_IN_FIRST_STEP, 1], ids=["begin-in-first-step", "shape-1"])
def shape(request: pytest.FixtureRequest) -> int:
    """Every decision holds for runs of the current shape (the first step records the run's
    start) and for runs started without it (by hand, or by an API from before it)."""
    value: int = request.param
    return value


def rejected(message: str = "Make answered 400") -> ApplicationError:
    """What an activity raises for an upstream error retrying will not fix."""
    return ApplicationError(message, type="UPSTREAM_REJECTED", non_retryable=True)


async def provision_status(handle: WorkflowHandle[Any, Any]) -> str | None:
    """The run's `ProvisionStatus` search attribute (what the Temporal UI lists)."""
    description = await handle.describe()
    value: str | None = description.typed_search_attributes.get(PROVISION_STATUS_ATTR)
    return value


@pytest.mark.parametrize(
    ("plan", "steps"),
    [
        ("starter", ["configure_webhook", "mark_active"]),
        ("pro", ["create_sheet", "configure_webhook", "mark_active"]),
    ],
)
async def test_each_plan_runs_its_steps_in_order_and_ends_active(
    time_skipping_env: WorkflowEnvironment, shape: int, plan: Plan, steps: list[str]
) -> None:
    script = ScriptedActivities()
    async with script.worker(time_skipping_env.client) as task_queue:
        handle = await start_provisioning(time_skipping_env.client, task_queue, plan)
        result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_SECONDS)
        view = await handle.query(ProvisionTenant.progress)

    assert result.status == "active"
    assert result.completed_steps == steps
    assert script.called() == ["begin", *steps]
    assert {r.tenant_id for r in script.requests("begin")} == {result.tenant_id}
    assert view.status == "active" and not view.waiting_for_retry
    assert [(s.name, s.status) for s in view.steps] == [(step, "completed") for step in steps]
    assert await provision_status(handle) == "active"


async def test_steps_the_ledger_has_completed_are_not_run_again(
    time_skipping_env: WorkflowEnvironment,
    shape: int,
) -> None:
    script = ScriptedActivities(done=["create_sheet"])
    async with script.worker(time_skipping_env.client) as task_queue:
        handle = await start_provisioning(time_skipping_env.client, task_queue, "pro", shape)
        result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_SECONDS)

    assert script.called() == ["begin", "configure_webhook", "mark_active"]
    assert result.status == "active"
    assert result.completed_steps == ["create_sheet", "configure_webhook", "mark_active"]


async def test_a_first_step_run_by_a_worker_from_before_the_shape_is_followed_by_the_start(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """In a rolling deploy an older worker may take the first step and ignore the start it
    carries: the run then records the start itself, and goes on from what the ledger says."""
    script = ScriptedActivities(predates_shape=True)
    async with script.worker(time_skipping_env.client) as task_queue:
        handle = await start_provisioning(time_skipping_env.client, task_queue, "pro")
        result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_SECONDS)

    assert script.called() == ["create_sheet", "begin", "configure_webhook", "mark_active"]
    (first,) = script.requests("create_sheet")
    assert first.begin is not None and first.begin.tenant_id == result.tenant_id
    assert all(r.begin is None for r in script.requests("configure_webhook"))
    assert result.status == "active"
    assert await provision_status(handle) == "active"


async def test_only_the_first_step_carries_the_start(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    script = ScriptedActivities()
    async with script.worker(time_skipping_env.client) as task_queue:
        handle = await start_provisioning(time_skipping_env.client, task_queue, "pro")
        result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_SECONDS)

    carried = {c.activity: c.request.begin for c in script.calls if c.activity != "begin"}
    assert carried["create_sheet"] is not None and carried["create_sheet"].plan == "pro"
    assert carried["configure_webhook"] is None and carried["mark_active"] is None
    assert result.status == "active"


async def test_a_tenant_gone_from_the_database_is_abandoned_without_running_a_step(
    time_skipping_env: WorkflowEnvironment,
    shape: int,
) -> None:
    script = ScriptedActivities(found=False)
    async with script.worker(time_skipping_env.client) as task_queue:
        handle = await start_provisioning(time_skipping_env.client, task_queue, "pro", shape)
        result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_SECONDS)

    assert result.status == "abandoned"
    assert result.completed_steps == []
    assert script.called() == ["begin"]
    assert await provision_status(handle) == "abandoned"


async def test_a_permanent_error_stops_the_run_open_until_retry_resumes_it(
    time_skipping_env: WorkflowEnvironment,
    shape: int,
) -> None:
    script = ScriptedActivities(failures={"configure_webhook": [rejected()]})
    async with script.worker(time_skipping_env.client) as task_queue:
        handle = await start_provisioning(time_skipping_env.client, task_queue, "pro", shape)
        view = await stopped(handle)

        # stopped, not failed: the run stays open and says where and why
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        assert await provision_status(handle) == "failed"
        assert [(s.name, s.status) for s in view.steps] == [
            ("create_sheet", "completed"),
            ("configure_webhook", "failed"),
            ("mark_active", "pending"),
        ]
        assert view.last_error == "configure_webhook: UPSTREAM_REJECTED: Make answered 400"
        assert script.requests("record_failure") == [
            FailureInput(
                tenant_id=view.tenant_id,
                step="configure_webhook",
                code="UPSTREAM_REJECTED",
                message="Make answered 400",
            )
        ]
        assert "mark_active" not in script.called()

        await handle.signal(ProvisionTenant.retry)
        result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_SECONDS)
        view = await handle.query(ProvisionTenant.progress)

    assert result.status == "active"
    assert script.called() == [
        "begin",
        "create_sheet",
        "configure_webhook",
        "record_failure",
        "resume",
        "configure_webhook",  # only the stopped step and the ones after it run again
        "mark_active",
    ]
    assert view.last_error is None and not view.waiting_for_retry
    assert await provision_status(handle) == "active"


async def test_the_activation_is_a_local_activity_in_the_current_shape(
    time_skipping_env: WorkflowEnvironment, shape: int
) -> None:
    script = ScriptedActivities()
    async with script.worker(time_skipping_env.client) as task_queue:
        handle = await start_provisioning(time_skipping_env.client, task_queue, "pro", shape)
        await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_SECONDS)
        events = [e async for e in handle.fetch_history_events()]

    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    markers = sum(e.HasField("marker_recorded_event_attributes") for e in events)
    if shape > 1:  # one marker (mark_active), no patch marker, no local begin
        assert (scheduled, markers) == (["create_sheet", "configure_webhook"], 1)
    else:  # the local-begin patch marker and the local begin's marker
        assert (scheduled, markers) == (["create_sheet", "configure_webhook", "mark_active"], 2)


async def test_an_activation_that_fails_stops_the_run_until_retry(
    time_skipping_env: WorkflowEnvironment, shape: int
) -> None:
    script = ScriptedActivities(failures={"mark_active": [rejected("tenant row locked")]})
    async with script.worker(time_skipping_env.client) as task_queue:
        handle = await start_provisioning(time_skipping_env.client, task_queue, "starter", shape)
        view = await stopped(handle)
        assert view.last_error == "mark_active: UPSTREAM_REJECTED: tenant row locked"
        assert await provision_status(handle) == "failed"

        await handle.signal(ProvisionTenant.retry)
        result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_SECONDS)

    assert result.status == "active"
    assert script.called()[-4:] == ["mark_active", "record_failure", "resume", "mark_active"]


async def test_a_step_that_keeps_failing_is_retried_then_stops_saying_it_gave_up(
    time_skipping_env: WorkflowEnvironment,
    shape: int,
) -> None:
    attempts = STEP_RETRY.maximum_attempts
    unavailable = [
        ApplicationError("Google answered 503", type="UPSTREAM_UNAVAILABLE")
        for _ in range(attempts)
    ]
    script = ScriptedActivities(failures={"create_sheet": unavailable})
    view = await stopped_then_suspended(time_skipping_env, script, "pro", shape)

    # a first step carries the run's start on every attempt until one returns
    if shape > 1:
        expected = ["begin", "create_sheet"] * attempts
    else:
        expected = ["begin"] + ["create_sheet"] * attempts
    assert script.called() == [*expected, "record_failure"]
    (failure,) = script.requests("record_failure")
    assert failure.code == "UPSTREAM_UNAVAILABLE"
    assert failure.message == f"Google answered 503 (gave up after {attempts} attempts)"
    assert view.steps[0].status == "failed"


async def test_an_activation_that_keeps_failing_stops_saying_it_gave_up(
    time_skipping_env: WorkflowEnvironment, shape: int
) -> None:
    attempts = STEP_RETRY.maximum_attempts
    locked = [ApplicationError("database is locked", type="INTERNAL") for _ in range(attempts)]
    script = ScriptedActivities(failures={"mark_active": locked})
    view = await stopped_then_suspended(time_skipping_env, script, "starter", shape)

    assert script.called().count("mark_active") == attempts
    (failure,) = script.requests("record_failure")
    assert (failure.step, failure.code) == ("mark_active", "INTERNAL")
    assert failure.message == f"database is locked (gave up after {attempts} attempts)"
    assert view.steps[-1].status == "failed"


@pytest.mark.parametrize("status", ["suspended", "active", "deleted"])
async def test_an_admin_status_override_ends_a_stopped_run_with_that_status(
    time_skipping_env: WorkflowEnvironment, shape: int, status: TenantStatus
) -> None:
    script = ScriptedActivities(failures={"configure_webhook": [rejected()]})
    async with script.worker(time_skipping_env.client) as task_queue:
        handle = await start_provisioning(time_skipping_env.client, task_queue, "pro", shape)
        await stopped(handle)
        await handle.signal(ProvisionTenant.status_overridden, StatusOverridden(status=status))
        result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_SECONDS)

    assert result.status == status
    assert result.completed_steps == ["create_sheet"]
    assert "resume" not in script.called() and "mark_active" not in script.called()
    assert await provision_status(handle) == status


async def test_an_override_to_processing_resumes_like_retry_and_to_failed_keeps_waiting(
    time_skipping_env: WorkflowEnvironment,
    shape: int,
) -> None:
    script = ScriptedActivities(failures={"configure_webhook": [rejected()]})
    async with script.worker(time_skipping_env.client) as task_queue:
        handle = await start_provisioning(time_skipping_env.client, task_queue, "starter", shape)
        await stopped(handle)

        await handle.signal(ProvisionTenant.status_overridden, StatusOverridden(status="failed"))
        view = await handle.query(ProvisionTenant.progress)
        assert view.waiting_for_retry and view.status == "failed"

        await handle.signal(
            ProvisionTenant.status_overridden, StatusOverridden(status="processing")
        )
        result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_SECONDS)

    assert result.status == "active"
    # the stopped step was the first: its start was never answered, so it carries it again
    again = ["begin", "configure_webhook"] if shape > 1 else ["configure_webhook"]
    assert script.called() == [
        "begin",
        "configure_webhook",
        "record_failure",
        "resume",
        *again,
        "mark_active",
    ]


async def test_progress_shows_the_step_running_now_and_a_busy_run_ignores_retry(
    time_skipping_env: WorkflowEnvironment,
    shape: int,
) -> None:
    sheet_goes_on = asyncio.Event()
    script = ScriptedActivities(
        failures={"configure_webhook": [rejected()]}, held={"create_sheet": sheet_goes_on}
    )
    async with script.worker(time_skipping_env.client) as task_queue:
        handle = await start_provisioning(time_skipping_env.client, task_queue, "pro", shape)
        view = await progress_until(
            handle, lambda v: v.steps[0].status == "running", "create_sheet running"
        )
        assert view.status == "processing" and not view.waiting_for_retry
        assert [s.status for s in view.steps] == ["running", "pending", "pending"]

        # `retry` (or an override) while nothing is stopped changes nothing…
        await handle.signal(ProvisionTenant.retry)
        await handle.signal(ProvisionTenant.status_overridden, StatusOverridden(status="suspended"))
        sheet_goes_on.set()
        # …so the later stop still waits for a retry of its own
        view = await stopped(handle)
        assert view.steps[1].status == "failed"
        assert "resume" not in script.called()

        await handle.signal(ProvisionTenant.retry)
        result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_SECONDS)

    assert result.status == "active"
