"""What every emulated request passes first: counted, then perhaps answered by a queued fault.

Also the error bodies each upstream really sends, so clients' error handling meets real shapes.
"""

from __future__ import annotations

import asyncio
import time
from http import HTTPStatus
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from emulators.state import EmulatorState, FaultSpec, FaultTarget

HANG_POLL_SECONDS = 0.05

_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_GOOGLE_REASON = {
    400: "badRequest",
    401: "authError",
    403: "forbidden",
    404: "notFound",
    429: "rateLimitExceeded",
    500: "backendError",
    503: "backendError",
}


def state_of(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


def google_error(
    status: int,
    message: str,
    *,
    reason: str | None = None,
    location: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An error in the shape Google APIs answer (`{"error": {"code", "message", "errors"…}}`)."""
    detail: dict[str, Any] = {
        "message": message,
        "domain": "global",
        "reason": reason or _GOOGLE_REASON.get(status, "backendError"),
    }
    if location is not None:
        detail.update(locationType="parameter", location=location)
    body = {
        "error": {
            "code": status,
            "message": message,
            "errors": [detail],
            "status": _GOOGLE_STATUS.get(status, "UNKNOWN"),
        }
    }
    return JSONResponse(body, status_code=status, headers=headers)


def _reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def fault_response(request: Request, target: FaultTarget, spec: FaultSpec) -> Response:
    headers: dict[str, str] = {}
    if spec.retry_after is not None:
        headers["Retry-After"] = str(spec.retry_after)
    if 300 <= spec.status < 400:
        # Somewhere a client that wrongly follows redirects leaves a visible trace.
        headers["Location"] = str(request.url_for("make_hook", hook_id="redirect-target"))
    message = f"Injected fault: {spec.status} {_reason_phrase(spec.status)}"
    if target in ("sheets", "drive"):
        return google_error(spec.status, message, headers=headers)
    if target == "token":
        error = "internal_failure" if spec.status >= 500 else "invalid_grant"
        return JSONResponse(
            {"error": error, "error_description": message},
            status_code=spec.status,
            headers=headers,
        )
    if target == "gas":
        html = (
            f"<!DOCTYPE html><html><head><title>Error</title></head><body>{message}</body></html>"
        )
        return Response(html, status_code=spec.status, headers=headers, media_type="text/html")
    return PlainTextResponse(message, status_code=spec.status, headers=headers)


async def hang_until_disconnect(request: Request) -> None:
    """Answer nothing until the client gives up (never blocks other requests)."""
    await request.body()  # consume it, so the next receive() can only be the disconnect
    # Polling: Starlette exposes the disconnect only as a non-blocking check.
    while not await request.is_disconnected():  # noqa: ASYNC110
        await asyncio.sleep(HANG_POLL_SECONDS)


async def gate(request: Request, operation: str, target: FaultTarget) -> Response | None:
    """Count the request; answer it with the first queued fault for `target`, if any.

    Returns the response to send instead of the real one, or None to carry on.
    """
    state = state_of(request)
    state.requests[operation] += 1
    spec = state.take_fault(target)
    if spec is None:
        return None
    if spec.mode == "latency":
        await asyncio.sleep(spec.latency_ms / 1000)
        return None
    if spec.mode == "hang":
        await hang_until_disconnect(request)
        return Response(status_code=499)  # nobody is listening any more
    return fault_response(request, target, spec)


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def require_google_auth(request: Request) -> Response | None:
    """401 in Google's shape unless the request carries a token issued by `/token`."""
    token = bearer_token(request)
    issued = state_of(request).tokens.get(token) if token is not None else None
    if issued is None or issued["expiresAt"] < time.time():
        return google_error(
            401,
            "Request had invalid authentication credentials. Expected OAuth 2 access token, "
            "login cookie or other valid authentication credential.",
            reason="authError",
            location="Authorization",
            headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
        )
    return None
