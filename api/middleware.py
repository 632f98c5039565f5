"""Pure ASGI middleware: request ids and access events, the last-resort 500, the 64 KiB body
limit, JSON-only bodies.

Pure ASGI (not BaseHTTPMiddleware) keeps the per-request cost low and streams untouched.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.observability import metrics_of
from api.problems import note_signup_rejection
from syston.core.logs import event_sink_var, log_event, request_id_var

MAX_BODY_BYTES = 64 * 1024
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _problem(
    status: int, code: str, title: str, detail: str
) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    body = json.dumps(
        {"type": "about:blank", "title": title, "status": status, "detail": detail, "code": code}
    ).encode()
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
    ]
    return body, headers


async def _send_problem(
    scope: Scope, send: Send, status: int, code: str, title: str, detail: str
) -> None:
    note_signup_rejection(scope.get("path", ""), code)
    body, headers = _problem(status, code, title, detail)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestContext:
    """Sets a request id (X-Request-ID in and out), logs `http_request` for each request, and
    feeds the app's metrics: every request through `observe`, every event through the sink.

    It is also the last resort for an exception nothing else handled: logged once as
    `unhandled_error` with the request's id, answered as a 500 problem+json. Starlette's own
    last resort (ServerErrorMiddleware) sits outside every middleware an app adds, so it would
    log after this request's id is gone, then re-raise for the server to log once more.
    """

    def __init__(
        self, app: ASGIApp, observe: Callable[[str, str, int, float], None] | None = None
    ) -> None:
        self.app = app
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        token = request_id_var.set(request_id)
        observe = self.observe
        sink_token = None
        if "app" in scope:
            metrics = metrics_of(scope["app"])
            observe = observe or metrics.observe
            sink_token = event_sink_var.set(metrics.on_event)
        started = time.perf_counter()
        status_holder = {"status": 500, "started": False}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = True
                headers = list(message.get("headers") or [])
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            await _last_resort(exc, send_with_id, started=bool(status_holder["started"]))
        finally:
            _record_request(scope, status_holder["status"], time.perf_counter() - started, observe)
            if sink_token is not None:
                event_sink_var.reset(sink_token)
            request_id_var.reset(token)


async def _last_resort(exc: Exception, send: Send, *, started: bool) -> None:
    """An exception nothing else handled: logged (with the request's id, still set), and a 500
    problem+json unless the response has begun."""
    logging.getLogger("syston.api").error(
        "unhandled_error", exc_info=exc, extra={"event": "unhandled_error"}
    )
    if started:
        # Too late to answer: returning without finishing the response makes the server
        # close the connection, which is all a client can be told now.
        return
    body, headers = _problem(
        500, "INTERNAL", "Internal error", "An unexpected error occurred; it has been logged."
    )
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _request_id(scope: Scope) -> str:
    """The caller's X-Request-ID when it is short and printable, else a fresh one."""
    incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
    return incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else secrets.token_hex(8)


def _record_request(
    scope: Scope,
    status: int,
    seconds: float,
    observe: Callable[[str, str, int, float], None] | None,
) -> None:
    """`http_request` log line and request metrics (not for the probes that poll constantly)."""
    route = scope.get("route")
    route_path = getattr(route, "path", None) or "unmatched"
    method = scope.get("method", "")
    if route_path not in ("/health", "/metrics"):
        log_event(
            "http_request",
            logging.INFO,
            method=method,
            route=route_path,
            status=status,
            duration_ms=round(seconds * 1000, 2),
        )
    if observe is not None and route_path != "/metrics":
        observe(method, route_path, status, seconds)


class BodyGuard:
    """413 PAYLOAD_TOO_LARGE over 64 KiB (declared or streamed); 415 for non-JSON bodies."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(dict(scope.get("headers") or []))
        if refusal is not None:
            await _send_problem(scope, send, *refusal)
            return
        received = 0
        started = False
        refused = False

        async def guarded_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes and not refused:
                    # Answer now; the app sees a disconnect and its response is dropped.
                    refused = True
                    if not started:
                        await _send_problem(scope, send, *self._too_large())
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, guarded_receive, tracking_send)

    def _too_large(self) -> tuple[int, str, str, str]:
        return (
            413,
            "PAYLOAD_TOO_LARGE",
            "Payload too large",
            f"The request body is over {self.max_bytes // 1024} KiB.",
        )

    def _refusal(self, headers: dict[bytes, bytes]) -> tuple[int, str, str, str] | None:
        """The problem (status, code, title, detail) the headers alone earn, if any."""
        length = headers.get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                return 400, "BAD_REQUEST", "Bad request", "Invalid Content-Length"
            if declared > self.max_bytes:
                return self._too_large()
        has_body = (length is not None and length != b"0") or b"transfer-encoding" in headers
        if has_body and not _is_json(headers.get(b"content-type", b"")):
            return (
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                "Unsupported media type",
                "Send the body as JSON with `Content-Type: application/json`.",
            )
        return None


def _is_json(content_type: bytes) -> bool:
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (
        media.startswith(b"application/") and media.endswith(b"+json")
    )


__all__: list[Any] = ["BodyGuard", "RequestContext"]
