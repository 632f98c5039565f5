"""The FastAPI application: `create_app()` wires routes, middleware and the lifespan.

The lifespan opens one database engine, one (lazily connected) Temporal client and the token
service per process, and closes them at shutdown. Run with
`uvicorn api.app:create_app --factory` or `syston api`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from temporalio.client import Client

from api import openapi, problems
from api.middleware import BodyGuard, RequestContext
from api.routes import admin, internal, meta, signup, tenants
from syston.core.db import create_engine, sessionmaker
from syston.core.logs import configure_logging
from syston.core.settings import Settings, get_settings
from syston.provisioning_client import TemporalGateway
from syston.rate_limit import SignupRateLimiter
from syston.signup import SignupService
from syston.tokens import TokenService

DESCRIPTION = (
    "Signs sports clubs up as tenants and provisions each one durably on Temporal. "
    "Errors are RFC 9457 problem+json with a stable `code`."
)


def create_app(
    settings: Settings | None = None, *, temporal_client: Client | None = None
) -> FastAPI:
    """Build the API. `temporal_client` lets tests and embedders share an existing client."""
    settings = settings or get_settings()
    if not settings.jwt_secrets:
        raise RuntimeError("JWT_SECRET is not set (at least 32 bytes): the API cannot sign tokens")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level, settings.log_file)
        engine = create_engine(settings.effective_database_url)
        sessions = sessionmaker(engine)
        gateway = TemporalGateway(settings, temporal_client)
        tokens = TokenService(settings.jwt_secrets, settings.jwt_issuer)
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessions = sessions
        app.state.temporal = gateway
        app.state.tokens = tokens
        app.state.signup = SignupService(sessions, gateway, tokens)
        limit, period = settings.rate_limit
        app.state.signup_limiter = SignupRateLimiter(sessions, limit, period) if limit else None
        try:
            async with admin.admin_services(app, settings, sessions):
                yield
        finally:
            await engine.dispose()

    app = FastAPI(
        title="Syston provisioning",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    problems.install(app)
    openapi.install(app)
    for router in (meta.router, signup.router, tenants.router, internal.router, admin.router):
        app.include_router(router)
    app.add_middleware(BodyGuard)
    app.add_middleware(RequestContext)
    return app
