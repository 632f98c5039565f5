"""Stand-ins for the provisioning activities, for workflow tests on the time-skipping server.

Each double is a plain `@activity.defn` function registered under the name of the activity
reference the workflow calls (workflows/activity_refs.py), so the real `ProvisionTenant` runs
against them unchanged. A `ScriptedActivities` says what `begin` reports and how each step
fails, and records every call in order:

    script = ScriptedActivities(done=["create_sheet"], failures={"configure_webhook": [err]})
    async with script.worker(env.client) as task_queue:
        handle = await start_provisioning(env.client, task_queue, "pro")
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel
from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from syston.core.temporal import provision_workflow_id
from syston.models import (
    RUN_SHAPE_BEGIN_IN_FIRST_STEP,
    BeginInput,
    BeginResult,
    FailureInput,
    Plan,
    ProgressView,
    ProvisionInput,
    ProvisionResult,
    ResumeInput,
    StepInput,
    StepName,
    StepResult,
)
from workflows import activity_refs
from workflows.provision import ProvisionTenant

QUERY_POLL_SECONDS = 0.02
QUERY_TIMEOUT_SECONDS = 20.0


def activity_name(reference: Callable[..., Any]) -> str:
    """The name an activity reference is registered (and called) under."""
    definition = activity._Definition.must_from_callable(reference)
    assert definition.name is not None
    return definition.name


@dataclass
class Call:
    activity: str
    request: BaseModel


@dataclass
class ScriptedActivities:
    """What the ledger and the upstreams do, scripted: `found`/`done` are `begin`'s answer;
    `failures[step]` are raised by that step's next calls, one per call, then it succeeds;
    a step in `held` waits for its event to be set before it does anything. A run's start
    carried by its first step is recorded as a `begin` call before the step's own, unless
    `predates_shape` (the steps act as a worker from before that shape: they ignore it)."""

    found: bool = True
    done: Sequence[StepName] = ()
    failures: dict[StepName, list[BaseException]] = field(default_factory=dict)
    held: dict[StepName, asyncio.Event] = field(default_factory=dict)
    predates_shape: bool = False
    calls: list[Call] = field(default_factory=list)
    completed: list[StepName] = field(default_factory=list)  # steps run to success, in order

    def called(self) -> list[str]:
        """The activities called, in order (steps by their step name)."""
        return [call.activity for call in self.calls]

    def requests(self, name: str) -> list[Any]:
        return [call.request for call in self.calls if call.activity == name]

    def activities(self) -> list[Callable[..., Any]]:
        @activity.defn(name=activity_name(activity_refs.begin))
        async def begin(request: BeginInput) -> BeginResult:
            self.calls.append(Call("begin", request))
            return self._begin_result()

        @activity.defn(name=activity_name(activity_refs.record_failure))
        async def record_failure(request: FailureInput) -> None:
            self.calls.append(Call("record_failure", request))

        @activity.defn(name=activity_name(activity_refs.resume))
        async def resume(request: ResumeInput) -> None:
            self.calls.append(Call("resume", request))

        return [begin, record_failure, resume] + [
            self._step(reference) for reference in activity_refs.STEP_ACTIVITIES.values()
        ]

    def _begin_result(self) -> BeginResult:
        if not self.found:
            return BeginResult(found=False)
        done = [*self.done, *(s for s in self.completed if s not in self.done)]
        return BeginResult(found=True, status="processing", completed_steps=done)

    def _step(self, reference: Callable[..., Any]) -> Callable[..., Any]:
        @activity.defn(name=activity_name(reference))
        async def step(request: StepInput) -> StepResult:
            begun = None
            if request.begin is not None and not self.predates_shape:
                # the run's start recorded by its first step (a worker from before that shape
                # ignores the field: `predates_shape`)
                self.calls.append(Call("begin", request.begin))
                begun = self._begin_result()
                if not begun.found or request.step in begun.completed_steps:
                    return StepResult(step=request.step, reused=begun.found, begun=begun)
            self.calls.append(Call(request.step, request))
            if request.step in self.held:
                await self.held[request.step].wait()
            queued = self.failures.get(request.step)
            if queued:
                raise queued.pop(0)
            self.completed.append(request.step)
            return StepResult(step=request.step, begun=begun)

        return step

    @asynccontextmanager
    async def worker(self, client: Client) -> AsyncIterator[str]:
        """A worker running the real ProvisionTenant on these doubles; its task queue."""
        task_queue = f"fast-{uuid.uuid4().hex[:8]}"
        async with Worker(
            client,
            task_queue=task_queue,
            workflows=[ProvisionTenant],
            activities=self.activities(),
        ):
            yield task_queue


async def start_provisioning(
    client: Client, task_queue: str, plan: Plan, shape: int = RUN_SHAPE_BEGIN_IN_FIRST_STEP
) -> WorkflowHandle[ProvisionTenant, ProvisionResult]:
    """Start ProvisionTenant for a new tenant id, as signup does (`shape` 1: as a run started
    by hand or by an API from before the shape)."""
    tenant_id = f"tenant_{uuid.uuid4().hex[:12]}"
    return await client.start_workflow(
        ProvisionTenant.run,
        ProvisionInput(tenant_id=tenant_id, plan=plan, shape=shape),
        id=provision_workflow_id(tenant_id),
        task_queue=task_queue,
    )


async def progress_until(
    handle: WorkflowHandle[ProvisionTenant, ProvisionResult],
    predicate: Callable[[ProgressView], bool],
    what: str,
) -> ProgressView:
    """Query `progress` until `predicate` holds (fails with the last answer otherwise)."""
    deadline = asyncio.get_running_loop().time() + QUERY_TIMEOUT_SECONDS
    while True:
        view = await handle.query(ProvisionTenant.progress)
        if predicate(view):
            return view
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"the run never showed {what}: {view}")
        await asyncio.sleep(QUERY_POLL_SECONDS)


def is_stopped(view: ProgressView) -> bool:
    """The run stopped on an error: the failure is recorded and it waits for `retry`."""
    return view.waiting_for_retry and view.status == "failed"


async def stopped(handle: WorkflowHandle[ProvisionTenant, ProvisionResult]) -> ProgressView:
    """Wait until the run has stopped on an error (failure recorded, waiting for `retry`)."""
    return await progress_until(handle, is_stopped, "a stop")


async def skip_time_until_stopped(
    env: WorkflowEnvironment,
    handle: WorkflowHandle[ProvisionTenant, ProvisionResult],
    stride: timedelta = timedelta(seconds=30),
    limit: timedelta = timedelta(hours=2),
) -> ProgressView:
    """Move the test server's clock on by `stride` until the run stops (retries' backoff
    passes without waiting). Not by awaiting the result: with nothing left to wait for, the
    server would skip straight to the run's timeout."""
    skipped = timedelta()
    while not is_stopped(view := await handle.query(ProvisionTenant.progress)):
        if skipped > limit:
            pytest.fail(f"the run did not stop within {limit} of workflow time: {view}")
        await env.sleep(stride)
        skipped += stride
    return view
