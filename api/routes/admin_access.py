"""Admin routes for access and growth: token revocation and cut-off, promo codes, stats."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.deps import Admin, AdminCaller
from api.schemas import problem_responses, rfc3339
from api.schemas.admin import (
    CutoffRequest,
    CutoffView,
    HourCount,
    PromoCreateRequest,
    PromoList,
    PromoView,
    ProvisioningSecondsView,
    RevocationView,
    RevokeRequest,
    StatsView,
)
from syston.promo import Promo
from syston.revocation import Revocation

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])

Jti = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]


def _revocation(r: Revocation) -> RevocationView:
    return RevocationView(jti=r.jti, revoked=r.revoked, revokedAt=rfc3339(r.revoked_at))


def _promo(p: Promo) -> PromoView:
    return PromoView(
        code=p.code,
        plan=p.plan,
        maxRedemptions=p.max_redemptions,
        redemptions=p.redemptions,
        expiresAt=rfc3339(p.expires_at),
        createdAt=rfc3339(p.created_at) or "",
    )


@router.post(
    "/tokens/revoke",
    response_model=RevocationView,
    responses=problem_responses(401, 403, 413, 415, 422, 503),
)
async def revoke_token(body: RevokeRequest, admin: Admin, caller: AdminCaller) -> RevocationView:
    """Revoke the token with this `jti` (refused with 403 token_revoked from now on)."""
    return _revocation(await admin.revocations.revoke(body.jti, caller.sub))


@router.delete(
    "/tokens/revoke/{jti}",
    response_model=RevocationView,
    responses=problem_responses(401, 403, 422, 503),
)
async def unrevoke_token(jti: Jti, admin: Admin, caller: AdminCaller) -> RevocationView:
    """Accept the token with this `jti` again."""
    return _revocation(await admin.revocations.unrevoke(jti, caller.sub))


@router.post(
    "/tokens/cutoff",
    response_model=CutoffView,
    responses=problem_responses(401, 403, 404, 413, 415, 422, 503),
)
async def set_cutoff(body: CutoffRequest, admin: Admin, caller: AdminCaller) -> CutoffView:
    """Refuse every token (or one tenant's) issued before `notBefore`."""
    cutoff = await admin.revocations.cutoff(body.notBefore, body.tenantId, caller.sub)
    return CutoffView(
        scope="tenant" if cutoff.tenant_id else "global",
        tenantId=cutoff.tenant_id,
        notBefore=rfc3339(cutoff.not_before) or "",
        updatedAt=rfc3339(cutoff.updated_at) or "",
    )


@router.post(
    "/promo-codes",
    status_code=201,
    response_model=PromoView,
    responses=problem_responses(401, 403, 409, 413, 415, 422, 503),
)
async def create_promo_code(
    body: PromoCreateRequest, admin: Admin, caller: AdminCaller
) -> PromoView:
    """Create a promo code (case-insensitive; 409 PROMO_EXISTS if it exists)."""
    promo = await admin.promos.create(
        body.code,
        plan=body.plan,
        max_redemptions=body.maxRedemptions,
        expires_at=body.expiresAt,
        actor=caller.sub,
    )
    return _promo(promo)


@router.get(
    "/promo-codes",
    response_model=PromoList,
    responses=problem_responses(401, 403, 503),
)
async def list_promo_codes(admin: Admin, caller: AdminCaller) -> PromoList:
    """Every promo code with its redemption count, newest first."""
    return PromoList(items=[_promo(p) for p in await admin.promos.list()])


@router.get("/stats", response_model=StatsView, responses=problem_responses(401, 403, 503))
async def platform_stats(admin: Admin, caller: AdminCaller) -> StatsView:
    """Tenants by status, signups per hour (24 h), provisioning seconds, denials by reason."""
    stats = await admin.stats.read()
    seconds = stats.provisioning_seconds
    return StatsView(
        tenantsByStatus=stats.tenants_by_status,
        signupsPerHour=[
            HourCount(hour=rfc3339(hour) or "", count=count)
            for hour, count in stats.signups_per_hour
        ],
        provisioningSeconds=ProvisioningSecondsView(
            avg=seconds.avg, p50=seconds.p50, p95=seconds.p95
        ),
        denialsByReason=stats.denials_by_reason,
    )
