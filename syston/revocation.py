"""Token revocation by `jti` and cut-off by `iat`, written by admins
(docs/tokens.md#revocation-and-cut-off).

`api.deps.authenticate` reads both tables on every request, so a revocation or cut-off takes
effect on every replica at once. A cut-off is one row per scope (`*` = every token, or a tenant
id = that tenant's tokens); setting it again moves it. Revoking and un-revoking are idempotent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syston.core import audit
from syston.core.db import RevokedToken, Tenant, TokenCutoff, utcnow
from syston.core.errors import TenantNotFoundError, ValidationFailed
from syston.core.logs import log_event

GLOBAL_SCOPE = "*"
# A cut-off far in the future would also refuse every token issued until then (a typo could
# lock every caller out for years); a little slack covers clock skew between admin and server.
MAX_CUTOFF_AHEAD = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Revocation:
    jti: str
    revoked: bool
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class Cutoff:
    scope: str
    tenant_id: str | None
    not_before: datetime
    updated_at: datetime


class Revocations:
    """Revoke / un-revoke tokens and set cut-offs."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def revoke(self, jti: str, actor: str) -> Revocation:
        """Refuse the token with this `jti` from now on (a repeat keeps the first time)."""
        try:
            async with self._sessions.begin() as session:
                existing = await session.get(RevokedToken, jti)
                if existing is not None:
                    return Revocation(jti, True, existing.revoked_at)
                now = utcnow()
                session.add(RevokedToken(jti=jti, revoked_at=now, revoked_by=actor))
                audit.record(session, actor=actor, action="token_revoked", at=now, jti=jti)
        except IntegrityError:  # revoked concurrently by another request: same outcome
            async with self._sessions() as session:
                existing = await session.get(RevokedToken, jti)
            return Revocation(jti, True, existing.revoked_at if existing else None)
        log_event("token_revoked", logging.WARNING, jti=jti, sub=actor, scope="jti")
        return Revocation(jti, True, now)

    async def unrevoke(self, jti: str, actor: str) -> Revocation:
        """Accept the token again (a no-op for a `jti` that is not revoked)."""
        async with self._sessions.begin() as session:
            result = await session.execute(delete(RevokedToken).where(RevokedToken.jti == jti))
            if result.rowcount:  # type: ignore[attr-defined]
                audit.record(session, actor=actor, action="token_unrevoked", jti=jti)
                removed = True
            else:
                removed = False
        if removed:
            log_event("token_unrevoked", logging.WARNING, jti=jti, sub=actor)
        return Revocation(jti, False, None)

    async def cutoff(self, not_before: datetime, tenant_id: str | None, actor: str) -> Cutoff:
        """Refuse tokens issued before `not_before`: every token, or one tenant's."""
        now = utcnow()
        if not_before > now + MAX_CUTOFF_AHEAD:
            raise ValidationFailed(
                "A cut-off may not lie in the future.",
                [{"field": "notBefore", "message": "must not be later than now"}],
            )
        scope = tenant_id or GLOBAL_SCOPE
        for attempt in range(2):
            try:
                await self._set_cutoff(scope, tenant_id, not_before, now, actor)
                break
            except IntegrityError:  # another admin created the row first: update it
                if attempt:
                    raise
        log_event(
            "token_revoked",
            logging.WARNING,
            scope="tenant" if tenant_id else "global",
            tenant_id=tenant_id,
            not_before=not_before.isoformat(),
            sub=actor,
        )
        return Cutoff(scope, tenant_id, not_before, now)

    async def _set_cutoff(
        self, scope: str, tenant_id: str | None, not_before: datetime, now: datetime, actor: str
    ) -> None:
        async with self._sessions.begin() as session:
            if tenant_id is not None and await session.get(Tenant, tenant_id) is None:
                raise TenantNotFoundError(tenant_id)
            row = await session.get(TokenCutoff, scope)
            if row is None:
                session.add(TokenCutoff(scope=scope, not_before=not_before, updated_at=now))
            else:
                row.not_before, row.updated_at = not_before, now
            audit.record(
                session,
                actor=actor,
                action="token_cutoff",
                tenant_id=tenant_id,
                at=now,
                scope=scope,
                notBefore=not_before.isoformat(),
            )
