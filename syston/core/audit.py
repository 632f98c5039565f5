"""The audit trail: who changed what, when, and why (table `audit_log`).

Admin actions that change state (status overrides, webhook updates, promo codes, revocations,
cut-offs) add an entry in the same transaction as the change, so a change never lands without
its record. Entries never hold secrets: webhook URLs are stored masked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from syston.core.db import AuditEntry, utcnow

RECENT_ENTRIES = 50


@dataclass(frozen=True, slots=True)
class AuditRecord:
    at: datetime
    actor: str
    action: str
    tenant_id: str | None
    detail: dict[str, Any]


def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    tenant_id: str | None = None,
    at: datetime | None = None,
    **detail: Any,
) -> None:
    """Add an entry to `session` (committed with the change it describes)."""
    session.add(
        AuditEntry(
            at=at or utcnow(), actor=actor, action=action, tenant_id=tenant_id, detail=detail
        )
    )


async def for_tenant(
    session: AsyncSession, tenant_id: str, limit: int = RECENT_ENTRIES
) -> list[AuditRecord]:
    """The tenant's most recent entries, newest first."""
    rows = await session.scalars(
        select(AuditEntry)
        .where(AuditEntry.tenant_id == tenant_id)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(limit)
    )
    return [
        AuditRecord(at=e.at, actor=e.actor, action=e.action, tenant_id=e.tenant_id, detail=e.detail)
        for e in rows
    ]
