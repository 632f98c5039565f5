"""Structured JSON logging (CONTRACT §5): one object per line on stdout and in LOG_FILE.

`log_event("signup_accepted", tenant_id=...)` is the one way to emit an event. Every line has
`ts`, `level`, `event`, `request_id` (from a context variable set per request or per activity).
Secrets never reach a log line: pass emails and webhook URLs through `mask_email`/`mask_url`.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

LOGGER_NAME = "syston"
_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


class JsonFormatter(logging.Formatter):
    """Renders a record as one JSON object: ts, level, event, request_id, then the fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": getattr(record, "event", None) or record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
        }
        if not getattr(record, "event", None) and record.name != LOGGER_NAME:
            payload["logger"] = record.name
        for key, value in record.__dict__.items():
            if key not in _RESERVED and key not in payload and not key.startswith("_"):
                payload[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            payload["error_type"] = record.exc_info[0].__name__
        return json.dumps(payload, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO", log_file: Path | None = None) -> None:
    """Route the root logger to JSON on stdout (and LOG_FILE, its folder created)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_syston", False):
            root.removeHandler(handler)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
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
    logging.getLogger(LOGGER_NAME).log(level, event, extra={"event": event, **fields})


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
