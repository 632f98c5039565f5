"""Migrations on SQLite and PostgreSQL: 0003 files a request to provision for every tenant an
older version accepted but left `processing` with no run, so the intake relay heals those too."""

from __future__ import annotations

from alembic import command
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from syston.core.db import ProvisionRequest, Tenant, utcnow
from syston.core.engine import create_engine
from syston.migrations import alembic_config


async def alembic(engine: AsyncEngine, action: str, revision: str) -> None:
    def run(connection: object) -> None:
        config = alembic_config(str(engine.url))
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


async def test_the_migration_files_requests_for_tenants_left_without_a_workflow(
    database_url: str,
) -> None:
    engine = create_engine(database_url)
    try:
        await alembic(engine, "downgrade", "0001")
        now = utcnow()
        rows = {
            "tenant_stranded": ("processing", None),
            "tenant_running": ("processing", "run-1"),
            "tenant_done": ("active", "run-2"),
        }
        async with engine.begin() as conn:
            for tenant_id, (status, run_id) in rows.items():
                await conn.execute(
                    insert(Tenant).values(
                        id=tenant_id,
                        slug=tenant_id.replace("_", "-"),
                        club_name=tenant_id,
                        plan="pro",
                        status=status,
                        payload_hash="x",
                        workflow_run_id=run_id,
                        created_at=now,
                        updated_at=now,
                    )
                )
        await alembic(engine, "upgrade", "head")
        async with engine.connect() as conn:
            filed = (
                await conn.execute(
                    select(
                        ProvisionRequest.tenant_id,
                        ProvisionRequest.requested_at,
                        ProvisionRequest.available_at,
                    )
                )
            ).all()
        assert [tuple(r) for r in filed] == [("tenant_stranded", now, now)]
    finally:
        await engine.dispose()
