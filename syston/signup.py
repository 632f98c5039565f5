"""Signup: one tenant, one owner, one workflow and at most one promo redemption per signup.

Uniqueness is the database's job (unique slug, unique normalised email, one redemption per
tenant), so it holds across API replicas; this module turns constraint races into the right
answer: a replay of the same payload, or SLUG_TAKEN / EMAIL_EXISTS for a different one.
`Idempotency-Key` requests are recorded (in progress, then done with the exact response) so a
retry gets the original bytes back.

The tenant, its owner and the request to provision commit in one transaction (syston.intake);
the workflow is started right after, best effort, and otherwise by the intake relay. So a
signup is accepted (202) whether or not Temporal is reachable, and a replay never needs it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, insert, or_, select, union_all, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syston.core.db import (
    Owner,
    PromoCode,
    PromoRedemption,
    ProvisioningStep,
    Tenant,
    TenantResources,
    utcnow,
)
from syston.core.engine import run_transaction
from syston.core.errors import Conflict, ServiceError, Unavailable, Unprocessable
from syston.core.logs import log_event, mask_email
from syston.idempotency import IdempotencyKeys, SignupOutcome
from syston.intake import ProvisionIntake
from syston.models import steps_for
from syston.rate_limit import SignupRateLimiter
from syston.tokens import TokenService

_TENANTS = cast(Table, Tenant.__table__)
_OWNERS = cast(Table, Owner.__table__)
_REDEMPTIONS = cast(Table, PromoRedemption.__table__)
_STEPS = cast(Table, ProvisioningStep.__table__)
_RESOURCES = cast(Table, TenantResources.__table__)
# Built once: each call passes its values as parameters, so SQLAlchemy neither coerces nor keys
# them into the statement (that was a third of the insert's CPU, bench/README.md).
_INSERT_TENANT = insert(_TENANTS)
_INSERT_OWNER = insert(_OWNERS)
_INSERT_REDEMPTION = insert(_REDEMPTIONS)
_INSERT_STEPS = insert(_STEPS)
_INSERT_RESOURCES = insert(_RESOURCES)

CONSTRAINT_RACE_ATTEMPTS = 3


@dataclass(frozen=True)
class SignupData:
    club_name: str
    club_slug: str
    email: str
    plan: str
    promo_code: str | None

    @property
    def email_normalized(self) -> str:
        return self.email.strip().lower()

    @property
    def promo_normalized(self) -> str | None:
        code = (self.promo_code or "").strip().upper()
        return code or None

    def fingerprint(self) -> str:
        """Hash of the payload as the service understands it (replays match on this)."""
        canonical = json.dumps(
            {
                "clubName": self.club_name.strip(),
                "clubSlug": self.club_slug,
                "email": self.email_normalized,
                "plan": self.plan,
                "promoCode": self.promo_normalized,
            },
            sort_keys=True,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class SignupReply:
    """The HTTP answer to a signup: status, the exact body bytes, and headers."""

    status_code: int
    content: bytes
    headers: dict[str, str]


def new_tenant_id() -> str:
    return "tenant_" + secrets.token_urlsafe(18)


def new_user_id() -> str:
    return "user_" + secrets.token_urlsafe(12)


def status_url(tenant_id: str) -> str:
    return f"/api/v1/tenants/{tenant_id}/provision-status"


class SignupService:
    """Creates tenants from signups; safe under retries, replays and concurrency."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        intake: ProvisionIntake,
        tokens: TokenService,
        limiter: SignupRateLimiter | None = None,
    ) -> None:
        self._sessions = sessions
        self._intake = intake
        self._tokens = tokens
        self._keys = IdempotencyKeys(sessions)
        self.limiter = limiter

    async def start(
        self, data: SignupData, idempotency_key: str | None, *, client_host: str
    ) -> SignupReply:
        """The signup route's use case: rate limit, sign up, log the outcome, shape the reply."""
        try:
            if self.limiter is not None:
                await self.limiter.hit(f"signup:{client_host}")
            outcome = await self.signup(data, idempotency_key)
        except ServiceError as exc:
            if exc.status < 500:
                log_event(
                    "signup_rejected",
                    logging.INFO,
                    code=exc.code,
                    slug=data.club_slug,
                    email=mask_email(data.email),
                )
            raise
        log_event(
            outcome.event,
            tenant_id=outcome.tenant_id,
            slug=data.club_slug,
            plan=data.plan,
            email=mask_email(data.email),
            by_key=outcome.replayed_by_key,
        )
        headers = {}
        if outcome.tenant_id and outcome.status_code == 202:
            headers["Location"] = status_url(outcome.tenant_id)
        if outcome.replayed_by_key:
            headers["Idempotent-Replayed"] = "true"
        return SignupReply(outcome.status_code, outcome.content, headers)

    async def signup(self, data: SignupData, idempotency_key: str | None) -> SignupOutcome:
        if idempotency_key is None:
            return await self._signup(data)
        key_hash = hashlib.sha256(idempotency_key.encode()).hexdigest()
        request_hash = data.fingerprint()
        claimed = await self._keys.claim(key_hash, request_hash)
        if claimed is not None:
            return claimed
        try:
            outcome = await self._signup(data)
        except BaseException:
            # 4xx and failures are not stored under the key: the corrected request may reuse it
            await self._keys.release(key_hash)
            raise
        await self._keys.complete(key_hash, outcome)
        return outcome

    # -- the signup itself -------------------------------------------------------------------

    async def _signup(self, data: SignupData) -> SignupOutcome:
        fingerprint = data.fingerprint()
        for _ in range(CONSTRAINT_RACE_ATTEMPTS):
            tenant_id, user_id = new_tenant_id(), new_user_id()
            try:
                # Insert first: a new signup (the common case) costs one transaction, and the
                # unique slug and email decide every race.
                await self._insert(data, fingerprint, tenant_id, user_id)
            except IntegrityError:
                # The slug or email is taken (earlier or by a concurrent signup): the holder
                # says whether this is a replay or a conflict; if it was rolled back
                # meanwhile, try again.
                existing = await self._existing(data, fingerprint)
                if existing is not None:
                    return existing
                continue
            break
        else:
            raise Unavailable("Signups for this slug or email are contended; retry shortly.", 1)
        # The request to provision is durable already: when Temporal is down or slow this
        # leaves the start to the relay, and the signup is accepted all the same.
        await self._intake.start_now(tenant_id, data.plan)
        token = self._tokens.issue_tenant(tenant_id, user_id)
        body = {
            "tenantId": tenant_id,
            "status": "processing",
            "plan": data.plan,
            "jwt": token,
            "statusUrl": status_url(tenant_id),
        }
        return SignupOutcome(202, body, tenant_id=tenant_id)

    async def _insert(
        self, data: SignupData, fingerprint: str, tenant_id: str, user_id: str
    ) -> None:
        """One transaction: tenant and owner first (their unique constraints settle races),
        then the promo redemption (so a signup that loses a race never touches the code), the
        steps and the request to provision."""
        await run_transaction(self._sessions, _insert, data, fingerprint, tenant_id, user_id)

    async def _existing(self, data: SignupData, fingerprint: str) -> SignupOutcome | None:
        """A tenant already holding this slug or email: a replay, or the conflict to report."""
        # One statement, so one snapshot (two queries could see a concurrent signup's tenant
        # in one and not the other); two unique-index lookups rather than an OR over a join.
        holders = union_all(
            select(Tenant.id).where(Tenant.slug == data.club_slug),
            select(Owner.tenant_id).where(Owner.email_normalized == data.email_normalized),
        )
        async with self._sessions() as session:
            tenants = (await session.scalars(select(Tenant).where(Tenant.id.in_(holders)))).all()
        by_slug = next((t for t in tenants if t.slug == data.club_slug), None)
        if by_slug is not None and by_slug.payload_hash == fingerprint:
            # Answered from the database alone: a workflow not started yet is the relay's.
            body = {
                "tenantId": by_slug.id,
                "status": by_slug.status,
                "plan": by_slug.plan,
                "statusUrl": status_url(by_slug.id),
                "replayed": True,
            }
            return SignupOutcome(200, body, tenant_id=by_slug.id, event="signup_replayed")
        if by_slug is not None:
            raise Conflict(
                f"The slug '{data.club_slug}' is already registered.",
                code="SLUG_TAKEN",
                title="Slug already registered",
            )
        if tenants:
            raise Conflict(
                "That email address is already registered; sign in or use another address.",
                code="EMAIL_EXISTS",
                title="Email already registered",
            )
        return None


