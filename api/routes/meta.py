"""Liveness, readiness, metrics and who-am-I."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from api.deps import Caller, Sessions, Temporal
from api.observability import metrics_of, tenants_by_status
from api.schemas import Health, Readiness, problem_responses
from syston.core.metrics import CONTENT_TYPE

router = APIRouter(tags=["meta"])
READY_CHECK_TIMEOUT = 3.0


@router.get("/health", response_model=Health)
async def health() -> Health:
    """Liveness: answers without touching any dependency."""
    return Health(ok=True)


@router.get(
    "/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "The database is down"}},
)
async def ready(sessions: Sessions, temporal: Temporal) -> JSONResponse:
    """Readiness: the database answers (Temporal's state is reported, but signups and polls
    do not need it, so its outage never takes a replica out of service)."""

    async def database() -> bool:
        try:
            async with sessions() as session:
                await asyncio.wait_for(session.execute(text("SELECT 1")), READY_CHECK_TIMEOUT)
        except Exception:
            return False
        return True

    db_ok, temporal_ok = await asyncio.gather(database(), temporal.check())
    checks = {"database": "ok" if db_ok else "down", "temporal": "ok" if temporal_ok else "down"}
    ok = db_ok
    headers = None if ok else {"Retry-After": "5"}
    return JSONResponse(
        {"ok": ok, "checks": checks}, status_code=200 if ok else 503, headers=headers
    )


@router.get("/whoami", responses=problem_responses(401, 403, 503))
async def whoami(caller: Caller) -> dict[str, Any]:
    """The decoded claims of the presented token."""
    return dict(caller.claims)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
async def metrics(request: Request, sessions: Sessions) -> Response:
    """Prometheus metrics of this replica (requests, signups, denials, tenants by status)."""
    body = await metrics_of(request.app).render(lambda: tenants_by_status(sessions))
    return Response(body, media_type=CONTENT_TYPE)
