"""Structured JSON logging (docs/log-events.md): one object per line on stdout and in LOG_FILE.

`log_event("signup_accepted", tenant_id=...)` is the one way to emit an event. Every line has
`ts`, `level`, `event`, `request_id` (from a context variable set per request by the API and per
activity by the worker, which receives the API's id through a Temporal header) and `component`
(the `syston` command that runs: api, worker, migrate, …; `set_component`).

Secrets never reach a log line: callers pass emails and webhook URLs through
`mask_email`/`mask_url`, and the formatter scrubs every rendered line once more (JWTs, bearer
tokens, e-mail addresses and URLs with a path), so a library message quoting a URL or a
token (an httpx error, a Temporal activity failure) is masked too.

Events also reach an *event sink* (a context variable): the API's and the worker's metrics
count signups, denials and provisioning outcomes from the same events the logs show.
"""

from __future__ import annotations

import contextlib
import json
import logging
import logging.handlers
import re
import sys
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

EventSink = Callable[[str, Mapping[str, Any]], None]

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
event_sink_var: ContextVar[EventSink | None] = ContextVar("event_sink", default=None)

LOGGER_NAME = "syston"
DEFAULT_COMPONENT = "syston"
_component = DEFAULT_COMPONENT
# Set by syston.core.tracing while tracing is on: the current span's trace id, or None.
_trace_id_source: Callable[[], str | None] | None = None
_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}
# Extras some libraries attach that only duplicate the message (uvicorn's ANSI-coloured copy).
_DROPPED_EXTRAS = frozenset({"color_message"})

_JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',]+")
_EMAIL = re.compile(r"(?<![\w.+*-])([\w.+-])[\w.+-]*@((?:[\w-]+\.)+[\w-]+)")
_URL = re.compile(r"\b(https?)://([^\s/\"'<>?#]+)(/[^\s\"'<>]*)")


def scrub(text: str) -> str:
    """Mask what must never be logged, wherever it appears in an already-rendered line."""
    text = _JWT.sub("[jwt]", text)
    text = _BEARER.sub(r"\1[token]", text)
    text = _EMAIL.sub(r"\1***@\2", text)
    return _URL.sub(_mask_url_match, text)


def _mask_url_match(match: re.Match[str]) -> str:
    scheme, host, path = match.group(1), match.group(2), match.group(3)
    host = host.rsplit("@", 1)[-1]  # user:password@host
    if path in ("", "/") or path.startswith("/…"):
        return f"{scheme}://{host}{path}"
    tail = path[-4:] if len(path) > 8 else ""
    return f"{scheme}://{host}/…{tail}"


class JsonFormatter(logging.Formatter):
    """Renders a record as one JSON object: ts, level, event, request_id, then the fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": getattr(record, "event", None) or record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
            "component": _component,
        }
        if _trace_id_source is not None and (trace_id := _trace_id_source()):
            payload["trace_id"] = trace_id
        if not getattr(record, "event", None) and record.name != LOGGER_NAME:
            payload["logger"] = record.name
        for key, value in record.__dict__.items():
            if (
                key not in _RESERVED
                and key not in payload
                and key not in _DROPPED_EXTRAS
                and not key.startswith("_")
            ):
                payload[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            payload["error_type"] = record.exc_info[0].__name__
        return scrub(json.dumps(payload, default=str, ensure_ascii=False))


def set_component(name: str) -> None:
    """Name the process on every line from now on (the command sets it once at start)."""
    global _component  # one value per process, like the logging configuration itself
    _component = name


def set_trace_id_source(source: Callable[[], str | None] | None) -> None:
    """Put `trace_id` on the lines written inside a span (None: tracing is off)."""
    global _trace_id_source  # per process, like set_component
    _trace_id_source = source


def configure_logging(level: str = "INFO", log_file: Path | None = None) -> None:
    """Route the root logger to JSON on stdout (and LOG_FILE, its folder created)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_syston", False):
            root.removeHandler(handler)
            handler.close()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        # WatchedFileHandler reopens the file when logrotate moves it away.
        handlers.append(logging.handlers.WatchedFileHandler(log_file, encoding="utf-8"))
    formatter = JsonFormatter()
    for handler in handlers:
        handler.setFormatter(formatter)
        handler._syston = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level.upper())
    # Libraries' own chatter stays out unless it is a warning.
    for noisy in ("uvicorn.access", "httpx", "httpcore", "googleapiclient", "temporalio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def log_event(event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Emit one event: a JSON log line, and a call of the current event sink (metrics)."""
    logging.getLogger(LOGGER_NAME).log(level, event, extra={"event": event, **fields})
    sink = event_sink_var.get()
    if sink is not None:
        with contextlib.suppress(Exception):  # metrics must never break the request
            sink(event, fields)


def mask_email(email: str | None) -> str | None:
    """`jane.doe@club.org` → `j***@club.org`."""
    if not email:
        return email
    local, at, domain = email.partition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


def mask_url(url: str | None) -> str | None:
    """Webhook URLs are bearer secrets: keep scheme, host and the last 4 characters."""
    if not url:
        return url
    parts = urlsplit(url)
    tail = url[-4:] if len(url) > 12 else ""
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}/…{tail}"
