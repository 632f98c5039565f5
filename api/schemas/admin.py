"""Request and response models of the admin routes (docs/http-api.md#admin)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from api.schemas.requests import RequestModel
from api.schemas.tenants import TENANT_ID_PATTERN, ProvisionStatusView
from syston.models import Plan, TenantStatus

# RFC 3339 §5.6 `date-time`: seconds required, offset `Z` or `±hh:mm` (T and Z in either case).
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _rfc3339_text(value: object) -> object:
    # pydantic would also read numbers, and numeric strings, as Unix time (0 → 1970).
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise PydanticCustomError(
            "rfc3339", "must be an RFC 3339 date-time string, e.g. 2030-01-01T00:00:00Z"
        )
    return value


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-01:00
        raise ValueError("timestamp out of range") from None


Rfc3339 = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text), AfterValidator(_to_utc)]
TenantIdField = Annotated[str, Field(min_length=1, max_length=64, pattern=TENANT_ID_PATTERN)]
# Printable text without control characters (PostgreSQL refuses NUL in text).
Text = Annotated[str, Field(pattern=r"^[^\x00-\x1f\x7f]*$")]


class _Request(RequestModel):
    model_config = ConfigDict(extra="forbid")


# -- webhooks ---------------------------------------------------------------------------------


class WebhookUpdateRequest(_Request):
    tenant: TenantIdField
    make_webhook_url: str = Field(max_length=4096)


class WebhookUpdated(BaseModel):
    tenantId: str
    webhookUrl: str
    updatedAt: str


class WebhookTestResult(BaseModel):
    delivered: bool
    status: int | None
    error: str | None


# -- tenants ----------------------------------------------------------------------------------


class TenantSummaryView(BaseModel):
    tenantId: str
    slug: str
    clubName: str | None
    plan: str
    status: str
    ownerEmail: str | None
    createdAt: str
    updatedAt: str
    provisionedAt: str | None


class TenantPageView(BaseModel):
    items: list[TenantSummaryView]
    nextCursor: str | None


class AuditView(BaseModel):
    at: str
    actor: str
    action: str
    detail: dict[str, Any]


class AdminTenantView(ProvisionStatusView):
    """provision-status, unmasked, plus what only admins see."""

    clubName: str | None
    ownerEmail: str | None
    promoCode: str | None
    provisionStartedAt: str | None
    webhookRegisteredAt: str | None
    audit: list[AuditView]


class StatusOverrideRequest(_Request):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    status: TenantStatus
    reason: Text = Field(min_length=1, max_length=500)


class StatusOverrideResult(BaseModel):
    tenantId: str
    status: str
    previousStatus: str
    updatedAt: str
    provisionedAt: str | None


# -- promo codes ------------------------------------------------------------------------------


class PromoCreateRequest(_Request):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
    plan: Plan | None = None
    maxRedemptions: int | None = Field(default=None, ge=1, le=1_000_000_000)
    expiresAt: Rfc3339 | None = None


class PromoView(BaseModel):
    code: str
    plan: str | None
    maxRedemptions: int | None
    redemptions: int
    expiresAt: str | None
    createdAt: str


class PromoList(BaseModel):
    items: list[PromoView]


# -- tokens -----------------------------------------------------------------------------------


class RevokeRequest(_Request):
    jti: str = Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")


class RevocationView(BaseModel):
    jti: str
    revoked: bool
    revokedAt: str | None


class CutoffRequest(_Request):
    notBefore: Rfc3339
    tenantId: TenantIdField | None = None


class CutoffView(BaseModel):
    scope: Literal["global", "tenant"]
    tenantId: str | None
    notBefore: str
    updatedAt: str


# -- stats ------------------------------------------------------------------------------------


class HourCount(BaseModel):
    hour: str
    count: int


class ProvisioningSecondsView(BaseModel):
    avg: float | None
    p50: float | None
    p95: float | None


class StatsView(BaseModel):
    tenantsByStatus: dict[str, int]
    signupsPerHour: list[HourCount]
    provisioningSeconds: ProvisioningSecondsView
    denialsByReason: dict[str, int]
