"""Ops helpers over the HTTP API: `syston status [--watch]`, `syston requeue` and the lifecycle
commands (`syston plan|suspend|reactivate|offboard`).

They talk to the API as any client would (`--url`, default `$SYSTON_API_URL` or
http://127.0.0.1:8000) with a short-lived service token minted from the configured JWT secret,
so they work the same against `syston dev` and a production deployment. Every function takes
an `httpx.AsyncClient`, so tests drive them against the in-process app.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final, TextIO

import httpx

DEFAULT_API_URL: Final = "http://127.0.0.1:8000"
WATCH_INTERVAL_SECONDS: Final = 0.5
TERMINAL: Final = frozenset({"active", "failed"})

TokenSource = Callable[[], str]


class OpsError(Exception):
    """A failure explained in one line for the operator (exit status 1)."""


def api_url(given: str | None) -> str:
    return (given or os.environ.get("SYSTON_API_URL") or DEFAULT_API_URL).rstrip("/")


def describe_http_error(response: httpx.Response, what: str) -> str:
    """One line from a problem+json answer: status, code, reason and detail."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = body.get("code") or ""
    reason = f" ({body['reason']})" if body.get("reason") else ""
    detail = body.get("detail") or response.text[:200]
    hint = ""
    if response.status_code in (401, 403):
        hint = " — is JWT_SECRET (or the dev data dir) the one the API uses?"
    return f"{what}: HTTP {response.status_code} {code}{reason}: {detail}{hint}".rstrip()


async def request(
    client: httpx.AsyncClient, method: str, path: str, what: str, **kwargs: Any
) -> httpx.Response:
    """One API call; connection problems become an OpsError naming the URL."""
    try:
        return await client.request(method, path, **kwargs)
    except httpx.TransportError as exc:
        raise OpsError(
            f"{what}: the API at {client.base_url} is unreachable "
            f"({type(exc).__name__}: {exc or 'no answer'}); is `syston api` (or `syston dev`) "
            "running, and is --url / SYSTON_API_URL right?"
        ) from exc


async def tenant_call(
    client: httpx.AsyncClient,
    tenant_id: str,
    token: TokenSource,
    method: str,
    path: str,
    what: str,
    **kwargs: Any,
) -> dict[str, Any]:
    """An authenticated call about one tenant: its JSON body, or an OpsError saying why not."""
    response = await request(
        client, method, path, what, headers={"Authorization": f"Bearer {token()}"}, **kwargs
    )
    if response.status_code == 404:
        raise OpsError(f"tenant {tenant_id} not found")
    if response.status_code not in (200, 202):
        raise OpsError(describe_http_error(response, what))
    body: dict[str, Any] = response.json()
    return body


async def fetch_status(
    client: httpx.AsyncClient, tenant_id: str, token: TokenSource
) -> dict[str, Any]:
    path = f"/api/v1/tenants/{tenant_id}/provision-status"
    return await tenant_call(client, tenant_id, token, "GET", path, "provision-status")


async def requeue(
    client: httpx.AsyncClient, tenant_id: str, token: TokenSource, *, force: bool
) -> dict[str, Any]:
    body = {"tenantId": tenant_id, "force": force}
    path = "/internal/provision/queue"
    return await tenant_call(client, tenant_id, token, "POST", path, "re-queue", json=body)


# -- rendering ---------------------------------------------------------------------------------


def _error_text(error: dict[str, Any] | None) -> str:
    if not error:
        return ""
    return f"{error.get('code')}: {error.get('message')}"


def step_line(step: dict[str, Any]) -> str:
    attempts = step.get("attempts", 0)
    text = f"{step['name']:<18} {step['status']:<9} attempts {attempts}"
    error = _error_text(step.get("error"))
    return f"{text}  {error}" if error else text


def tenant_line(body: dict[str, Any]) -> str:
    line = f"{body['tenantId']}  {body.get('slug', '')}  {body.get('plan', '')}  {body['status']}"
    error = body.get("error")
    if body["status"] == "failed" and error:
        line += f"  (stopped at {error.get('step')}: {error.get('code')}: {error.get('message')})"
    return line


def render_status(body: dict[str, Any]) -> list[str]:
    """`syston status ID`: the tenant, its workflow, its steps, its resources."""
    lines = [tenant_line(body)]
    workflow = body.get("workflow") or {}
    if workflow:
        lines.append(f"  workflow {workflow.get('id')} (run {workflow.get('runId') or '-'})")
    lines += [f"  {step_line(step)}" for step in body.get("steps", [])]
    resources = {k: v for k, v in (body.get("resources") or {}).items() if v}
    if resources:
        lines.append("  " + "  ".join(f"{k}={v}" for k, v in resources.items()))
    if body["status"] == "failed":
        lines.append(f"  re-queue with: syston requeue {body['tenantId']}")
    return lines


def _stamp() -> str:
    return datetime.now().strftime("%H:%M:%S")


def _step_key(step: dict[str, Any]) -> tuple[Any, ...]:
    return (step.get("status"), step.get("attempts"), _error_text(step.get("error")))


async def watch_status(
    client: httpx.AsyncClient,
    tenant_id: str,
    token: TokenSource,
    out: TextIO,
    *,
    interval: float = WATCH_INTERVAL_SECONDS,
    give_up_after: float | None = None,
) -> int:
    """Print each step's change until the tenant is active (0) or failed (1).

    `give_up_after` (seconds) ends the watch with status 1 while still processing.
    """
    started = time.monotonic()
    seen: dict[str, tuple[Any, ...]] = {}
    status: str | None = None
    while True:
        body = await fetch_status(client, tenant_id, token)
        if status is None:
            print(f"{_stamp()} {tenant_line(body)}", file=out, flush=True)
        for step in body.get("steps", []):
            key = _step_key(step)
            if seen.get(step["name"]) != key:
                seen[step["name"]] = key
                print(f"{_stamp()}   {step_line(step)}", file=out, flush=True)
        if body["status"] != status and status is not None:
            print(f"{_stamp()} {tenant_line(body)}", file=out, flush=True)
        status = body["status"]
        if status == "active":
            print(f"{_stamp()} {tenant_id} is active", file=out, flush=True)
            return 0
        if status == "failed":
            print(f"{_stamp()} re-queue with: syston requeue {tenant_id}", file=out, flush=True)
            return 1
        if status not in ("processing",):
            print(f"{_stamp()} {tenant_id} is {status}", file=out, flush=True)
            return 1
        if give_up_after is not None and time.monotonic() - started > give_up_after:
            print(f"{_stamp()} still {status} after {give_up_after:.0f} s", file=out, flush=True)
            return 1
        await asyncio.sleep(interval)
