"""The API's metrics object, one per app (created on first use, kept in `app.state.metrics`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syston.core.db import Tenant
from syston.core.metrics import ApiMetrics


def metrics_of(app: Any) -> ApiMetrics:
    """This app's metrics. Per app, not per process, so test apps never share counters."""
    state = app.state
    metrics: ApiMetrics | None = getattr(state, "metrics", None)
    if metrics is None:
        metrics = ApiMetrics()
        state.metrics = metrics
    return metrics


async def tenants_by_status(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """One GROUP BY on the indexed status column."""
    async with sessions() as session:
        rows = (
            await session.execute(select(Tenant.status, func.count()).group_by(Tenant.status))
        ).all()
    return {str(status): int(n) for status, n in rows}
