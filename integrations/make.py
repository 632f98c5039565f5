"""Make.com webhook delivery.

Every event carries an `Idempotency-Key` stable per tenant and event, so a retried delivery
can be recognised downstream. Redirects are never followed: a tenant-owned URL could bounce
the request to an internal address that the URL policy never checked.
"""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from integrations.errors import (
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
    error_for_status,
)

USER_AGENT = "syston-provisioning"


def idempotency_key(tenant_id: str, event: str) -> str:
    """The same key for the same tenant and event, on every attempt and every run."""
    digest = hashlib.sha256(f"{tenant_id}:{event}".encode()).hexdigest()
    return f"syston-{digest}"


class MakeClient:
    """Posts JSON events to Make webhooks."""

    def __init__(self, http: httpx.AsyncClient, timeout: float) -> None:
        self._http = http
        self._timeout = timeout

    async def deliver(
        self,
        url: str,
        event: dict[str, Any],
        idempotency_key: str,
        *,
        client: httpx.AsyncClient | None = None,
    ) -> int:
        """POST `event` to `url`; the 2xx status, or a classified `UpstreamError`.

        `client` replaces the default client (e.g. one that pins tenant URLs to vetted
        addresses).
        """
        http = client if client is not None else self._http
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": idempotency_key,
            "User-Agent": USER_AGENT,
        }
        try:
            response = await http.post(
                url,
                json=event,
                headers=headers,
                timeout=self._timeout,
                follow_redirects=False,
            )
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout("Make webhook timed out") from exc
        except httpx.TransportError as exc:
            raise UpstreamUnavailable(f"Make webhook unreachable: {type(exc).__name__}") from exc
        status = response.status_code
        if response.is_redirect or 300 <= status < 400:
            raise UpstreamRejected(
                f"Make webhook answered a redirect ({status}); not followed", status=status
            )
        if not response.is_success:
            raise error_for_status(
                status, f"Make webhook answered {status}", response.headers.get("retry-after")
            )
        return status
