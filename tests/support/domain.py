"""For domain tests (no Temporal, no HTTP): a migrated SQLite database copied from a template
migrated once per session, a stand-in for the Temporal gateway on the intake's path, and
signing a club up through the real SignupService."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syston.core.db import AuditEntry
from syston.core.errors import Unavailable
from syston.signup import SignupData, SignupService
from tests.support.stack import migrate, sqlite_url_in

Sessions = async_sessionmaker[AsyncSession]


async def migrated_sqlite_template(directory: Path) -> Path:
    """A SQLite file with the newest schema (by the migrations, as `syston migrate` does)."""
    await migrate(sqlite_url_in(directory, "template.db"))
    return directory / "template.db"


def fresh_copy(template: Path, directory: Path) -> str:
    """A copy of the migrated template in `directory`; its URL."""
    shutil.copyfile(template, directory / "syston.db")
    return sqlite_url_in(directory)


@dataclass
class TemporalStandIn:
    """Takes the place of `TemporalGateway` where the intake starts provisioning (a signup's
    immediate start, a relay pass): it records the starts asked for; with `down=True` it fails
    the way the gateway does when Temporal is unreachable. Only for the intake, which needs
    nothing else from Temporal."""

    started: list[tuple[str, str]] = field(default_factory=list)
    down: bool = False
    seems_down: bool = False
    refusal: Exception | None = None  # a start Temporal refuses for another reason

    async def start_intake(self, tenant_id: str, plan: str) -> str | None:
        if self.down:
            self.mark_down()
            raise Unavailable("Temporal at 127.0.0.1:7233 is unreachable; retry shortly.")
        if self.refusal is not None:
            raise self.refusal
        self.started.append((tenant_id, plan))
        return f"run-of-{tenant_id}"

    async def check(self) -> bool:
        self.seems_down = self.down
        return not self.down

    def mark_down(self) -> None:
        self.seems_down = True


def club(slug: str, plan: str = "pro", **fields: Any) -> SignupData:
    """The signup of a club called after its slug (fields override the defaults)."""
    values: dict[str, Any] = {
        "club_name": f"Club {slug}",
        "club_slug": slug,
        "email": f"{slug}@example.org",
        "plan": plan,
        "promo_code": None,
    }
    values.update(fields)
    return SignupData(**values)


async def signed_up(service: SignupService, slug: str, plan: str = "pro", **fields: Any) -> str:
    """Sign a club up (it must be accepted); its tenant id."""
    outcome = await service.signup(club(slug, plan, **fields), None)
    assert outcome.status_code == 202, outcome
    assert outcome.tenant_id is not None
    return outcome.tenant_id


async def audit_trail(sessions: Sessions) -> list[tuple[str, str, str | None, dict[str, Any]]]:
    """Every audit entry, oldest first: (actor, action, tenant id, detail)."""
    async with sessions() as session:
        rows = await session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        return [(e.actor, e.action, e.tenant_id, e.detail) for e in rows]
