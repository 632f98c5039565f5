"""What provisioning tests look at: a tenant's sheets and events in the emulators, and the
transitions a step goes through as provision-status shows them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from syston.core.temporal import provision_workflow_id
from tests.support.emulator_server import RunningEmulator
from tests.support.stack import Stack

POLL_SECONDS = 0.05


def sheets_of(emulator: RunningEmulator, tenant_id: str) -> list[dict[str, Any]]:
    """The tenant's spreadsheets: tagged with its id, or named after it (an untagged stray
    left by a crashed attempt counts too)."""
    return [
        s
        for s in emulator.snapshot()["spreadsheets"]
        if s["appProperties"].get("tenantId") == tenant_id or f"({tenant_id})" in s["title"]
    ]


def deliveries_of(emulator: RunningEmulator, tenant_id: str) -> list[dict[str, Any]]:
    """The tenant's registration deliveries (`event` bodies; lifecycle events have `type`)."""
    return [
        d
        for d in emulator.snapshot()["deliveries"]
        if d["body"].get("tenantId") == tenant_id and "event" in d["body"]
    ]


def events_of(emulator: RunningEmulator, tenant_id: str) -> list[dict[str, Any]]:
    """The tenant's signed lifecycle-event deliveries, in arrival order."""
    return [
        d
        for d in emulator.snapshot()["deliveries"]
        if d["body"].get("tenantId") == tenant_id and "type" in d["body"]
    ]


def assert_exactly_once(emulator: RunningEmulator, tenant_id: str, *, sheets: int = 1) -> None:
    """One spreadsheet (for pro) and one logical registration event: every delivery of the
    tenant carries the same Idempotency-Key."""
    assert len(sheets_of(emulator, tenant_id)) == sheets, emulator.snapshot()["spreadsheets"]
    deliveries = deliveries_of(emulator, tenant_id)
    assert deliveries, "no tenant.registered delivery"
    keys = {d["headers"]["idempotency-key"] for d in deliveries}
    assert len(keys) == 1, keys
    assert {d["body"]["event"] for d in deliveries} == {"tenant.registered"}


def step_of(status: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in status["steps"] if s["name"] == name)


async def watch_step(
    stack: Stack, tenant_id: str, step: str, until: str = "active", timeout: float = 60.0
) -> tuple[list[tuple[str, str | None]], dict[str, Any]]:
    """Poll provision-status until the tenant reaches `until`; the distinct (status, error
    code) pairs the step showed, in order, and the last status body."""
    seen: list[tuple[str, str | None]] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        body = await stack.status(tenant_id)
        current = step_of(body, step)
        pair = (current["status"], (current["error"] or {}).get("code"))
        if not seen or seen[-1] != pair:
            seen.append(pair)
        if body["status"] == until:
            return seen, body
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"tenant {tenant_id} did not reach {until!r}; {step} went {seen}")
        await asyncio.sleep(POLL_SECONDS)


async def wait_step(
    stack: Stack, tenant_id: str, step: str, status: str, timeout: float = 30.0
) -> dict[str, Any]:
    """Poll until `step` shows `status`; the whole status body."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        body = await stack.status(tenant_id)
        if step_of(body, step)["status"] == status:
            return body
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"{step} of {tenant_id} never showed {status!r}: {body}")
        await asyncio.sleep(POLL_SECONDS)


async def wait_listed(client: Client, query: str, timeout: float = 20.0) -> list[str]:
    """Poll the visibility store (it lags) until `query` lists something; the workflow ids."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        ids = [wf.id async for wf in client.list_workflows(query)]
        if ids:
            return ids
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"visibility never listed {query!r}")
        await asyncio.sleep(0.2)


async def workflow_status(client: Client, tenant_id: str) -> WorkflowExecutionStatus | None:
    return (await client.get_workflow_handle(provision_workflow_id(tenant_id)).describe()).status
