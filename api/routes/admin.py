"""Platform-admin routes (docs/http-api.md#admin), every one for `aud: syston-admin`, role `admin`.

admin_webhooks   POST /tenant/webhook · POST /tenants/{id}/webhook/test
admin_tenants    GET /tenants · GET /tenants/{id} · POST /tenants/{id}/status
admin_access     tokens revoke / un-revoke / cut-off · promo codes · stats
admin_lifecycle  POST /tenants/{id}/plan · suspend · reactivate · DELETE /tenants/{id} ·
                 POST /tenants/{id}/offboard/cancel
"""

from __future__ import annotations

from fastapi import APIRouter

from api.routes import admin_access, admin_lifecycle, admin_tenants, admin_webhooks

router = APIRouter()
for _module in (admin_webhooks, admin_tenants, admin_access, admin_lifecycle):
    router.include_router(_module.router)

__all__ = ["router"]
