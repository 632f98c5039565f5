"""Make.com webhook delivery.

Every event carries an `Idempotency-Key` stable per tenant and event, so a retried delivery
can be recognised downstream. Redirects are never followed: a tenant-owned URL could bounce
the request to an internal address that the URL policy never checked.
"""

from __future__ import annotations

import hashlib
import json
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
        headers = {"Idempotency-Key": idempotency_key}
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        body_bytes = body.encode()
        return await self.post(url, body_bytes, headers, client=client)

    async def post(
        self,
        url: str,
        body: bytes,
        headers: dict[str, str],
        *,
        client: httpx.AsyncClient | None = None,
    ) -> int:
        """POST these exact JSON `body` bytes (a signed event must arrive byte for byte as
        signed) with `headers`; the 2xx status, or a classified `UpstreamError`."""
        http = client if client is not None else self._http
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}
        try:
            response = await http.post(
                url, content=body, headers=headers, timeout=self._timeout, follow_redirects=False
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
