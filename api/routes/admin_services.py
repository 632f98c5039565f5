"""What the admin routes run on, built once per process in the app lifespan.

`admin_services()` opens the two outbound HTTP clients (a plain one for the platform's trusted
MAKE_WEBHOOK_URL, and the SSRF-safe one for tenant-owned URLs), starts the denial counter that
`api.problems.auth_problem` feeds through `app.state.denials`, and closes everything at
shutdown. `app.state.webhook_resolver`, when set before start-up, replaces the system DNS
resolver for the webhook URL policy (tests use it to need no DNS).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import Depends, FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.routes.admin_delivery import WebhookTester
from integrations.make import MakeClient
from syston.core.settings import Settings
from syston.promo import PromoCodes
from syston.revocation import Revocations
from syston.stats import DenialCounter, StatsReader
from syston.tenant_admin import TenantAdmin
from syston.webhook_policy import Resolver, build_safe_client


@dataclass(frozen=True, slots=True)
class AdminServices:
    tenants: TenantAdmin
    promos: PromoCodes
    revocations: Revocations
    stats: StatsReader
    webhooks: WebhookTester


@asynccontextmanager
async def admin_services(
    app: FastAPI, settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[AdminServices]:
    """Build the admin services into `app.state.admin` (and `app.state.denials`) until exit."""
    resolver: Resolver | None = getattr(app.state, "webhook_resolver", None)
    timeout = settings.upstream_timeout_seconds
    hosts = settings.webhook_host_patterns
    denials = DenialCounter(sessions)
    async with (
        httpx.AsyncClient(timeout=timeout, follow_redirects=False) as http,
        build_safe_client(hosts, timeout, resolver) as safe,
    ):
        services = AdminServices(
            tenants=TenantAdmin(sessions, hosts, resolver),
            promos=PromoCodes(sessions),
            revocations=Revocations(sessions),
            stats=StatsReader(sessions, denials),
            webhooks=WebhookTester(
                sessions, MakeClient(http, timeout), safe, settings.make_webhook_url
            ),
        )
        app.state.admin = services
        app.state.denials = denials
        denials.start()
        try:
            yield services
        finally:
            app.state.denials = None
            await denials.stop()


def get_admin_services(request: Request) -> AdminServices:
    services: AdminServices = request.app.state.admin
    return services


Admin = Annotated[AdminServices, Depends(get_admin_services)]
