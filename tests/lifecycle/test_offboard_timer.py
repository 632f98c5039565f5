"""OffboardTenant's 30-day grace on the time-skipping test server, with stand-in activities
(the test server has no custom search attributes, so the variant below does not publish them):
nothing but the bookkeeping runs before the grace ends, a cancel at the last moment ends the
run untouched, and without one the steps run in order once 30 days have passed."""

from __future__ import annotations

import sysconfig
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from syston.core import temporal as names
from syston.models import (
    OFFBOARD_STEPS,
    BeginOperationInput,
    BeginOperationResult,
    FinishOperationInput,
    OffboardInput,
    OperationRef,
    OperationResult,
    OperationStepInput,
    OperationStepResult,
)
from workflows.offboard import OffboardTenant

GRACE = timedelta(days=30)


@workflow.defn(name=names.OFFBOARD_WORKFLOW, sandboxed=False)
class OffboardWithoutSearchAttributes(OffboardTenant):
    @workflow.run
    async def run(self, request: OffboardInput) -> OperationResult:
        return await super().run(request)

    def _publish(self, status: str) -> None:
        self._status = status


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
    scripts = Path(sysconfig.get_path("scripts"))
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(scripts / "temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    try:
        yield env
    finally:
        await env.shutdown()


async def start(env: WorkflowEnvironment, client: Client, queue: str) -> object:
    now = await env.get_current_time()
    return await client.start_workflow(
        OffboardWithoutSearchAttributes.run,
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
        workflows=[OffboardWithoutSearchAttributes],
        activities=recorder.activities(),  # type: ignore[arg-type]
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await start(time_skipping, time_skipping.client, queue)
        await time_skipping.sleep(GRACE - timedelta(minutes=1))
        assert recorder.calls == ["begin_operation"]
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
        workflows=[OffboardWithoutSearchAttributes],
        activities=recorder.activities(),  # type: ignore[arg-type]
        workflow_runner=UnsandboxedWorkflowRunner(),
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
