"""`syston status --watch` and `syston requeue` (syston.cli.ops) against the in-process service."""

from __future__ import annotations

import io
import re

import httpx

from syston.cli.ops import OpsError, fetch_status, render_status, requeue, watch_status
from tests.support.stack import Stack


def clear_faults(stack: Stack) -> None:
    httpx.delete(f"{stack.emulator.url}/_emulator/faults", timeout=10).raise_for_status()


async def signup(stack: Stack, slug: str, plan: str = "pro") -> str:
    response = await stack.signup(slug, plan)
    assert response.status_code == 202, response.text
    tenant_id: str = response.json()["tenantId"]
    return tenant_id


def lines_about(output: str, step: str) -> list[str]:
    return [re.sub(r"^\d\d:\d\d:\d\d\s+", "", line) for line in output.splitlines() if step in line]


async def test_watch_shows_each_step_progressing_to_active(stack: Stack) -> None:
    # A slow Make makes `configure_webhook` visibly running for a while.
    stack.emulator.add_fault(target="make", mode="latency", latencyMs=1500, count=1)
    tenant_id = await signup(stack, "watch-town")
    out = io.StringIO()
    code = await watch_status(stack.api, tenant_id, stack.tokens.issue_service, out, interval=0.05)
    output = out.getvalue()
    assert code == 0, output
    webhook = lines_about(output, "configure_webhook")
    assert webhook[-2].split() == ["configure_webhook", "running", "attempts", "1"], output
    assert webhook[-1].split() == ["configure_webhook", "completed", "attempts", "1"], output
    for step in ("create_sheet", "mark_active"):
        assert lines_about(output, step)[-1].split()[:2] == [step, "completed"], output
    assert output.splitlines()[-1].endswith(f"{tenant_id} is active")
    # Each change is printed once: no repeated identical lines while polling.
    assert len(webhook) == len(set(webhook))


async def test_watch_ends_1_on_failure_and_requeue_resumes(stack: Stack) -> None:
    stack.emulator.add_fault(target="make", status=410)  # permanent, until cleared
    tenant_id = await signup(stack, "watch-gone-hook", plan="starter")
    out = io.StringIO()
    code = await watch_status(stack.api, tenant_id, stack.tokens.issue_service, out, interval=0.05)
    output = out.getvalue()
    assert code == 1, output
    assert "UPSTREAM_REJECTED" in output
    assert f"re-queue with: syston requeue {tenant_id}" in output
    body = await fetch_status(stack.api, tenant_id, stack.tokens.issue_service)
    assert any("failed" in line for line in render_status(body))

    clear_faults(stack)
    queued = await requeue(stack.api, tenant_id, stack.tokens.issue_service, force=False)
    assert queued["action"] == "resumed"
    # The resumed run marks the tenant processing itself, a moment after the signal.
    await stack.wait_for(tenant_id, "active")
    out = io.StringIO()
    assert await watch_status(stack.api, tenant_id, stack.tokens.issue_service, out) == 0
    again = await requeue(stack.api, tenant_id, stack.tokens.issue_service, force=False)
    assert again["action"] == "already_active"


async def test_ops_errors_name_the_problem(stack: Stack) -> None:
    try:
        await fetch_status(stack.api, "tenant_doesnotexist0000", stack.tokens.issue_service)
    except OpsError as exc:
        assert "tenant_doesnotexist0000 not found" in str(exc)
    else:
        raise AssertionError("no error for an unknown tenant")
    try:
        await fetch_status(stack.api, "tenant_x", lambda: "not-a-jwt")
    except OpsError as exc:
        assert "HTTP 401 UNAUTHORIZED (malformed_token)" in str(exc)
        assert "JWT_SECRET" in str(exc)
    else:
        raise AssertionError("no error for a bad token")
    async with httpx.AsyncClient(base_url="http://127.0.0.1:9") as nowhere:
        try:
            await requeue(nowhere, "tenant_x", stack.tokens.issue_service, force=False)
        except OpsError as exc:
            assert "the API at http://127.0.0.1:9 is unreachable" in str(exc)
        else:
            raise AssertionError("no error for an unreachable API")
