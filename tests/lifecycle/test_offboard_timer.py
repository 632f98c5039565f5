"""OffboardTenant's 30-day grace on the time-skipping test server, with stand-in activities:
nothing but the bookkeeping runs before the grace ends, a cancel at the last moment ends the
run untouched, and without one the steps run in order once 30 days have passed."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from syston.core import temporal as names
from syston.models import (
    OFFBOARD_STEPS,
    BeginOperationInput,
    BeginOperationResult,
    FinishOperationInput,
    OffboardInput,
    OperationProgressView,
    OperationRef,
    OperationStepInput,
    OperationStepResult,
)
from tests.support.workflow_env import start_time_skipping
from workflows.offboard import OffboardTenant

pytestmark = pytest.mark.fast

GRACE = timedelta(days=30)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def activities(self) -> list[object]:
        @activity.defn(name=names.ACTIVITY_BEGIN_OPERATION)
        async def begin(request: BeginOperationInput) -> BeginOperationResult:
            self.calls.append("begin_operation")
            return BeginOperationResult(found=True)

        @activity.defn(name=names.ACTIVITY_BEGIN_DELETION)
        async def begin_deletion(request: OperationRef) -> BeginOperationResult:
            self.calls.append("begin_deletion")
            return BeginOperationResult(found=True)

        @activity.defn(name=names.ACTIVITY_FINISH_OPERATION)
        async def finish(request: FinishOperationInput) -> None:
            self.calls.append(f"finish:{request.status}")

        def step(name: str) -> object:
            @activity.defn(name=name)
            async def run(request: OperationStepInput) -> OperationStepResult:
                self.calls.append(request.step)
                return OperationStepResult(step=request.step)

            return run

        steps = [
            names.ACTIVITY_OFFBOARD_TRANSFER_SHEET,
            names.ACTIVITY_OFFBOARD_NOTIFY,
            names.ACTIVITY_OFFBOARD_CLEAR_WEBHOOK,
            names.ACTIVITY_OFFBOARD_REVOKE_TOKENS,
            names.ACTIVITY_OFFBOARD_ERASE,
            names.ACTIVITY_OFFBOARD_MARK_DELETED,
        ]
        return [begin, begin_deletion, finish, *(step(n) for n in steps)]


@pytest.fixture(scope="module")
async def time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_time_skipping()
    try:
        yield env
    finally:
        await env.shutdown()


async def start(env: WorkflowEnvironment, client: Client, queue: str) -> object:
    now = await env.get_current_time()
    return await client.start_workflow(
        OffboardTenant.run,
        OffboardInput(tenant_id="tenant_timer", delete_after=now + GRACE),
        id=f"offboard-{uuid.uuid4().hex}",
        task_queue=queue,
    )


async def test_a_cancel_at_the_last_moment_touches_nothing(
    time_skipping: WorkflowEnvironment,
) -> None:
    recorder, queue = Recorder(), f"timer-{uuid.uuid4().hex[:8]}"
    async with Worker(
        time_skipping.client,
        task_queue=queue,
        workflows=[OffboardTenant],
        activities=recorder.activities(),  # type: ignore[arg-type]
    ):
        handle = await start(time_skipping, time_skipping.client, queue)
        await time_skipping.sleep(GRACE - timedelta(minutes=1))
        assert recorder.calls == ["begin_operation"]
        progress = await handle.query(  # type: ignore[attr-defined]
            names.PROGRESS_QUERY, result_type=OperationProgressView
        )
        assert progress.operation == "offboard" and progress.status == "deprovisioning"
        assert not progress.waiting_for_retry and progress.delete_after is not None
        assert [s.status for s in progress.steps] == ["pending"] * len(OFFBOARD_STEPS)
        await handle.signal(names.CANCEL_OFFBOARD_SIGNAL)  # type: ignore[attr-defined]
        result = await handle.result()  # type: ignore[attr-defined]
    assert result.status == "cancelled"
    assert recorder.calls == ["begin_operation"]


async def test_after_thirty_days_the_steps_run_in_order(
    time_skipping: WorkflowEnvironment,
) -> None:
    recorder, queue = Recorder(), f"timer-{uuid.uuid4().hex[:8]}"
    async with Worker(
        time_skipping.client,
        task_queue=queue,
        workflows=[OffboardTenant],
        activities=recorder.activities(),  # type: ignore[arg-type]
    ):
        began = await time_skipping.get_current_time()
        handle = await start(time_skipping, time_skipping.client, queue)
        result = await handle.result()  # type: ignore[attr-defined]
        ended = await time_skipping.get_current_time()
    assert result.status == "completed"
    assert ended - began >= GRACE
    assert recorder.calls == [
        "begin_operation",
        "begin_deletion",
        *OFFBOARD_STEPS,
        "finish:completed",
    ]
