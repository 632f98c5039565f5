"""The FastAPI application: `create_app()` wires routes, middleware and the lifespan;
`server_config()` says how `syston api` serves it.

The lifespan opens the process's services (api.services: one database engine, one lazily
connected Temporal client, the outbound HTTP clients, the intake relay's loop) and closes them
at shutdown. Run with `syston api` (or `uvicorn api.app:create_app --factory`, without the
server settings below).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI
from temporalio.client import Client

from api import openapi, problems
from api.middleware import BodyGuard, RequestContext
from api.observability import metrics_of
from api.routes import admin, internal, meta, signup, tenants
from api.services import open_services
from syston import __version__
from syston.core.logs import configure_logging
from syston.core.settings import Settings, get_settings
from syston.core.tracing import Tracing
from syston.webhook_policy import Resolver

# What the HTTP server itself can bound. uvicorn has no timeout for a request head or body that
# trickles in, and no per-client connection limit: a proxy in front provides those (README,
# "Deployment and scaling out").
#
# The most of an unfinished request head the server buffers; past it, 400 and the connection
# closes. (A head that arrives complete in one read is not measured: the proxy's header limit
# is the real one.)
MAX_REQUEST_HEAD_BYTES = 16 * 1024
# Longer than the idle timeout of the proxies and load balancers in front (nginx upstream
# keep-alive and AWS ALB: 60 s), so it is they who close an idle connection: closed from this
# side, a request the proxy sends at that instant fails as a 502.
KEEP_ALIVE_SECONDS = 75

DESCRIPTION = (
    "Signs sports clubs up as tenants and provisions each one durably on Temporal. "
    "Errors are RFC 9457 problem+json with a stable `code`."
)


def create_app(
    settings: Settings | None = None,
    *,
    temporal_client: Client | None = None,
    webhook_resolver: Resolver | None = None,
    tracing: Tracing | None = None,
) -> FastAPI:
    """Build the API. `temporal_client` lets tests and embedders share an existing client;
    `webhook_resolver` replaces DNS for the webhook URL policy (tests); `tracing` (when
    OTEL_* turned it on) traces requests and the workflow starts they make."""
    settings = settings or get_settings()
    if not settings.jwt_secrets:
        raise RuntimeError("JWT_SECRET is not set (at least 32 bytes): the API cannot sign tokens")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level, settings.log_file)
        async with open_services(
            settings,
            temporal_client=temporal_client,
            webhook_resolver=webhook_resolver,
            metrics=metrics_of(app),
            temporal_interceptors=tracing.temporal_interceptors() if tracing else (),
        ) as services:
            app.state.services = services
            try:
                yield
            finally:
                app.state.services = None

    app = FastAPI(
        title="Syston provisioning",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    problems.install(app)
    openapi.install(app)
    for router in (meta.router, signup.router, tenants.router, internal.router, admin.router):
        app.include_router(router)
    app.add_middleware(BodyGuard)
    app.add_middleware(RequestContext)
    if tracing is not None:
        tracing.instrument_app(app)  # outermost: the request's span covers all of the above
    return app


def server_config(app: FastAPI, settings: Settings, *, host: str, port: int) -> uvicorn.Config:
    """How `syston api` serves `app`: uvicorn with h11 (whose head limit applies; httptools,
    if installed, has its own), no Server header, X-Forwarded-For only from trusted proxies."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http="h11",
        h11_max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        server_header=False,
        **proxy_options(settings),
        # uvicorn's own lines go through our JSON logging (log_config=None keeps its hands
        # off); the app logs every request itself (`http_request`), so its access log is off.
        log_config=None,
        access_log=False,
    )


def proxy_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's proxy-header options from FORWARDED_ALLOW_IPS.

    Passed explicitly, because uvicorn on its own reads FORWARDED_ALLOW_IPS and otherwise
    trusts 127.0.0.1: with nothing configured no proxy is trusted, the header rewriting is not
    even installed, and the socket peer is the client (its rate-limit bucket). With proxies
    configured, the client is the right-most X-Forwarded-For entry that is not one of them.
    """
    trusted = settings.trusted_proxies
    return {"proxy_headers": bool(trusted), "forwarded_allow_ips": trusted}
