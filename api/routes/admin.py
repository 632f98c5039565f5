"""Platform-admin routes (CONTRACT §1 "Admin"), every one for `aud: syston-admin`, role `admin`.

    admin_webhooks   POST /tenant/webhook · POST /tenants/{id}/webhook/test
    admin_tenants    GET /tenants · GET /tenants/{id} · POST /tenants/{id}/status
    admin_access     tokens revoke / un-revoke / cut-off · promo codes · stats

`admin_services()` (admin_services.py) builds what they run on, in the app lifespan.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.routes import admin_access, admin_tenants, admin_webhooks
from api.routes.admin_services import admin_services

router = APIRouter()
for _module in (admin_webhooks, admin_tenants, admin_access):
    router.include_router(_module.router)

__all__ = ["admin_services", "router"]
