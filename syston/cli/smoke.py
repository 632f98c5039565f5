"""`syston smoke`: the runbook's smoke test against a running API (dev or production).

    ✓ /health                 the API answers
    ✓ /ready                  database and Temporal reachable from the API
    ✓ signup starter / pro    202 with a tenant token
    ✓ … reaches active        provision-status polled (bounded) until active
    ✓ /whoami                 the signup's token is accepted and names its tenant
    ✓ idempotent re-submit    same Idempotency-Key → same body + Idempotent-Replayed;
                              same payload without a key → 200 replayed

It needs no secret: it signs up two throw-away tenants (slugs `smoke-…`) and uses their own
tokens. Each failed check says what is wrong — the API unreachable, a dependency down per
/ready, a tenant stuck with its step and error, or no worker picking the work up.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Final, TextIO

import httpx

from syston.cli.ops import OpsError, describe_http_error, request

PLANS: Final = ("starter", "pro")
DEFAULT_TIMEOUT_SECONDS: Final = 60.0
POLL_SECONDS: Final = 0.3
PASS: Final = "✓"
FAIL: Final = "✗"


@dataclass
class Signup:
    plan: str
    body: dict[str, Any]
    key: str
    response: httpx.Response

    @property
    def tenant_id(self) -> str:
        return str(self.response.json()["tenantId"])

    @property
    def jwt(self) -> str:
        return str(self.response.json()["jwt"])


@dataclass
class Smoke:
    client: httpx.AsyncClient
    out: TextIO
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    failures: list[str] = field(default_factory=list)

    def check(self, ok: bool, label: str, detail: str = "") -> bool:
        mark = PASS if ok else FAIL
        line = f"{mark} {label}"
        if detail:
            line += f" — {detail}" if ok else f": {detail}"
        print(line, file=self.out, flush=True)
        if not ok:
            self.failures.append(label)
        return ok

    async def run(self) -> int:
        try:
            reachable = await self._meta()
            if reachable:
                await self._signups()
        except OpsError as exc:
            self.check(False, "API reachable", str(exc))
        if self.failures:
            print(
                f"\nsmoke FAILED ({len(self.failures)} check(s)): {'; '.join(self.failures)}",
                file=self.out,
                flush=True,
            )
            return 1
        print("\nsmoke passed", file=self.out, flush=True)
        return 0

    # -- checks ------------------------------------------------------------------------------

    async def _meta(self) -> bool:
        health = await request(self.client, "GET", "/health", "/health")
        healthy = health.status_code == 200
        if not self.check(
            healthy, f"/health at {self.client.base_url}", "" if healthy else _answer(health)
        ):
            return False
        ready = await request(self.client, "GET", "/ready", "/ready")
        checks = _json(ready).get("checks") or {}
        down = [name for name, state in checks.items() if state != "ok"]
        # A replica stays ready while Temporal is down (it still accepts signups), but nothing
        # would reach `active`: the smoke test wants every dependency up.
        if ready.status_code == 200 and not down:
            return self.check(True, "/ready", ", ".join(f"{k} {v}" for k, v in checks.items()))
        if down:
            names = " and ".join(_component(name) for name in down)
            detail = f"{names} not reachable from the API per /ready ({_pairs(checks)})"
        else:
            detail = _answer(ready)
        return self.check(False, "/ready", detail)

    async def _signups(self) -> None:
        signups: list[Signup] = []
        for plan in PLANS:
            signup = await self._signup(plan)
            if signup is not None:
                signups.append(signup)
        await asyncio.gather(*(self._until_active(s) for s in signups))
        if signups:
            await self._whoami(signups[0])
            await self._resubmit(signups[0])

    async def _signup(self, plan: str) -> Signup | None:
        suffix = secrets.token_hex(4)
        body = {
            "clubName": f"Smoke Test {plan} {suffix}",
            "clubSlug": f"smoke-{plan}-{suffix}",
            "email": f"smoke+{plan}-{suffix}@example.com",
            "plan": plan,
        }
        key = f"smoke-{plan}-{suffix}"
        response = await request(
            self.client,
            "POST",
            "/public/signup/start",
            "signup",
            json=body,
            headers={"Idempotency-Key": key},
        )
        ok = response.status_code == 202 and "jwt" in _json(response)
        detail = (
            f"tenant {_json(response).get('tenantId')}"
            if ok
            else describe_http_error(response, "expected 202")
        )
        if not self.check(ok, f"signup {plan}", detail):
            return None
        return Signup(plan, body, key, response)

    async def _until_active(self, signup: Signup) -> None:
        label = f"{signup.plan} tenant reaches active"
        started = time.monotonic()
        path = f"/api/v1/tenants/{signup.tenant_id}/provision-status"
        headers = {"Authorization": f"Bearer {signup.jwt}"}
        body: dict[str, Any] = {}
        while time.monotonic() - started < self.timeout:
            response = await request(self.client, "GET", path, "provision-status", headers=headers)
            if response.status_code != 200:
                self.check(False, label, describe_http_error(response, "provision-status"))
                return
            body = response.json()
            if body["status"] == "active":
                self.check(True, label, f"{signup.tenant_id} in {time.monotonic() - started:.1f} s")
                return
            if body["status"] == "failed":
                error = body.get("error") or {}
                self.check(
                    False,
                    label,
                    f"{signup.tenant_id} failed at step {error.get('step')}: "
                    f"{error.get('code')}: {error.get('message')} "
                    f"(fix the cause, then `syston requeue {signup.tenant_id}`)",
                )
                return
            await asyncio.sleep(POLL_SECONDS)
        self.check(False, label, _stuck(signup.tenant_id, body, self.timeout))

    async def _whoami(self, signup: Signup) -> None:
        response = await request(
            self.client,
            "GET",
            "/whoami",
            "/whoami",
            headers={"Authorization": f"Bearer {signup.jwt}"},
        )
        claims = _json(response)
        ok = response.status_code == 200 and claims.get("tenant_id") == signup.tenant_id
        detail = (
            f"aud {claims.get('aud')}, tenant {claims.get('tenant_id')}"
            if ok
            else describe_http_error(response, "the signup token was not accepted")
        )
        self.check(ok, "/whoami with the signup token", detail)

    async def _resubmit(self, signup: Signup) -> None:
        again = await request(
            self.client,
            "POST",
            "/public/signup/start",
            "signup re-submit",
            json=signup.body,
            headers={"Idempotency-Key": signup.key},
        )
        problems = []
        if again.status_code != signup.response.status_code:
            problems.append(f"status {again.status_code}, first was {signup.response.status_code}")
        if again.content != signup.response.content:
            problems.append("a different body")
        if again.headers.get("Idempotent-Replayed") != "true":
            problems.append("no `Idempotent-Replayed: true` header")
        self.check(
            not problems,
            "re-submit with the same Idempotency-Key replays the first answer",
            "; ".join(problems) or "same status and body",
        )
        keyless = await request(
            self.client, "POST", "/public/signup/start", "signup re-submit", json=signup.body
        )
        body = _json(keyless)
        ok = (
            keyless.status_code == 200
            and body.get("replayed") is True
            and body.get("tenantId") == signup.tenant_id
            and "jwt" not in body
        )
        self.check(
            ok,
            "re-submit without a key answers 200 replayed (same tenant, no token)",
            "" if ok else f"HTTP {keyless.status_code}: {keyless.text[:200]}",
        )


def _stuck(tenant_id: str, body: dict[str, Any], timeout: float) -> str:
    """Why a tenant is still processing, as precisely as provision-status tells."""
    steps = body.get("steps") or []
    head = f"{tenant_id} still {body.get('status', 'processing')} after {timeout:.0f} s"
    if steps and all(s.get("attempts", 0) == 0 for s in steps):
        return (
            f"{head}; no step has started: no worker is picking up the task queue "
            "(is `syston worker` running and connected to the same Temporal?)"
        )
    current = next(
        (s for s in steps if s.get("status") in ("running", "retrying", "failed")),
        next((s for s in steps if s.get("status") == "pending"), None),
    )
    if current is None:
        return head
    error = current.get("error") or {}
    text = f"{head} at step {current['name']} ({current['status']}, attempt {current['attempts']})"
    if error:
        text += f": {error.get('code')}: {error.get('message')}"
    return text


def _component(check: str) -> str:
    return {"temporal": "Temporal", "database": "the database"}.get(check, check)


def _pairs(checks: dict[str, Any]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in checks.items())


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _answer(response: httpx.Response) -> str:
    return f"HTTP {response.status_code} {response.text[:200]}"
