"""Promo codes: created by admins, redeemed by signups (syston.signup counts redemptions).

Codes are case-insensitive: stored upper-case, as signup normalises what clients send. An
already-expired code may be created (it is simply never valid); a duplicate is 409 PROMO_EXISTS,
decided by the primary key so it holds across replicas.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syston.core import audit
from syston.core.db import PromoCode, utcnow
from syston.core.errors import Conflict

MAX_LISTED = 1000


@dataclass(frozen=True, slots=True)
class Promo:
    code: str
    plan: str | None
    max_redemptions: int | None
    redemptions: int
    expires_at: datetime | None
    created_at: datetime


def normalise_code(code: str) -> str:
    """The stored form of a code (what signup compares against)."""
    return code.strip().upper()


def _promo(row: PromoCode) -> Promo:
    return Promo(
        code=row.code,
        plan=row.plan,
        max_redemptions=row.max_redemptions,
        redemptions=row.redemptions,
        expires_at=row.expires_at,
        created_at=row.created_at,
    )


class PromoCodes:
    """Create and list promo codes."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create(
        self,
        code: str,
        *,
        plan: str | None,
        max_redemptions: int | None,
        expires_at: datetime | None,
        actor: str,
    ) -> Promo:
        """A new code with no redemptions, or 409 PROMO_EXISTS."""
        row = PromoCode(
            code=normalise_code(code),
            plan=plan,
            max_redemptions=max_redemptions,
            redemptions=0,
            expires_at=expires_at,
            created_at=utcnow(),
        )
        try:
            async with self._sessions.begin() as session:
                session.add(row)
                await session.flush()
                audit.record(
                    session,
                    actor=actor,
                    action="promo_created",
                    code=row.code,
                    plan=plan,
                    maxRedemptions=max_redemptions,
                    expiresAt=expires_at.isoformat() if expires_at else None,
                )
        except IntegrityError:
            raise Conflict(
                f"The promo code '{row.code}' already exists.",
                code="PROMO_EXISTS",
                title="Promo code exists",
            ) from None
        return _promo(row)

    async def list(self) -> list[Promo]:
        """Every code (newest first), with its redemption count."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(PromoCode)
                .order_by(PromoCode.created_at.desc(), PromoCode.code)
                .limit(MAX_LISTED)
            )
            return [_promo(row) for row in rows]
