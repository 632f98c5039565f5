"""Text the databases cannot store (a NUL character, an unpaired UTF-16 surrogate) is a 422
VALIDATION naming the field, on SQLite and PostgreSQL alike, wherever a route takes text: body
fields, path and query parameters, and what an opaque cursor decodes to. PostgreSQL refuses
such text with an error that used to come back as a 503 outage."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest

from api.app import create_app
from syston.core.db import Owner, PromoRedemption, Tenant
from syston.core.settings import Settings
from tests.support.database import count, engine_of
from tests.support.problems import assert_problem
from tests.support.stack import TEST_SECRET

if TYPE_CHECKING:
    from tests.support.stack import Stack as AdminStack
    from tests.support.stack import StartStack

NUL = "\x00"
SURROGATE = "\ud800"  # valid in a JSON string as "\ud800", not encodable as UTF-8


JSON = {"Content-Type": "application/json"}


def as_json(body: Any) -> bytes:
    """A JSON body, escaped: a surrogate cannot be sent raw."""
    return json.dumps(body).encode()


def fields(problem: dict[str, Any]) -> set[str]:
    return {e["field"] for e in problem["errors"]}


def text_inputs() -> list[tuple[str, str, str, str]]:
    """(method, path, where, name) of every string parameter and body field in the API."""
    document = create_app(Settings(jwt_secret=TEST_SECRET, _env_file=None)).openapi()  # type: ignore[call-arg]
    schemas = document["components"]["schemas"]

    def is_text(schema: dict[str, Any]) -> bool:
        options = schema.get("anyOf", [schema])
        return any(o.get("type") == "string" for o in options)

    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] in ("path", "query") and is_text(parameter["schema"]):
                    found.append((method.upper(), path, parameter["in"], parameter["name"]))
            content = operation.get("requestBody", {}).get("content", {})
            ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
            for name, schema in (
                schemas.get(ref.rsplit("/", 1)[-1], {}).get("properties", {}).items()
            ):
                if is_text(schema):
                    found.append((method.upper(), path, "body", name))
    return found


# Routes only a tenant's own token may call: the path's tenant must be the token's, so a value
# the database cannot store is refused by authentication (403 tenant_mismatch, or 401 for a
# token carrying it) before validation; their bodies hold enums only.
TENANT_ONLY = frozenset({"/api/v1/tenants/{tenantId}/plan"})
TEXT_INPUTS = [entry for entry in text_inputs() if entry[1] not in TENANT_ONLY]


def test_the_api_has_text_inputs_of_every_kind() -> None:
    kinds = {(where, name) for _, _, where, name in TEXT_INPUTS}
    assert {("path", "tenantId"), ("path", "jti"), ("query", "cursor")} <= kinds
    assert {("body", "clubName"), ("body", "promoCode"), ("body", "reason")} <= kinds


def headers_for(stack: AdminStack, path: str) -> dict[str, str]:
    if path.startswith("/internal/"):
        return stack.service_headers()
    return stack.admin_headers()


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "surrogate"])
async def test_every_text_input_refuses_what_the_database_cannot_store(
    start_admin_stack: StartStack, database_url: str, bad: str
) -> None:
    async with start_admin_stack(database_url) as stack:
        for method, template, where, name in TEXT_INPUTS:
            # a URL carries UTF-8 only: a surrogate can arrive in a JSON body, not in a URL
            value = f"tenant_{bad if where == 'body' else NUL}x"
            path = template
            for parameter in ("tenantId", "jti"):
                filler = quote(value) if (where, name) == ("path", parameter) else "tenant_x"
                path = path.replace(f"{{{parameter}}}", filler)
            response = await stack.api.request(
                method,
                path,
                params={name: value} if where == "query" else None,
                content=as_json({name: value} if where == "body" else {})
                if method in ("POST", "PUT", "PATCH")
                else None,
                headers={**headers_for(stack, template), **JSON},
            )

            problem = assert_problem(response, 422, "VALIDATION")
            assert name in fields(problem), (method, template, where, name, problem)


@pytest.mark.parametrize("field", ["clubName", "promoCode"])
@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "surrogate"])
async def test_a_signup_with_unstorable_text_is_validation_and_stores_nothing(
    start_admin_stack: StartStack, database_url: str, field: str, bad: str
) -> None:
    async with start_admin_stack(database_url) as stack:
        body = {
            "clubName": "Syston Town FC",
            "clubSlug": "syston-town",
            "email": "owner@example.org",
            "plan": "pro",
            field: f"Syston{bad}Town",
        }

        response = await stack.api.post("/public/signup/start", content=as_json(body), headers=JSON)

        assert fields(assert_problem(response, 422, "VALIDATION")) == {field}
        async with engine_of(stack) as engine:
            for model in (Tenant, Owner, PromoRedemption):
                assert await count(engine, model) == 0


async def test_a_requeue_of_a_tenant_id_with_a_nul_is_validation(
    start_admin_stack: StartStack, database_url: str
) -> None:
    async with start_admin_stack(database_url) as stack:
        response = await stack.api.post(
            "/internal/provision/queue",
            content=as_json({"tenantId": f"tenant_{NUL}"}),
            headers={**stack.service_headers(), **JSON},
        )

        assert fields(assert_problem(response, 422, "VALIDATION")) == {"tenantId"}


async def test_a_provision_status_of_a_tenant_id_with_a_nul_is_validation(
    start_admin_stack: StartStack, database_url: str
) -> None:
    async with start_admin_stack(database_url) as stack:
        response = await stack.api.get(
            "/api/v1/tenants/tenant_%00/provision-status", headers=stack.admin_headers()
        )

        assert fields(assert_problem(response, 422, "VALIDATION")) == {"tenantId"}


async def test_a_cursor_that_decodes_to_unstorable_text_is_validation(
    start_admin_stack: StartStack, database_url: str
) -> None:
    position = json.dumps(["2026-01-01T00:00:00+00:00", f"tenant_{NUL}"])
    cursor = base64.urlsafe_b64encode(position.encode()).decode().rstrip("=")
    async with start_admin_stack(database_url) as stack:
        response = await stack.api.get(
            "/api/v1/admin/tenants", params={"cursor": cursor}, headers=stack.admin_headers()
        )

        assert fields(assert_problem(response, 422, "VALIDATION")) == {"cursor"}


async def test_unauthenticated_requests_are_refused_before_their_text_is_looked_at(
    start_admin_stack: StartStack,
) -> None:
    async with start_admin_stack() as stack:
        response = await stack.api.get("/api/v1/tenants/tenant_%00/provision-status")

        assert assert_problem(response, 401, "UNAUTHORIZED")["reason"] == "missing_token"


@pytest.mark.parametrize("claim", ["jti", "sub", "tenant_id"])
async def test_a_signed_token_with_unstorable_text_in_a_claim_is_malformed(
    start_admin_stack: StartStack, database_url: str, claim: str
) -> None:
    async with start_admin_stack(database_url) as stack:
        claims = {"aud": "syston-mobile", "roles": ["owner"], "tenant_id": "tenant_x"}
        token = stack.token(**{**claims, claim: f"tenant_x{NUL}"})

        response = await stack.api.get(
            "/api/v1/tenants/tenant_x/provision-status",
            headers={"Authorization": f"Bearer {token}"},
        )

        assert assert_problem(response, 401, "UNAUTHORIZED")["reason"] == "malformed_token"
