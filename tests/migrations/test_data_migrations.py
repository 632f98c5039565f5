"""Data migrations on both databases: rows written by an older release read right afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from syston.core.db import AuditEntry, Owner, Tenant, TenantResources
from syston.core.engine import create_engine
from syston.migrations import migrate_engine
from tests.support.database import postgres_database
from tests.support.stack import sqlite_url_in

PLATFORM_HOOK = "https://hook.eu1.make.com/platform-hook-of-the-time"
ADMIN_HOOK = "https://hook.eu1.make.com/set-by-an-admin"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database with no schema at all (the session's PostgreSQL one is already migrated)."""
    if request.param == "sqlite":
        yield sqlite_url_in(tmp_path, "old.db")
        return
    async with postgres_database() as url:
        yield url


def tenant_row(tenant_id: str) -> dict[str, object]:
    return {
        "id": tenant_id,
        "slug": tenant_id.replace("_", "-"),
        "club_name": "Club",
        "plan": "starter",
        "status": "active",
        "payload_hash": "0" * 64,
        "created_at": NOW,
        "updated_at": NOW,
    }


async def test_a_platform_hook_stored_by_provisioning_is_no_longer_the_tenants_own(
    empty_database: str,
) -> None:
    engine = create_engine(empty_database)
    try:
        await migrate_engine(engine, "0001")
        async with engine.begin() as conn:
            for tenant_id in ("tenant_platform", "tenant_admin_set"):
                await conn.execute(insert(Tenant).values(**tenant_row(tenant_id)))
                await conn.execute(
                    insert(Owner).values(
                        id=f"user_{tenant_id}",
                        tenant_id=tenant_id,
                        email=f"{tenant_id}@example.org",
                        email_normalized=f"{tenant_id}@example.org",
                        created_at=NOW,
                    )
                )
            # configure_webhook used to store the platform hook it delivered to ...
            await conn.execute(
                insert(TenantResources).values(
                    tenant_id="tenant_platform",
                    webhook_url=PLATFORM_HOOK,
                    webhook_registered_at=NOW,
                    updated_at=NOW,
                )
            )
            # ... exactly as it stored an admin-set URL, which the audit trail records
            await conn.execute(
                insert(TenantResources).values(
                    tenant_id="tenant_admin_set",
                    webhook_url=ADMIN_HOOK,
                    webhook_registered_at=NOW,
                    updated_at=NOW,
                )
            )
            await conn.execute(
                insert(AuditEntry).values(
                    at=NOW,
                    actor="ops",
                    action="webhook_updated",
                    tenant_id="tenant_admin_set",
                    detail={},
                )
            )

        await migrate_engine(engine)

        async with engine.connect() as conn:
            rows = await conn.execute(
                select(TenantResources.tenant_id, TenantResources.webhook_url)
            )
            stored = {tenant_id: url for tenant_id, url in rows}
        assert stored == {"tenant_platform": None, "tenant_admin_set": ADMIN_HOOK}
    finally:
        await engine.dispose()