# -- the signup's transaction (run by run_transaction: plain Core on one connection) --------


def _insert(
    db: Connection, data: SignupData, fingerprint: str, tenant_id: str, user_id: str
) -> None:
    now = utcnow()
    promo = data.promo_normalized
    # Core inserts, not ORM objects in a session: the ORM's bookkeeping was most of the
    # signup's CPU (bench/README.md). Tenant and owner go first, one statement each, so a taken
    # slug or email fails before anything else.
    db.execute(
        _INSERT_TENANT,
        {
            "id": tenant_id,
            "slug": data.club_slug,
            "club_name": data.club_name.strip(),
            "plan": data.plan,
            "status": "processing",
            "promo_code": promo,
            "payload_hash": fingerprint,
            "created_at": now,
            "updated_at": now,
        },
    )
    db.execute(
        _INSERT_OWNER,
        {
            "id": user_id,
            "tenant_id": tenant_id,
            "email": data.email.strip(),
            "email_normalized": data.email_normalized,
            "created_at": now,
        },
    )
    if promo is not None:
        _redeem(db, promo, data.plan, now)
        db.execute(_INSERT_REDEMPTION, {"tenant_id": tenant_id, "code": promo, "redeemed_at": now})
    db.execute(
        _INSERT_STEPS,
        [
            {
                "tenant_id": tenant_id,
                "name": step,
                "position": position,
                "status": "pending",
                "attempts": 0,
                "updated_at": now,
            }
            for position, step in enumerate(steps_for(data.plan))
        ],
    )
    db.execute(_INSERT_RESOURCES, {"tenant_id": tenant_id, "updated_at": now})
    ProvisionIntake.file(db, tenant_id, now)


def _redeem(db: Connection, code: str, plan: str, now: datetime) -> None:
    """Count one redemption atomically, only if the code is valid for this signup."""
    result = db.execute(
        update(PromoCode)
        .where(
            PromoCode.code == code,
            or_(PromoCode.plan.is_(None), PromoCode.plan == plan),
            or_(PromoCode.expires_at.is_(None), PromoCode.expires_at > now),
            or_(
                PromoCode.max_redemptions.is_(None),
                PromoCode.redemptions < PromoCode.max_redemptions,
            ),
        )
        .values(redemptions=PromoCode.redemptions + 1)
    )
    if result.rowcount != 1:
        raise Unprocessable(
            "The promo code is unknown, expired, fully redeemed or not valid for this plan.",
            code="INVALID_PROMO",
            title="Invalid promo code",
            extra={"errors": [{"field": "promoCode", "message": "invalid promo code"}]},
        )
