"""problem+json (RFC 9457) for every error the API can answer; nothing expected is a 500.

`ServiceError` (syston.core.errors) and `AuthError` (syston.tokens) carry their code; validation
errors become 422 VALIDATION with per-field `errors`; unknown routes and methods keep their
status; database and Temporal outages become 503 UNAVAILABLE with Retry-After. The unexpected
rest is answered (500, logged with its request id) by `api.middleware.RequestContext`.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from temporalio.service import RPCError

from syston.core.errors import ServiceError
from syston.core.logs import log_event
from syston.tokens import AuthError

PROBLEM_JSON = "application/problem+json"

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Request validation failed",
    429: "Too many requests",
    500: "Internal error",
    503: "Service temporarily unavailable",
}
_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION",
    429: "RATE_LIMITED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def problem(
    status: int,
    detail: str,
    *,
    code: str | None = None,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code or _CODES.get(status, "ERROR"),
    }
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


SIGNUP_PATH = "/public/signup/start"


def note_signup_rejection(path: str, code: str) -> None:
    """`signup_rejected` for signups refused before the route runs (schema, size, media type);
    the route logs the ones it refuses itself."""
    if path == SIGNUP_PATH:
        log_event("signup_rejected", code=code)


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def validation_problem(exc: RequestValidationError) -> JSONResponse:
    errors = []
    for err in exc.errors():
        field = _field_name(err.get("loc", ()))
        message = str(err.get("msg", "invalid value"))
        if err.get("type") == "json_invalid":
            # FastAPI puts the decoder's character offset where a field name would be
            field, message = "body", "Request body is not valid JSON"
        errors.append({"field": field, "message": message})
    return problem(422, "The request did not pass validation; see `errors`.", errors=errors)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into problem+json."""

    @app.exception_handler(ServiceError)
    async def _service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        return problem(
            exc.status,
            exc.detail,
            code=exc.code,
            title=exc.title,
            headers=exc.headers or None,
            **exc.extra,
        )

    @app.exception_handler(AuthError)
    async def _auth_error(request: Request, exc: AuthError) -> JSONResponse:
        return auth_problem(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        note_signup_rejection(request.url.path, "VALIDATION")
        return validation_problem(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # FastAPI's only 400: a JSON body it could not even decode (e.g. not UTF-8);
            # BodyGuard answers the other 400 itself. For clients that is a non-JSON body.
            return problem(
                422,
                "The request did not pass validation; see `errors`.",
                errors=[{"field": "body", "message": "Request body is not valid JSON"}],
            )
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
        return problem(exc.status_code, str(exc.detail), headers=headers)

    async def _unavailable(_request: Request, exc: Exception) -> JSONResponse:
        log_event("dependency_unavailable", logging.ERROR, error_type=type(exc).__name__)
        return problem(
            503,
            "A dependency (database or Temporal) is unreachable; retry shortly.",
            headers={"Retry-After": "5"},
        )

    for exc_type in (OperationalError, DBAPIError, PoolTimeout, ConnectionError, OSError, RPCError):
        app.add_exception_handler(exc_type, _unavailable)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this request's path. The router's 405 names only the
    methods of the first route matching the path, while GET and POST of one path are separate
    routes; so each method is asked of the routing table (through the public `matches`, which
    also sees routes of included routers)."""
    allowed = []
    for method in _METHODS:
        scope = {
            "type": "http",
            "path": request.scope["path"],
            "root_path": request.scope.get("root_path", ""),
            "method": method,
            "headers": [],
            "query_string": b"",
        }
        if any(route.matches(dict(scope))[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


def auth_problem(request: Request, exc: AuthError) -> JSONResponse:
    """401/403 with the reason, WWW-Authenticate on 401, and an `authz_deny` event."""
    route = request.scope.get("route")
    sub = getattr(request.state, "token_sub", None)
    log_event(
        "authz_deny",
        logging.WARNING,
        reason=exc.reason,
        route=getattr(route, "path", request.url.path),
        method=request.method,
        sub=sub,
    )
    services = getattr(request.app.state, "services", None)
    recorder = services.denials if services is not None else None
    if recorder is not None:
        recorder(exc.reason)
    # RFC 6750: no error attribute when no token was sent; `reason` is in the body as well.
    challenge = (
        "Bearer"
        if exc.reason == "missing_token"
        else f'Bearer error="invalid_token", error_description="{exc.reason}"'
    )
    headers = {"WWW-Authenticate": challenge}
    if exc.status == 401:
        return problem(
            401,
            exc.detail or "Authentication failed.",
            code="UNAUTHORIZED",
            reason=exc.reason,
            headers=headers,
        )
    return problem(403, exc.detail or "Not allowed.", code="FORBIDDEN", reason=exc.reason)
