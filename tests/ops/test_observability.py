"""What ops see: JSON log lines (with request ids from the API into the worker, and never a
secret), Prometheus metrics of the API and of the worker."""

from __future__ import annotations

import json
import re
from typing import Any

import jwt
from prometheus_client.parser import text_string_to_metric_families

from syston.core.logs import scrub
from tests.support.stack import TEST_SECRET, Stack

JWT_PATTERN = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")
OWNER_EMAIL = "Jane.Secret-Owner@clubmail.org"
HOOK_URL = "https://hook.eu1.make.com/SECRETHOOKPATH1234567890abcd"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def records(stack: Stack) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stack.log_lines()]


async def test_no_token_secret_email_or_webhook_url_reaches_any_log_line(
    observed: Stack,
) -> None:
    stack = observed
    # A flaky Make first (its error text goes through the logs), then the whole flow.
    stack.emulator.add_fault(target="make", status=503, count=1)
    body = {"clubName": "Secret FC", "clubSlug": "secret-fc", "email": OWNER_EMAIL, "plan": "pro"}
    first = await stack.api.post(
        "/public/signup/start", json=body, headers={"Idempotency-Key": "k-1"}
    )
    assert first.status_code == 202, first.text
    tenant_id = first.json()["tenantId"]
    tenant_jwt = first.json()["jwt"]
    await stack.wait_for(tenant_id, "active")
    replay = await stack.api.post(
        "/public/signup/start", json=body, headers={"Idempotency-Key": "k-1"}
    )
    assert replay.json()["jwt"] == tenant_jwt
    taken = await stack.api.post("/public/signup/start", json=body | {"clubSlug": "other-fc"})
    assert taken.json()["code"] == "EMAIL_EXISTS"
    updated = await stack.api.post(
        "/api/v1/admin/tenant/webhook",
        json={"tenant": tenant_id, "make_webhook_url": HOOK_URL},
        headers=stack.admin_headers(),
    )
    assert updated.status_code == 200, updated.text
    # Denials: a forged token, a tenant token on admin routes, a tenant token on another tenant.
    forged = jwt.encode({"sub": "x", "aud": "syston-admin"}, "f" * 40, algorithm="HS256")
    for headers, path in [
        ({"Authorization": f"Bearer {forged}"}, "/whoami"),
        ({"Authorization": f"Bearer {tenant_jwt}"}, "/api/v1/admin/tenants"),
        (
            {"Authorization": f"Bearer {tenant_jwt}"},
            "/api/v1/tenants/tenant_other/provision-status",
        ),
    ]:
        assert (await stack.api.get(path, headers=headers)).status_code in (401, 403)

    text = stack.log_file.read_text(encoding="utf-8")
    events = {r["event"] for r in records(stack)}
    assert {
        "signup_accepted",
        "signup_replayed",
        "signup_rejected",
        "webhook_updated",
        "authz_deny",
        "tenant_provision_complete",
    } <= events, events
    assert JWT_PATTERN.search(text) is None
    assert TEST_SECRET not in text
    assert stack.admin_headers()["Authorization"][7:30] not in text
    assert "jane.secret-owner" not in text.lower()
    assert "J***@clubmail.org" in text  # masked, still useful
    assert "SECRETHOOKPATH" not in text
    assert "/make/hooks/platform" not in text  # the platform hook is a bearer secret too
    assert "PRIVATE KEY" not in text
    # one JSON object per line, with the documented fields (docs/log-events.md)
    for record in records(stack):
        assert {"ts", "level", "event", "request_id"} <= set(record)
        assert "color_message" not in record


def test_the_formatter_scrubs_what_a_library_might_quote() -> None:
    line = scrub(
        "Server error '503' for url 'https://hook.eu1.make.com/abcdefgh12345678' "
        "Authorization: Bearer abc.def.ghi owner bob.smith@club.org eyJa.eyJb.c"
    )
    assert line == (
        "Server error '503' for url 'https://hook.eu1.make.com/…5678' "
        "Authorization: Bearer [token] owner b***@club.org [jwt]"
    )


async def test_worker_lines_carry_the_request_id_of_the_signup(observed: Stack) -> None:
    stack = observed
    response = await stack.signup("corr-fc", headers={"X-Request-ID": "req-corr-1"})
    tenant_id = response.json()["tenantId"]
    await stack.wait_for(tenant_id, "active")
    await stack.client.get_workflow_handle(f"provision-{tenant_id}").result()  # all lines out
    worker_lines = [
        r
        for r in records(stack)
        if r["event"].startswith("tenant_provision_") and r.get("tenant_id") == tenant_id
    ]
    assert {r["event"] for r in worker_lines} >= {
        "tenant_provision_start",
        "tenant_provision_step",
        "tenant_provision_complete",
    }
    assert {r["request_id"] for r in worker_lines} == {"req-corr-1"}


async def test_api_metrics_count_requests_signups_denials_and_tenants(
    observed: Stack,
) -> None:
    stack = observed
    accepted = await stack.signup("metrics-fc", plan="starter")
    await stack.wait_for(accepted.json()["tenantId"], "active")
    assert (await stack.signup("metrics-fc", plan="starter")).status_code == 200  # replayed
    assert (await stack.signup("metrics-fc", plan="pro")).json()["code"] == "SLUG_TAKEN"
    await stack.api.get("/whoami")  # missing_token
    await stack.api.get("/whoami", headers={"Authorization": "Bearer nope"})  # malformed

    response = await stack.api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    signup_route = {"method": "POST", "route": "/public/signup/start"}
    assert value(found, "syston_http_requests_total", **signup_route, status="202") == 1
    assert value(found, "syston_http_requests_total", **signup_route, status="200") == 1
    assert value(found, "syston_http_requests_total", **signup_route, status="409") == 1
    assert value(found, "syston_http_request_duration_seconds_count", **signup_route) == 3
    assert value(found, "syston_signups_total", outcome="accepted", code="") == 1
    assert value(found, "syston_signups_total", outcome="replayed", code="") == 1
    assert value(found, "syston_signups_total", outcome="rejected", code="SLUG_TAKEN") == 1
    assert value(found, "syston_authz_denials_total", reason="missing_token") == 1
    assert value(found, "syston_authz_denials_total", reason="malformed_token") == 1
    assert value(found, "syston_tenants", status="active") == 1
    assert value(found, "syston_tenants_read_ok") == 1
    # /metrics itself is not counted (scrapes would drown the traffic).
    assert not [k for k in found if ("route", "/metrics") in k[1]]


async def test_worker_metrics_count_steps_outcomes_and_durations(observed: Stack) -> None:
    stack = observed
    stack.emulator.add_fault(target="make", status=503, count=1)  # one retry
    response = await stack.signup("worker-metrics-fc", plan="pro")
    tenant_id = response.json()["tenantId"]
    await stack.wait_for(tenant_id, "active")
    # the last step's metrics are recorded as its activity returns, just after the ledger
    # says active: wait for the run's end
    await stack.client.get_workflow_handle(f"provision-{tenant_id}").result()
    found = samples(stack.worker_metrics.render().decode())
    for step in ("create_sheet", "configure_webhook", "mark_active"):
        assert value(found, "syston_provision_step_total", step=step, outcome="completed") == 1
        assert (
            value(
                found,
                "syston_provision_step_duration_seconds_count",
                step=step,
                outcome="completed",
            )
            == 1
        )
    assert (
        value(found, "syston_provision_step_total", step="configure_webhook", outcome="retrying")
        == 1
    )
    assert value(found, "syston_provision_completed_total", plan="pro") == 1
    assert value(found, "syston_provision_duration_seconds_count", plan="pro") == 1
