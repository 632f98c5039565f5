"""Platform statistics for admins, computed from the database so they hold across replicas.

Authorisation denials are counted per (hour, reason) in `authz_denial_counts`. The API's
401/403 handler calls `DenialCounter.record()` synchronously; it only bumps an in-process
counter (no I/O, never raises), and a background task flushes the counts with one upsert per
(hour, reason) every few seconds, at shutdown, and before a stats read on this replica. So a
flood of bad tokens costs a dict increment each, not a database write each; what a replica loses
if it is killed is at most its last few seconds of counts.

Provisioning seconds (provisioned_at - created_at) are computed in Python over the most
recently provisioned tenants (a bounded window), which keeps the SQL portable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syston.core.db import AuthzDenialCount, Tenant, utcnow
from syston.core.logs import log_event
from syston.models import TenantStatus

FLUSH_INTERVAL_SECONDS: Final = 5.0
WINDOW_HOURS: Final = 24
PROVISIONING_SAMPLE: Final = 1000
MAX_PENDING_KEYS: Final = 10_000  # bounds memory if the database stays down
KNOWN_STATUSES: Final[tuple[TenantStatus, ...]] = (
    "processing",
    "active",
    "failed",
    "suspended",
    "deprovisioning",
    "deleted",
)


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


class DenialCounter:
    """Counts 401/403 reasons in process and flushes them to `authz_denial_counts`."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        interval: float = FLUSH_INTERVAL_SECONDS,
    ) -> None:
        self._sessions = sessions
        self._interval = interval
        self._pending: Counter[tuple[datetime, str]] = Counter()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def record(self, reason: str) -> None:
        """Count one denial (synchronous, no I/O, never raises)."""
        try:
            key = (hour_of(utcnow()), str(reason)[:32])
            if key in self._pending or len(self._pending) < MAX_PENDING_KEYS:
                self._pending[key] += 1
        except Exception:  # a counter must never turn a 401 into a 500
            return

    def __call__(self, reason: str) -> None:
        self.record(reason)

    async def flush(self) -> None:
        """Write the pending counts (added to what is stored); kept for later on failure."""
        async with self._lock:
            pending, self._pending = self._pending, Counter()
            if not pending:
                return
            try:
                async with self._sessions.begin() as session:
                    insert = pg_insert if _dialect(session) == "postgresql" else sqlite_insert
                    for (hour, reason), count in pending.items():
                        stmt = insert(AuthzDenialCount).values(
                            hour=hour, reason=reason, count=count
                        )
                        await session.execute(
                            stmt.on_conflict_do_update(
                                index_elements=[AuthzDenialCount.hour, AuthzDenialCount.reason],
                                set_={"count": AuthzDenialCount.count + stmt.excluded.count},
                            )
                        )
            except Exception as exc:
                self._pending.update(pending)
                log_event("denial_flush_failed", logging.WARNING, error_type=type(exc).__name__)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.flush()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="denial-counter-flush")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()


@dataclass(frozen=True, slots=True)
class ProvisioningSeconds:
    avg: float | None
    p50: float | None
    p95: float | None


@dataclass(frozen=True, slots=True)
class PlatformStats:
    tenants_by_status: dict[str, int]
    signups_per_hour: list[tuple[datetime, int]]
    provisioning_seconds: ProvisioningSeconds
    denials_by_reason: dict[str, int]


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending, non-empty list."""
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def _hour_label(dialect: str, column: Any) -> Any:
    """`YYYY-MM-DD HH` of a UTC timestamp column, on SQLite (naive UTC text) or PostgreSQL."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD HH24")
    return func.strftime("%Y-%m-%d %H", column)


class StatsReader:
    """Reads the numbers of `GET /api/v1/admin/stats`."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], denials: DenialCounter | None
    ) -> None:
        self._sessions = sessions
        self._denials = denials

    async def read(self) -> PlatformStats:
        if self._denials is not None:
            await self._denials.flush()  # this replica's latest counts, exactly
        now = utcnow()
        first_hour = hour_of(now) - timedelta(hours=WINDOW_HOURS - 1)
        async with self._sessions() as session:
            dialect = _dialect(session)
            by_status: dict[str, int] = dict(
                (
                    await session.execute(
                        select(Tenant.status, func.count()).group_by(Tenant.status)
                    )
                ).all()
            )
            label = _hour_label(dialect, Tenant.created_at)
            per_hour: dict[str, int] = dict(
                (
                    await session.execute(
                        select(label, func.count())
                        .where(Tenant.created_at >= first_hour)
                        .group_by(label)
                    )
                ).all()
            )
            durations = (
                await session.execute(
                    select(Tenant.created_at, Tenant.provisioned_at)
                    .where(Tenant.provisioned_at.is_not(None))
                    .order_by(Tenant.provisioned_at.desc())
                    .limit(PROVISIONING_SAMPLE)
                )
            ).all()
            denials: dict[str, int] = dict(
                (
                    await session.execute(
                        select(AuthzDenialCount.reason, func.sum(AuthzDenialCount.count))
                        .where(AuthzDenialCount.hour >= first_hour)
                        .group_by(AuthzDenialCount.reason)
                    )
                ).all()
            )
        hours = [first_hour + timedelta(hours=i) for i in range(WINDOW_HOURS)]
        seconds = sorted(
            max(0.0, (done - created).total_seconds())
            for created, done in durations
            if done is not None
        )
        return PlatformStats(
            tenants_by_status={
                **{s: 0 for s in KNOWN_STATUSES},
                **{str(k): int(v) for k, v in by_status.items()},
            },
            signups_per_hour=[(h, int(per_hour.get(h.strftime("%Y-%m-%d %H"), 0))) for h in hours],
            provisioning_seconds=ProvisioningSeconds(
                avg=round(sum(seconds) / len(seconds), 3) if seconds else None,
                p50=round(percentile(seconds, 0.5), 3) if seconds else None,
                p95=round(percentile(seconds, 0.95), 3) if seconds else None,
            ),
            denials_by_reason={str(k): int(v or 0) for k, v in denials.items()},
        )
