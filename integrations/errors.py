"""Errors raised by the upstream clients, classified so callers never parse message text.

UpstreamError                 base: code, retryable, status, retry_after
├── UpstreamUnavailable       5xx, connection errors             (retryable)
├── UpstreamTimeout           read/connect timeout, hang         (retryable)
├── UpstreamRateLimited       429, honours Retry-After           (retryable)
├── UpstreamAuthError         401/403, bad credentials           (permanent)
├── UpstreamNotFound          404, e.g. a missing Drive folder   (permanent)
├── UpstreamRejected          other 4xx                          (permanent)
└── UpstreamConfigError       missing/invalid configuration      (permanent)
"""

from __future__ import annotations


class UpstreamError(Exception):
    """A call to Google, Apps Script or Make failed."""

    code = "UPSTREAM_ERROR"
    retryable = False

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after


class UpstreamUnavailable(UpstreamError):
    code = "UPSTREAM_UNAVAILABLE"
    retryable = True


class UpstreamTimeout(UpstreamError):
    code = "UPSTREAM_TIMEOUT"
    retryable = True


class UpstreamRateLimited(UpstreamError):
    code = "UPSTREAM_RATE_LIMITED"
    retryable = True


class UpstreamAuthError(UpstreamError):
    code = "UPSTREAM_AUTH"


class UpstreamNotFound(UpstreamError):
    code = "UPSTREAM_NOT_FOUND"


class UpstreamRejected(UpstreamError):
    code = "UPSTREAM_REJECTED"


class UpstreamConfigError(UpstreamError):
    code = "CONFIG_INVALID"


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form; HTTP dates are rare upstream)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            from datetime import UTC, datetime

            when = parsedate_to_datetime(value)
            seconds = (when - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    return max(0.0, min(seconds, 3600.0))


def error_for_status(status: int, message: str, retry_after: str | None = None) -> UpstreamError:
    """Map an HTTP status from an upstream to the right error class."""
    if status == 429:
        return UpstreamRateLimited(
            message, status=status, retry_after=parse_retry_after(retry_after)
        )
    if status >= 500 or status == 408:
        return UpstreamUnavailable(
            message, status=status, retry_after=parse_retry_after(retry_after)
        )
    if status in (401, 403):
        return UpstreamAuthError(message, status=status)
    if status == 404:
        return UpstreamNotFound(message, status=status)
    return UpstreamRejected(message, status=status)
