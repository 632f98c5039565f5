"""Determinism guard: recorded histories of ProvisionTenant replay against today's code.

The histories (tests/workflows/histories/*.json) cover both plans on the success path and on
the stop-and-resume path (permanent fault → failed → `retry` signal → active). A change to the
workflow's command sequence makes the replay fail; such a change needs a versioning patch
(`workflow.patched`) or a new run shape in the input (`ProvisionInput.shape`) for runs already
in flight: move the histories into a folder named in LEGACY (they must keep replaying, down the
old branch), then re-record the current ones:

    SYSTON_RECORD_HISTORIES=1 .venv/bin/pytest -q tests/workflows/test_replay.py

The runs of the current shape (`shape` 2: the first step records the run's start, and
`mark_active` is a local activity) are started
by today's API; a run started without a shape (by hand in the Temporal UI, or by an older API)
replays down the `local-begin` branch. In a rolling deploy an older worker may take the first
workflow task of a run the new API started: it ignores the shape and records the `local-begin`
marker, and the replay of that history must follow it. That history is a `local_begin` one whose
input carries the shape (`with_shape`): the older worker's commands do not depend on the field.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from syston.core.temporal import PATCH_LOCAL_BEGIN, provision_workflow_id
from syston.models import (
    RUN_SHAPE_BEGIN_IN_FIRST_STEP,
    ProvisionInput,
    ProvisionResult,
    StepName,
)
from tests.support.stack import Stack
from workflows.provision import ProvisionTenant

HISTORIES = Path(__file__).parent / "histories"
# Runs recorded by earlier versions of the workflow, still in flight somewhere, so they must
# still replay: folder → the versioning patches its histories recorded.
LEGACY: dict[str, set[str]] = {
    "before_local_begin": set(),  # begin_provisioning as an activity task
    "local_begin": {PATCH_LOCAL_BEGIN},  # begin_provisioning as a local activity
}
RECORDING = os.environ.get("SYSTON_RECORD_HISTORIES") == "1"

# name → (plan, the fault that stops it, the step it stops, or None for the success path)
SCENARIOS: dict[str, tuple[str, dict[str, object] | None, str | None]] = {
    "pro_success": ("pro", None, None),
    "starter_success": ("starter", None, None),
    "pro_stop_and_resume": ("pro", {"target": "sheets", "status": 403}, "create_sheet"),
    "starter_stop_and_resume": ("starter", {"target": "make", "status": 400}, "configure_webhook"),
}


def load(name: str, folder: str = "") -> WorkflowHistory:
    text = (HISTORIES / folder / f"{name}.json").read_text(encoding="utf-8")
    return WorkflowHistory.from_json(f"provision-{name}", text)


def markers(history: WorkflowHistory) -> list[str]:
    """The versioning patches a history recorded."""
    found = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            details = event.marker_recorded_event_attributes.details
            if "patch-data" in details:
                found.append(json.loads(details["patch-data"].payloads[0].data)["id"])
    return found


def run_input(history: WorkflowHistory) -> dict[str, object]:
    started = history.events[0].workflow_execution_started_event_attributes
    value: dict[str, object] = json.loads(started.input.payloads[0].data)
    return value


def with_shape(history: WorkflowHistory, shape: int) -> WorkflowHistory:
    """The same history with the run's input saying `shape`: what a run started with that
    input leaves behind when the worker that runs it does not read the field."""
    copy = WorkflowHistory(history.workflow_id, list(history.events))
    first = type(history.events[0])()
    first.CopyFrom(history.events[0])
    payload = first.workflow_execution_started_event_attributes.input.payloads[0]
    payload.data = json.dumps({**run_input(history), "shape": shape}).encode()
    copy.events[0] = first
    return copy


def activity_types(history: WorkflowHistory) -> list[str]:
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]


def replayer(workflows: Sequence[type]) -> Replayer:
    return Replayer(
        workflows=workflows,
        data_converter=pydantic_data_converter,
        # the variants below live in this test module, which the sandbox would re-import
        workflow_runner=UnsandboxedWorkflowRunner(),
    )


async def replays(history: WorkflowHistory) -> None:
    """Replays in the full sandbox (the worker passes our modules through; this catches what
    it would not)."""
    sandboxed = Replayer(workflows=[ProvisionTenant], data_converter=pydantic_data_converter)
    result = await sandboxed.replay_workflow(history)
    assert result.replay_failure is None


@pytest.mark.fast
@pytest.mark.skipif(RECORDING, reason="re-recording")
@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_recorded_history_replays(name: str) -> None:
    history = load(name)
    events = [e.event_type for e in history.events]
    assert events[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    if SCENARIOS[name][1] is not None:
        assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED in events
    # today's API starts the current shape: the first step records the start, no patch marker
    assert run_input(history)["shape"] == RUN_SHAPE_BEGIN_IN_FIRST_STEP
    assert markers(history) == []
    assert "begin_provisioning" not in activity_types(history)
    # mark_active is the one local activity (its marker), not an activity task
    assert "mark_active" not in activity_types(history)
    assert events.count(EventType.EVENT_TYPE_MARKER_RECORDED) == 1
    await replays(history)


@pytest.mark.fast
@pytest.mark.parametrize("folder", list(LEGACY))
@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_a_run_of_an_earlier_version_still_replays(folder: str, name: str) -> None:
    history = load(name, folder)
    assert "shape" not in run_input(history)
    assert set(markers(history)) == LEGACY[folder]
    await replays(history)


@pytest.mark.fast
@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_a_new_run_whose_first_task_an_older_worker_took_still_replays(name: str) -> None:
    """Rolling deploy: the new API started the run, a worker from before the shape ran its
    first workflow task (the local begin, with its marker); a new worker replays it."""
    await replays(with_shape(load(name, "local_begin"), RUN_SHAPE_BEGIN_IN_FIRST_STEP))


@pytest.mark.fast
@pytest.mark.skipif(RECORDING, reason="re-recording")
@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_the_input_decides_the_shape(name: str) -> None:
    """A current history with its input's shape taken away no longer replays: the shape in
    the input, not the code alone, picks the branch."""
    history = with_shape(load(name), 1)
    result = await replayer([ProvisionTenant]).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert result.replay_failure is not None
    assert "nondetermin" in str(result.replay_failure).lower()


# -- the guard guards: variants with another command sequence fail the replay ----------------


@workflow.defn(name="ProvisionTenant", sandboxed=False)
class StepsReordered(ProvisionTenant):
    """Runs mark_active before the other steps."""

    @workflow.run
    async def run(self, request: ProvisionInput) -> ProvisionResult:
        return await super().run(request)

    async def _run_pending_steps(self, request: ProvisionInput) -> tuple[StepName, str, str] | None:
        order = sorted(self._steps, key=lambda s: s != "mark_active")
        self._steps = {s: self._steps[s] for s in order}
        return await super()._run_pending_steps(request)


@workflow.defn(name="ProvisionTenant", sandboxed=False)
class StatusNotPublished(ProvisionTenant):
    """Forgets to keep the ProvisionStatus search attribute current."""

    @workflow.run
    async def run(self, request: ProvisionInput) -> ProvisionResult:
        return await super().run(request)

    def _set_status(self, status: str) -> None:
        self._status = status


@workflow.defn(name="ProvisionTenant", sandboxed=False)
class OlderWorkersIgnored(ProvisionTenant):
    """Takes the input's shape at its word, even where an older worker began the run."""

    @workflow.run
    async def run(self, request: ProvisionInput) -> ProvisionResult:
        return await super().run(request)

    @staticmethod
    def _begun_by_older_worker() -> bool:
        return False


