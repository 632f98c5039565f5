"""Platform-admin operations on tenants: list, detail, manual status override, webhook URL.

Listing is keyset-paginated on (created_at, id), newest first, with an opaque cursor, so a page
costs one indexed range read however deep it is and tenants created meanwhile never shift it.

The status override is the runbook's "Option B" (mark a tenant whose provisioning actually
completed as active), generalised to every tenant status. It is a conditional update on the
status read in the same transaction, so a concurrent change (the workflow activating the tenant,
another admin) is never silently overwritten in the audit trail: the from-status recorded is the
one replaced. This module does not touch Temporal; the route then signals the tenant's open run
(`status_overridden`), which ends a run stopped on an error with that status so `ProvisionStatus`
agrees. A busy run carries on (the database is the read model).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.service import RPCError

from syston.core import audit
from syston.core.db import Owner, Tenant, TenantResources, utcnow
from syston.core.errors import ServiceError, TenantNotFoundError, Unprocessable, ValidationFailed
from syston.core.logs import log_event, mask_url
from syston.core.text import is_storable
from syston.models import TenantStatus
from syston.provisioning_client import TemporalGateway
from syston.webhook_policy import (
    InvalidWebhookUrl,
    Resolver,
    WebhookUrlRejected,
    check_webhook_url,
)

MAX_PAGE = 200
MAX_OVERRIDE_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class TenantSummary:
    tenant_id: str
    slug: str
    club_name: str
    plan: str
    status: str
    owner_email: str | None
    created_at: datetime
    updated_at: datetime
    provisioned_at: datetime | None


@dataclass(frozen=True, slots=True)
class TenantPage:
    items: list[TenantSummary]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class TenantFacts:
    """What the admin detail adds to provision-status."""

    club_name: str
    owner_email: str | None
    promo_code: str | None
    provision_started_at: datetime | None
    webhook_registered_at: datetime | None
    audit: list[audit.AuditRecord]


@dataclass(frozen=True, slots=True)
class StatusChange:
    tenant_id: str
    previous: str
    status: str
    updated_at: datetime
    provisioned_at: datetime | None


@dataclass(frozen=True, slots=True)
class WebhookChange:
    tenant_id: str
    webhook_url: str
    updated_at: datetime


def encode_cursor(created_at: datetime, tenant_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), tenant_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position a cursor points after, or 422 VALIDATION (field `cursor`)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, tenant_id = json.loads(raw)
        position = datetime.fromisoformat(created)
        if position.tzinfo is None or not isinstance(tenant_id, str):
            raise ValueError("incomplete cursor")
        if not is_storable(tenant_id):  # never one we made; the database would refuse it
            raise ValueError("forged cursor")
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise ValidationFailed(
            "The cursor is not one this API returned.",
            [{"field": "cursor", "message": "invalid cursor; use nextCursor from a previous page"}],
        ) from None
    return position, tenant_id


class TenantAdmin:
    """Admin reads and writes on tenants."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        webhook_hosts: list[str],
        resolver: Resolver | None = None,
        temporal: TemporalGateway | None = None,
    ) -> None:
        self._sessions = sessions
        self._webhook_hosts = webhook_hosts
        self._resolver = resolver
        self._temporal = temporal

    async def override_status(
        self, tenant_id: str, status: TenantStatus, reason: str, actor: str
    ) -> StatusChange:
        """Set a tenant's status by hand (runbook "Option B") and tell its open run.

        The database is the record; the run is told so it ends (if stopped) and the Temporal
        UI's ProvisionStatus agrees. Best effort: Temporal may be down.
        """
        change = await self.set_status(tenant_id, status, reason, actor)
        signalled = False
        if self._temporal is not None:
            try:
                signalled = await self._temporal.notify_override(tenant_id, change.status)
            except (ServiceError, RPCError):
                log_event(
                    "tenant_status_override_not_signalled", logging.WARNING, tenant_id=tenant_id
                )
        log_event(
            "tenant_status_override",
            tenant_id=tenant_id,
            from_status=change.previous,
            to_status=change.status,
            sub=actor,
            run_signalled=signalled,
        )
        return change

    async def list(
        self,
        *,
        status: str | None = None,
        plan: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> TenantPage:
        """One page of tenants, newest first."""
        query = (
            select(Tenant, Owner.email)
            .outerjoin(Owner, Owner.tenant_id == Tenant.id)
            .order_by(Tenant.created_at.desc(), Tenant.id.desc())
            .limit(limit + 1)
        )
        if status:
            query = query.where(Tenant.status == status)
        if plan:
            query = query.where(Tenant.plan == plan)
        if cursor:
            created_at, tenant_id = decode_cursor(cursor)
            query = query.where(
                or_(
                    Tenant.created_at < created_at,
                    and_(Tenant.created_at == created_at, Tenant.id < tenant_id),
                )
            )
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        items = [
            TenantSummary(
                tenant_id=t.id,
                slug=t.slug,
                club_name=t.club_name,
                plan=t.plan,
                status=t.status,
                owner_email=email,
                created_at=t.created_at,
                updated_at=t.updated_at,
                provisioned_at=t.provisioned_at,
            )
            for t, email in rows[:limit]
        ]
        more = len(rows) > limit
        last = items[-1] if items and more else None
        return TenantPage(
            items=items,
            next_cursor=encode_cursor(last.created_at, last.tenant_id) if last else None,
        )

    async def facts(self, session: AsyncSession, tenant_id: str) -> TenantFacts:
        """Owner, club name, promo code and recent audit entries of a tenant."""
        row = (
            await session.execute(
                select(Tenant, Owner.email, TenantResources.webhook_registered_at)
                .outerjoin(Owner, Owner.tenant_id == Tenant.id)
                .outerjoin(TenantResources, TenantResources.tenant_id == Tenant.id)
                .where(Tenant.id == tenant_id)
                .limit(1)
            )
        ).one_or_none()
        if row is None:
            raise TenantNotFoundError(tenant_id)
        tenant, email, registered_at = row
        return TenantFacts(
            club_name=tenant.club_name,
            owner_email=email,
            promo_code=tenant.promo_code,
            provision_started_at=tenant.provision_started_at,
            webhook_registered_at=registered_at,
            audit=await audit.for_tenant(session, tenant_id),
        )

    async def set_status(
        self, tenant_id: str, status: TenantStatus, reason: str, actor: str
    ) -> StatusChange:
        """Manual override, with an audit entry; `active` stamps provisioned_at if unset and
        clears the recorded error."""
        for _ in range(MAX_OVERRIDE_ATTEMPTS):
            async with self._sessions.begin() as session:
                tenant = await session.get(Tenant, tenant_id)
                if tenant is None:
                    raise TenantNotFoundError(tenant_id)
                previous, now = tenant.status, utcnow()
                values: dict[str, object] = {"status": status, "updated_at": now}
                provisioned_at = tenant.provisioned_at
                if status == "active":
                    provisioned_at = provisioned_at or now
                    values.update(
                        provisioned_at=provisioned_at,
                        error_step=None,
                        error_code=None,
                        error_message=None,
                    )
                result = await session.execute(
                    update(Tenant)
                    .where(Tenant.id == tenant_id, Tenant.status == previous)
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
                if result.rowcount != 1:  # type: ignore[attr-defined]
                    continue  # changed under us: read it again
                audit.record(
                    session,
                    actor=actor,
                    action="status_override",
                    tenant_id=tenant_id,
                    at=now,
                    **{"from": previous, "to": status, "reason": reason},
                )
            return StatusChange(tenant_id, previous, status, now, provisioned_at)
        raise Unprocessable(
            "The tenant's status kept changing; retry the override.",
            code="STATUS_CONTENDED",
            title="Status changed concurrently",
        )

    async def set_webhook(self, tenant_id: str, url: str, actor: str) -> WebhookChange:
        """Store the tenant's own Make webhook URL after the URL policy (unknown tenant first,
        then the URL checks in the order of docs/http-api.md#webhook-url-policy)."""
        async with self._sessions() as session:
            if await session.get(Tenant, tenant_id) is None:
                raise TenantNotFoundError(tenant_id)
        try:
            parsed = await check_webhook_url(url, self._webhook_hosts, self._resolver)
        except WebhookUrlRejected as exc:
            raise Unprocessable(
                f"The webhook URL was refused: {exc.message}.",
                code="WEBHOOK_URL_REJECTED",
                title="Webhook URL rejected",
                extra={"reason": exc.reason},
            ) from None
        except InvalidWebhookUrl as exc:
            raise ValidationFailed(
                "The webhook URL is not a valid URL.",
                [{"field": "make_webhook_url", "message": str(exc)}],
            ) from None
        now = utcnow()
        async with self._sessions.begin() as session:
            resources = await session.get(TenantResources, tenant_id)
            if resources is None:
                if await session.get(Tenant, tenant_id) is None:  # deleted meanwhile
                    raise TenantNotFoundError(tenant_id)
                resources = TenantResources(tenant_id=tenant_id)
                session.add(resources)
            previous = resources.webhook_url
            resources.webhook_url = parsed.url
            # Registration was for the previous URL; a re-run of configure_webhook registers anew.
            resources.webhook_registered_at = None
            resources.updated_at = now
            audit.record(
                session,
                actor=actor,
                action="webhook_updated",
                tenant_id=tenant_id,
                at=now,
                previous=mask_url(previous),
                webhookUrl=mask_url(parsed.url),
            )
        return WebhookChange(tenant_id, parsed.url, now)
