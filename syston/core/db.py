"""Database schema (SQLAlchemy 2); the engine and transactions are in syston.core.engine.

The database is the read model and the ledger of facts: tenants, owners, provisioning steps,
resources, promo codes, idempotency records, revocations and the audit trail, and the intake of
provisioning requests whose workflow has not started yet (a transactional outbox). Uniqueness
(one tenant per slug, one owner per email, one redemption per tenant) is enforced here by
constraints, so it holds across any number of API replicas.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every back end (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime stored; use syston.core.db.utcnow()")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    club_name: Mapped[str] = mapped_column(String(100))
    plan: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    promo_code: Mapped[str | None] = mapped_column(String(64))
    payload_hash: Mapped[str] = mapped_column(String(64))
    workflow_run_id: Mapped[str | None] = mapped_column(String(64))
    error_step: Mapped[str | None] = mapped_column(String(32))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    provision_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    provisioned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Owner(Base):
    __tablename__ = "owners"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    email_normalized: Mapped[str] = mapped_column(String(320), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProvisioningStep(Base):
    __tablename__ = "provisioning_steps"

    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProvisionRequest(Base):
    """An accepted signup's request to provision, committed with the tenant and kept until its
    ProvisionTenant workflow has started (syston.intake). The row is the outbox: whoever starts
    the workflow deletes it; a relay starts whatever is left, however the API died."""

    __tablename__ = "provision_intake"

    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A relay may claim the row from this moment on: a grace period after the signup (its own
    # immediate start), the end of a relay's lease, or the next try after a failed start.
    available_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The signup's request id, so the workflow's log lines carry it whoever starts it.
    request_id: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)


class TenantResources(Base):
    __tablename__ = "tenant_resources"

    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    spreadsheet_id: Mapped[str | None] = mapped_column(String(128))
    spreadsheet_url: Mapped[str | None] = mapped_column(String(512))
    # The tenant's own Make webhook, set by an admin; NULL = the platform's MAKE_WEBHOOK_URL,
    # whatever it is at the time (provisioning never stores the platform's hook here).
    webhook_url: Mapped[str | None] = mapped_column(String(2048))
    webhook_registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PromoCode(Base):
    __tablename__ = "promo_codes"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    plan: Mapped[str | None] = mapped_column(String(16))
    max_redemptions: Mapped[int | None] = mapped_column(Integer)
    redemptions: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PromoRedemption(Base):
    __tablename__ = "promo_redemptions"

    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(ForeignKey("promo_codes.code"), index=True)
    redeemed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_records"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  # in_progress | done
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    tenant_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class RevokedToken(Base):
    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(128), primary_key=True)
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_by: Mapped[str | None] = mapped_column(String(128))


class TokenCutoff(Base):
    __tablename__ = "token_cutoffs"

    # "*" for the global cut-off, else a tenant id
    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    tenant_id: Mapped[str | None] = mapped_column(String(64), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AuthzDenialCount(Base):
    __tablename__ = "authz_denial_counts"

    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    reason: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class RateLimitWindow(Base):
    __tablename__ = "rate_limit_windows"

    bucket: Mapped[str] = mapped_column(String(128), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class TenantOperation(Base):
    """A tenant's current (or last) lifecycle operation: a plan change or an offboarding."""

    __tablename__ = "tenant_operations"

    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    type: Mapped[str] = mapped_column(String(16))  # plan_change | offboard
    status: Mapped[str] = mapped_column(String(16))  # running | completed | failed | cancelled
    # offboarding: grace (cancellable) → deleting; a plan change is always `steps`
    phase: Mapped[str] = mapped_column(String(16))
    workflow_id: Mapped[str] = mapped_column(String(96))
    run_id: Mapped[str | None] = mapped_column(String(64))
    plan: Mapped[str | None] = mapped_column(String(16))
    previous_plan: Mapped[str | None] = mapped_column(String(16))
    previous_status: Mapped[str | None] = mapped_column(String(16))
    delete_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OperationStep(Base):
    """The steps of a tenant's current operation, shaped like provisioning's."""

    __tablename__ = "operation_steps"

    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LifecycleEvent(Base):
    """The outbox of signed lifecycle events: written in the transaction of the change it
    announces, delivered (at least once) by the worker's dispatcher."""

    __tablename__ = "lifecycle_events"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)  # evt_…
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    type: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)  # the exact JSON sent and signed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The tenant's admin-set URL when the event was created; NULL = the platform's hook.
    target_url: Mapped[str | None] = mapped_column(String(2048))
    status: Mapped[str] = mapped_column(String(16))  # pending | delivered | abandoned
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When the next attempt is due; a claimed event's lease ends here too.
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)


Index("ix_tenants_status_created", Tenant.status, Tenant.created_at)
Index("ix_lifecycle_events_due", LifecycleEvent.status, LifecycleEvent.next_attempt_at)
