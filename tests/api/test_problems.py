"""problem+json everywhere: the OpenAPI document declares it, and hostile requests get it."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from api.app import create_app
from syston.core.logs import JsonFormatter
from syston.core.settings import Settings
from tests.support.problems import assert_problem
from tests.support.stack import TEST_SECRET, Stack

if TYPE_CHECKING:
    from tests.support.stack import Stack as AdminStack


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    schema: dict[str, Any] = create_app(Settings(jwt_secret=TEST_SECRET)).openapi()
    return schema


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_every_error_response_is_declared_as_problem_json(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            if int(status) < 400 or (path, status) == ("/ready", "503"):
                continue
            assert response["content"] == {
                "application/problem+json": {
                    "schema": {"$ref": "#/components/schemas/ProblemDetail"}
                }
            }, (method, path, status)
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_guarded_routes_declare_what_guards_them(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        declared = set(operation["responses"])
        if operation.get("security"):
            assert {"401", "403"} <= declared, (method, path)
            assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]
        if "requestBody" in operation:
            assert {"413", "415", "422"} <= declared, (method, path)
        if operation.get("parameters"):
            assert "422" in declared, (method, path)
    signup = document["paths"]["/public/signup/start"]["post"]
    assert {"200", "202", "409", "413", "415", "422", "429", "503"} <= set(signup["responses"])
    assert "security" not in signup
    assert "Retry-After" in signup["responses"]["429"]["headers"]


def test_the_bearer_scheme_is_declared(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"]["scheme"] == "bearer"
    whoami = document["paths"]["/whoami"]["get"]
    assert whoami["security"] == [{"bearer": []}]


def secured_requests(document: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (method, path.replace("{tenantId}", "tenant_x").replace("{jti}", "j"))
        for method, path, operation in operations(document)
        if operation.get("security")
    ]


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        (None, "missing_token"),
        ("Basic dXNlcjpwYXNz", "malformed_token"),
        ("Bearer not.a.jwt", "malformed_token"),
    ],
)
async def test_every_secured_route_answers_401_with_www_authenticate(
    stack: Stack, document: dict[str, Any], authorization: str | None, reason: str
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    for method, path in secured_requests(document):
        response = await stack.api.request(method, path, headers=headers, json={})
        assert response.status_code == 401, (method, path, response.text)
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith("Bearer")
        # RFC 6750: an error attribute only when a token was presented
        assert ('error="invalid_token"' in challenge) == (reason != "missing_token")
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["code"] == "UNAUTHORIZED" and body["reason"] == reason


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/no/such/route", {}, 404),
        ("DELETE", "/public/signup/start", {}, 405),
        ("GET", "/public/signup/start", {}, 405),
        ("POST", "/public/signup/start", {"headers": {"Content-Length": "abc"}}, 400),
        (
            "POST",
            "/public/signup/start",
            {"content": b"\x00" * 10, "headers": {"Content-Type": "application/json"}},
            422,
        ),
        ("GET", "/api/v1/tenants/" + "x" * 5000 + "/provision-status", {}, 401),
        ("GET", "/api/v1/tenants/%00%ff/provision-status", {}, 401),
        ("POST", "/internal/provision/queue", {"json": []}, 401),
        ("GET", "/whoami", {"headers": {"Authorization": "Bearer " + "a" * 10000}}, 401),
        (
            "GET",
            "/whoami",
            {"headers": {"Authorization": "Bearer \u00e9\u00e9.\u00e9.\u00e9".encode("latin-1")}},
            401,
        ),
    ],
)
async def test_malformed_requests_get_a_problem_not_a_500(
    stack: Stack, method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    response = await stack.api.request(method, path, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["code"] and "Traceback" not in response.text


class JsonLines(logging.Handler):
    """The log lines as the JSON formatter renders them, rendered when emitted (the request
    id is read from the request's context at that moment)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def log_lines() -> Iterator[list[dict[str, Any]]]:
    handler = JsonLines()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield handler.lines
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


async def test_an_unexpected_error_is_a_500_problem_logged_with_its_request_id(
    admin_stack: AdminStack, log_lines: list[dict[str, Any]]
) -> None:
    async def broken() -> None:
        raise RuntimeError("a bug with a secret in its message")

    assert admin_stack.app is not None
    admin_stack.app.add_api_route("/test-only/broken", broken)

    response = await admin_stack.api.get(
        "/test-only/broken", headers={"X-Request-ID": "req-broken-1"}
    )

    assert_problem(response, 500, "INTERNAL")
    assert "secret" not in response.text and "Traceback" not in response.text
    assert response.headers["x-request-id"] == "req-broken-1"
    errors = [line for line in log_lines if line["event"] == "unhandled_error"]
    assert len(errors) == 1, log_lines
    assert errors[0]["request_id"] == "req-broken-1"
    assert errors[0]["error_type"] == "RuntimeError"
    access = [line for line in log_lines if line["event"] == "http_request"]
    assert [(a["status"], a["request_id"]) for a in access] == [(500, "req-broken-1")]
    # one line per failure: nothing else logs it again without the request id
    assert all(line["request_id"] == "req-broken-1" for line in log_lines), log_lines


async def test_a_405_allows_every_method_of_its_path(
    admin_stack: AdminStack, document: dict[str, Any]
) -> None:
    for path, item in document["paths"].items():
        methods = {method.upper() for method in item}
        concrete = path.replace("{tenantId}", "tenant_x").replace("{jti}", "j")

        response = await admin_stack.api.request("PUT", concrete)

        assert_problem(response, 405, "METHOD_NOT_ALLOWED")
        allowed = {m.strip() for m in response.headers["allow"].split(",")}
        assert allowed == methods, (path, response.headers["allow"])
