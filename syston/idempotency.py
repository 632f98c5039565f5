"""Idempotency-Key records for signup: claimed in progress, then done with the exact response.

A retry with the same key and payload gets the original status and bytes back; the same key
with another payload is IDEMPOTENCY_KEY_REUSED; a retry while the first request still runs is
IDEMPOTENCY_IN_PROGRESS. Records expire after IDEMPOTENCY_TTL; a claim left in progress by a
process that died is taken over after IN_PROGRESS_STALE.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syston.core.db import IdempotencyRecord, utcnow
from syston.core.errors import Conflict, Unprocessable

IDEMPOTENCY_TTL = timedelta(hours=24)
# far longer than a signup takes (an insert and a workflow start)
IN_PROGRESS_STALE = timedelta(minutes=2)


@dataclass(frozen=True)
class SignupOutcome:
    """What a signup answered: a new tenant (202), a replay (200), or a stored response."""

    status_code: int
    body: dict[str, Any] | None
    raw_body: bytes | None = None  # an idempotent replay returns the original bytes
    replayed_by_key: bool = False
    tenant_id: str | None = None
    event: str = "signup_accepted"

    @property
    def content(self) -> bytes:
        """The exact bytes to send (and to replay later)."""
        return self.raw_body if self.raw_body is not None else render(self.body).encode()


def render(body: dict[str, Any] | None) -> str:
    """The exact bytes sent (and replayed) for a signup response."""
    return json.dumps(body, separators=(",", ":"))


class IdempotencyKeys:
    """The signup's Idempotency-Key records (hashed keys; the body stored verbatim)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def claim(self, key_hash: str, request_hash: str) -> SignupOutcome | None:
        """Claim the key for this request, or answer from what the key already holds."""
        now = utcnow()
        for _ in range(3):
            try:
                async with self._sessions.begin() as session:
                    session.add(
                        IdempotencyRecord(
                            key_hash=key_hash,
                            request_hash=request_hash,
                            state="in_progress",
                            created_at=now,
                            expires_at=now + IDEMPOTENCY_TTL,
                        )
                    )
                return None
            except IntegrityError:
                pass
            async with self._sessions.begin() as session:
                record = await session.get(IdempotencyRecord, key_hash)
                if record is None:
                    continue
                stale = record.state != "done" and record.created_at <= now - IN_PROGRESS_STALE
                if record.expires_at <= now or stale:
                    # expired, or claimed by a process that died mid-request: take it over
                    await session.delete(record)
                    continue
                if record.request_hash != request_hash:
                    raise Unprocessable(
                        "This Idempotency-Key was used with a different request body; "
                        "use a new key for a new request.",
                        code="IDEMPOTENCY_KEY_REUSED",
                        title="Idempotency key reused",
                    )
                if record.state != "done" or record.response_body is None:
                    raise Conflict(
                        "A request with this Idempotency-Key is still in progress; retry shortly.",
                        code="IDEMPOTENCY_IN_PROGRESS",
                        title="Request in progress",
                        headers={"Retry-After": "1"},
                    )
                return SignupOutcome(
                    record.response_status or 202,
                    None,
                    raw_body=record.response_body.encode(),
                    replayed_by_key=True,
                    tenant_id=record.tenant_id,
                    event="signup_replayed",
                )
        raise Conflict(
            "The Idempotency-Key is contended; retry shortly.",
            code="IDEMPOTENCY_IN_PROGRESS",
            title="Request in progress",
        )

    async def complete(self, key_hash: str, outcome: SignupOutcome) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(IdempotencyRecord)
                .where(IdempotencyRecord.key_hash == key_hash)
                .values(
                    state="done",
                    response_status=outcome.status_code,
                    response_body=render(outcome.body),
                    tenant_id=outcome.tenant_id,
                )
            )

    async def release(self, key_hash: str) -> None:
        """Forget an in-progress claim (the request failed: the key may be reused)."""
        try:
            async with self._sessions.begin() as session:
                await session.execute(
                    delete(IdempotencyRecord).where(
                        IdempotencyRecord.key_hash == key_hash,
                        IdempotencyRecord.state == "in_progress",
                    )
                )
        except Exception:  # the original error matters more; the key expires anyway
            return
