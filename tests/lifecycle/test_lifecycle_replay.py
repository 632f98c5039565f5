"""Determinism guard for ChangePlan and OffboardTenant: recorded histories (success, a stop on
a permanent error resumed by `retry`, and a cancelled offboarding) replay against today's code.
Re-record after an intended change (with a `workflow.patched` for runs in flight):

    SYSTON_RECORD_HISTORIES=1 .venv/bin/pytest -q tests/lifecycle/test_lifecycle_replay.py
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from syston.core.temporal import offboard_workflow_id, plan_change_workflow_id
from tests.lifecycle.helpers import active_tenant, admin_post, offboard, wait_operation
from tests.support.stack import Stack
from workflows.change_plan import ChangePlan
from workflows.offboard import OffboardTenant

HISTORIES = Path(__file__).resolve().parents[1] / "workflows" / "histories"
RECORDING = os.environ.get("SYSTON_RECORD_HISTORIES") == "1"

# name → (the fault that stops it or None, whether it is an offboarding, cancelled)
SCENARIOS: dict[str, tuple[dict[str, Any] | None, str]] = {
    "change_plan_success": (None, "plan"),
    "change_plan_stop_and_resume": ({"target": "sheets", "status": 403}, "plan"),
    "offboard_success": (None, "offboard"),
    "offboard_stop_and_resume": ({"target": "drive", "status": 403}, "offboard"),
    "offboard_cancelled": (None, "cancel"),
}


def load(name: str) -> WorkflowHistory:
    text = (HISTORIES / f"{name}.json").read_text(encoding="utf-8")
    return WorkflowHistory.from_json(name, text)


@pytest.mark.skipif(RECORDING, reason="re-recording")
@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_recorded_history_replays(name: str) -> None:
    history = load(name)
    events = [e.event_type for e in history.events]
    assert events[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    if SCENARIOS[name][0] is not None or name.endswith("cancelled"):
        assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED in events
    replayer = Replayer(
        workflows=[ChangePlan, OffboardTenant], data_converter=pydantic_data_converter
    )
    result = await replayer.replay_workflow(history)
    assert result.replay_failure is None


# -- re-recording --------------------------------------------------------------------------


async def _stop_and_retry(stack: Stack, tenant_id: str, workflow_id: str) -> None:
    await wait_operation(stack, tenant_id, "failed")
    httpx.delete(f"{stack.emulator.url}/_emulator/faults", timeout=10).raise_for_status()
    await stack.client.get_workflow_handle(workflow_id).signal("retry")


@pytest.mark.skipif(not RECORDING, reason="set SYSTON_RECORD_HISTORIES=1 to re-record")
@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_record_history(stack: Stack, name: str) -> None:
    fault, kind = SCENARIOS[name]
    slug = f"replay-{name.replace('_', '-')}"
    tenant_id, _ = await active_tenant(stack, slug, "starter" if kind == "plan" else "pro")
    if fault is not None:
        stack.emulator.add_fault(**fault)
    if kind == "plan":
        workflow_id = plan_change_workflow_id(tenant_id)
        assert (await admin_post(stack, f"{tenant_id}/plan", {"plan": "pro"})).status_code == 202
    else:
        workflow_id = offboard_workflow_id(tenant_id)
        grace = 600 if kind == "cancel" else 1
        assert (await offboard(stack, tenant_id, graceSeconds=grace)).status_code == 202
        if kind == "cancel":
            await asyncio.sleep(1)
            cancelled = await admin_post(stack, f"{tenant_id}/offboard/cancel")
            assert cancelled.status_code == 200
    if fault is not None:
        await _stop_and_retry(stack, tenant_id, workflow_id)
    handle = stack.client.get_workflow_handle(workflow_id)
    await asyncio.wait_for(handle.result(), 60)
    history = await handle.fetch_history()
    text = json.dumps(json.loads(history.to_json()), indent=1, sort_keys=True)
    (HISTORIES / f"{name}.json").write_text(text + "\n", encoding="utf-8")