@pytest.mark.fast
@pytest.mark.parametrize("name", ["pro_success", "starter_stop_and_resume"])
async def test_ignoring_the_older_workers_marker_fails_the_replay(name: str) -> None:
    history = with_shape(load(name, "local_begin"), RUN_SHAPE_BEGIN_IN_FIRST_STEP)
    result = await replayer([OlderWorkersIgnored]).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert result.replay_failure is not None
    # …while the real workflow, unsandboxed as in the variants, replays it
    assert (await replayer([ProvisionTenant]).replay_workflow(history)).replay_failure is None


@pytest.mark.fast
@pytest.mark.skipif(RECORDING, reason="re-recording")
@pytest.mark.parametrize("variant", [StepsReordered, StatusNotPublished])
@pytest.mark.parametrize("name", ["pro_success", "starter_stop_and_resume"])
async def test_a_changed_command_sequence_fails_the_replay(variant: type, name: str) -> None:
    result = await replayer([variant]).replay_workflow(load(name), raise_on_replay_failure=False)
    assert result.replay_failure is not None
    assert "nondetermin" in str(result.replay_failure).lower()


# -- re-recording --------------------------------------------------------------------------------


@pytest.mark.skipif(not RECORDING, reason="set SYSTON_RECORD_HISTORIES=1 to re-record")
@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_record_history(stack: Stack, name: str) -> None:
    plan, fault, step = SCENARIOS[name]
    if fault is not None:
        stack.emulator.add_fault(**fault)
    response = await stack.signup(f"replay-{name.replace('_', '-')}", plan)
    tenant_id = response.json()["tenantId"]
    handle = stack.client.get_workflow_handle(provision_workflow_id(tenant_id))
    if step is not None:
        status = await stack.wait_for(tenant_id, "failed")
        assert status["error"]["step"] == step
        httpx.delete(f"{stack.emulator.url}/_emulator/faults", timeout=10).raise_for_status()
        await handle.signal("retry")
    await asyncio.wait_for(handle.result(), 60)
    history = await handle.fetch_history()
    HISTORIES.mkdir(exist_ok=True)
    text = json.dumps(json.loads(history.to_json()), indent=1, sort_keys=True)
    (HISTORIES / f"{name}.json").write_text(text + "\n", encoding="utf-8")
