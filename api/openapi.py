"""The OpenAPI document as clients should read it: every error is problem+json.

FastAPI files `responses=` models under the route's own media type (application/json) and adds
its `HTTPValidationError` 422 to every route with parameters, while this service answers every
error as `application/problem+json` with `ProblemDetail`. `install()` rewrites the generated
document to say so, and declares on every route what the layers in front of it can answer:
413/415 where there is a body (BodyGuard), 401/403 where a bearer token is required, 422 where
there is anything to validate, with the `WWW-Authenticate` and `Retry-After` headers.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from api.schemas import ProblemDetail

PROBLEM_JSON = "application/problem+json"
PROBLEM_REF = "#/components/schemas/ProblemDetail"
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")
_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options"})

_DESCRIPTIONS = {
    401: "Missing or invalid token (reason in the body)",
    403: "Token not allowed here (reason in the body)",
    413: "Body over 64 KiB",
    415: "Content-Type is not application/json",
    422: "Validation failed (per-field `errors`)",
}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": "Always `Bearer …`",
            "required": True,
            "schema": {"type": "string"},
        }
    },
    429: {
        "Retry-After": {
            "description": "Seconds until the window resets",
            "required": True,
            "schema": {"type": "string"},
        }
    },
    503: {
        "Retry-After": {
            "description": "Seconds to wait before retrying",
            "required": True,
            "schema": {"type": "string"},
        }
    },
}


def install(app: FastAPI) -> None:
    """Make `app.openapi()` (and /openapi.json, /docs) return the rewritten document."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problem_openapi(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def problem_openapi(schema: dict[str, Any]) -> dict[str, Any]:
    """Rewrite a FastAPI-generated document in place (idempotent) and return it."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    _add_problem_schema(components)
    for operation in _operations(schema):
        responses: dict[str, Any] = operation.setdefault("responses", {})
        implied: set[int] = set()
        if operation.get("security"):
            implied |= {401, 403}
        if "requestBody" in operation:
            implied |= {413, 415, 422}
        if operation.get("parameters"):
            implied.add(422)
        for code in implied:
            responses.setdefault(str(code), {"description": _DESCRIPTIONS[code]})
        for status, response in responses.items():
            if status.isdigit() and int(status) >= 400 and _is_problem(response):
                response["content"] = {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}}
                headers = _HEADERS.get(int(status))
                if headers:
                    response.setdefault("headers", {}).update(headers)
    if not _references(schema, _FASTAPI_VALIDATION[0]):
        for name in _FASTAPI_VALIDATION:
            components.pop(name, None)
    return schema


def _operations(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        operation
        for path in schema.get("paths", {}).values()
        for method, operation in path.items()
        if method in _METHODS
    ]


def _is_problem(response: dict[str, Any]) -> bool:
    """An error response that is (or should be) problem+json, as opposed to e.g. /ready's 503."""
    content: dict[str, Any] = response.get("content") or {}
    if not content or PROBLEM_JSON in content:
        return True
    refs = [str(media.get("schema", {}).get("$ref", "")) for media in content.values()]
    return all(ref.rsplit("/", 1)[-1] in ("ProblemDetail", *_FASTAPI_VALIDATION) for ref in refs)


def _add_problem_schema(components: dict[str, Any]) -> None:
    generated = ProblemDetail.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in generated.pop("$defs", {}).items():
        components.setdefault(name, definition)
    components.setdefault("ProblemDetail", generated)


def _references(node: Any, name: str) -> bool:
    if isinstance(node, dict):
        if node.get("$ref", "").endswith(f"/{name}"):
            return True
        return any(_references(value, name) for value in node.values())
    if isinstance(node, list):
        return any(_references(value, name) for value in node)
    return False
