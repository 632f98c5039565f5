"""Sending a test event to a tenant's Make webhook (`POST …/webhook/test`).

The tenant's own URL goes through the SSRF-safe client (address re-checked at connect time,
redirects never followed); a tenant without its own URL is tested against the platform's
MAKE_WEBHOOK_URL, which is trusted operator configuration. Upstream trouble is an answer
(`delivered: false` with a status and an error), never a 5xx; error strings name the host at
most, never the URL (a Make hook URL is a bearer secret).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from integrations.errors import UpstreamError
from integrations.make import MakeClient
from syston.core.db import Tenant, TenantResources, utcnow
from syston.core.errors import TenantNotFoundError
from syston.core.logs import log_event, mask_url
from syston.webhook_policy import WebhookUrlRejected

TEST_EVENT = "tenant.webhook_test"


@dataclass(frozen=True, slots=True)
class TestDelivery:
    delivered: bool
    status: int | None
    error: str | None


class WebhookTester:
    """Delivers `tenant.webhook_test` events."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        make: MakeClient,
        safe_client: httpx.AsyncClient,
        platform_url: str | None,
    ) -> None:
        self._sessions = sessions
        self._make = make
        self._safe = safe_client
        self._platform_url = platform_url

    async def send(self, tenant_id: str, actor: str) -> TestDelivery:
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(Tenant, TenantResources.webhook_url)
                    .outerjoin(TenantResources, TenantResources.tenant_id == Tenant.id)
                    .where(Tenant.id == tenant_id)
                )
            ).one_or_none()
        if row is None:
            raise TenantNotFoundError(tenant_id)
        tenant, own = row  # only an admin-set URL is stored: the tenant's own
        url = own or self._platform_url
        if not url:
            outcome = TestDelivery(
                False,
                None,
                "no_webhook: neither the tenant nor the platform "
                "(MAKE_WEBHOOK_URL) has a webhook URL",
            )
        else:
            outcome = await self._deliver(url, tenant, trusted=own is None)
        log_event(
            "webhook_test",
            logging.INFO if outcome.delivered else logging.WARNING,
            tenant_id=tenant_id,
            url=mask_url(url),
            target="tenant" if own else "platform",
            delivered=outcome.delivered,
            status=outcome.status,
            error=outcome.error,
            sub=actor,
        )
        return outcome

    async def _deliver(self, url: str, tenant: Tenant, *, trusted: bool) -> TestDelivery:
        event = {
            "event": TEST_EVENT,
            "tenantId": tenant.id,
            "slug": tenant.slug,
            "plan": tenant.plan,
            "sentAt": utcnow().isoformat().replace("+00:00", "Z"),
        }
        # Each test is a distinct event: a fresh key, so Make never de-duplicates a re-test.
        key = f"syston-test-{secrets.token_hex(16)}"
        try:
            status = await self._make.deliver(
                url, event, key, client=None if trusted else self._safe
            )
        except WebhookUrlRejected as exc:
            return TestDelivery(False, None, f"{exc.reason}: {exc.message}")
        except UpstreamError as exc:
            return TestDelivery(False, exc.status, f"{exc.code}: {exc.message}")
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return TestDelivery(False, None, f"UPSTREAM_ERROR: {type(exc).__name__}")
        return TestDelivery(True, status, None)
