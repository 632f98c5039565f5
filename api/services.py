"""Everything the routes run on, built once per process in the app lifespan.

`open_services()` opens the database engine, the (lazily connected) Temporal gateway, the two
outbound HTTP clients (a plain one for the platform's trusted MAKE_WEBHOOK_URL and the
SSRF-safe one for tenant-owned URLs) and the denial counter, builds the domain services on
them, starts the intake relay (every API replica runs one: syston.intake_relay), and closes
everything at shutdown. Routes reach them only through the `Annotated` dependencies of
`api.deps`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.client import Client, Interceptor

from api.webhook_tester import WebhookTester
from integrations.make import MakeClient
from syston.core.engine import create_engine, sessionmaker
from syston.core.metrics import ApiMetrics
from syston.core.settings import Settings
from syston.intake import ProvisionIntake
from syston.intake_relay import IntakeRelay
from syston.offboarding import Offboarding
from syston.plan_change import PlanChanges
from syston.promo import PromoCodes
from syston.provisioning_client import TemporalGateway
from syston.rate_limit import SignupRateLimiter
from syston.requeue import RequeueService
from syston.revocation import Revocations
from syston.signup import SignupService
from syston.stats import DenialCounter, StatsReader
from syston.suspension import Suspensions
from syston.tenant_admin import TenantAdmin
from syston.tokens import TokenService
from syston.webhook_policy import Resolver, build_safe_client


@dataclass(frozen=True, slots=True)
class Services:
    """The process's connections and the domain services built on them."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    temporal: TemporalGateway
    relay: IntakeRelay
    tokens: TokenService
    signup: SignupService
    requeue: RequeueService
    tenants: TenantAdmin
    promos: PromoCodes
    revocations: Revocations
    stats: StatsReader
    webhooks: WebhookTester
    denials: DenialCounter
    suspensions: Suspensions
    offboarding: Offboarding
    plan_changes: PlanChanges


@asynccontextmanager
async def open_services(
    settings: Settings,
    *,
    temporal_client: Client | None = None,
    webhook_resolver: Resolver | None = None,
    metrics: ApiMetrics | None = None,
    temporal_interceptors: Sequence[Interceptor] = (),
) -> AsyncIterator[Services]:
    """Open the connections, build the services, and close everything on exit.

    `webhook_resolver` replaces the system DNS resolver for the webhook URL policy (tests use
    it to need no DNS); `temporal_client` shares an existing client; `metrics` receives the
    intake relay's events and backlog.
    """
    engine = create_engine(settings.effective_database_url)
    sessions = sessionmaker(engine)
    gateway = TemporalGateway(settings, temporal_client, temporal_interceptors)
    intake = ProvisionIntake(sessions, gateway)
    relay = IntakeRelay(intake, metrics)
    tokens = TokenService(settings.jwt_secrets, settings.jwt_issuer)
    limit, period = settings.rate_limit
    limiter = SignupRateLimiter(sessions, limit, period) if limit else None
    timeout = settings.upstream_timeout_seconds
    hosts = settings.webhook_host_patterns
    denials = DenialCounter(sessions)
    try:
        async with (
            httpx.AsyncClient(timeout=timeout, follow_redirects=False) as http,
            build_safe_client(hosts, timeout, webhook_resolver) as safe,
        ):
            services = Services(
                settings=settings,
                engine=engine,
                sessions=sessions,
                temporal=gateway,
                relay=relay,
                tokens=tokens,
                signup=SignupService(sessions, intake, tokens, limiter),
                requeue=RequeueService(sessions, gateway),
                tenants=TenantAdmin(sessions, hosts, webhook_resolver, gateway),
                promos=PromoCodes(sessions),
                revocations=Revocations(sessions),
                stats=StatsReader(sessions, denials),
                webhooks=WebhookTester(
                    sessions, MakeClient(http, timeout), safe, settings.make_webhook_url
                ),
                denials=denials,
                suspensions=Suspensions(sessions),
                offboarding=Offboarding(sessions, gateway, settings.offboard_grace_seconds),
                plan_changes=PlanChanges(sessions, gateway),
            )
            denials.start()
            relay.start()
            try:
                yield services
            finally:
                await relay.stop()
                await denials.stop()
    finally:
        await engine.dispose()
