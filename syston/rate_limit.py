"""The per-client signup rate limit (`SIGNUP_RATE_LIMIT`, e.g. `20/minute`; `0` turns it off).

A fixed window per client address, counted in the database (`rate_limit_windows`) with one
upsert, so every API replica shares the same counter. The client address is the ASGI client
host: behind a proxy, let the server rewrite it from trusted proxy headers (uvicorn's
`--forwarded-allow-ips`), never from a header any client can send.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syston.core.db import RateLimitWindow, utcnow
from syston.core.errors import RateLimited


class SignupRateLimiter:
    """`limit` signups per `period` seconds per client address, across all replicas."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        limit: int,
        period: float,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if limit < 1 or period < 1:
            raise ValueError("a rate limit needs limit >= 1 and a period of at least a second")
        self.limit = limit
        self.period = int(period)
        self.clock = clock
        self._sessions = sessions

    async def hit(self, bucket: str) -> None:
        """Count one request in `bucket`; raise `RateLimited` (429, Retry-After) over the limit."""
        now = self.clock()
        epoch = now.timestamp()
        start = int(epoch) - int(epoch) % self.period
        window_start = datetime.fromtimestamp(start, UTC)
        async with self._sessions.begin() as session:
            count = await self._increment(session, bucket, window_start)
            if count == 1:
                # first hit of a new window: this client's older windows are dead weight
                await session.execute(
                    delete(RateLimitWindow).where(
                        RateLimitWindow.bucket == bucket,
                        RateLimitWindow.window_start < window_start,
                    )
                )
        if count > self.limit:
            retry_after = math.ceil(start + self.period - epoch)
            raise RateLimited(
                f"Too many signups from this address; at most {self.limit} per "
                f"{_describe(self.period)}. Retry in {retry_after} s.",
                retry_after=retry_after,
            )

    async def _increment(self, session: AsyncSession, bucket: str, window_start: datetime) -> int:
        dialect = session.get_bind().dialect.name
        insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = (
            insert(RateLimitWindow)
            .values(bucket=bucket, window_start=window_start, count=1)
            .on_conflict_do_update(
                index_elements=[RateLimitWindow.bucket, RateLimitWindow.window_start],
                set_={"count": RateLimitWindow.count + 1},
            )
            .returning(RateLimitWindow.count)
        )
        count: int = (await session.execute(statement)).scalar_one()
        return count


def _describe(period: int) -> str:
    names = {1: "second", 60: "minute", 3600: "hour", 86400: "day"}
    return names.get(period, str(timedelta(seconds=period)))
