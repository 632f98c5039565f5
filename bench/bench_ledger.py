"""The database's share of one pro tenant: every ledger write on its path, in CPU and statements.

    .venv/bin/python bench/bench_ledger.py [--database sqlite|postgresql|both] [--tenants 300]

In one process (no Temporal, no HTTP), against a fresh database migrated like production: the
signup's insert, the run's begin, each step's start and completion, the activation with its
event, and the outbox's claim and settle of that event, each timed over `tenants` tenants. The
baseline, measured in the same run, is the cheapest transaction there is on the same path: one
`UPDATE` of one row by primary key, committed through `run_transaction` (the hot paths' helper,
syston/core/db.py); the same statement on the async engine (aiosqlite or asyncpg, what the hot
paths used before) is printed beside it for reference. Each operation is reported in CPU ms (of
all the process's threads), as a multiple of that baseline, and in statements (counted by a
SQLAlchemy event on every engine).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import PG_ADMIN_URL, _pg_admin
from syston.core.db import utcnow
from syston.core.engine import create_engine, run_transaction, sessionmaker
from syston.lifecycle_events import EventOutbox
from syston.migrations import migrate_engine
from syston.provisioning_store import ProvisioningStore
from syston.signup import SignupData, SignupService

PRO_STEPS = ("create_sheet", "configure_webhook", "mark_active")


@contextlib.asynccontextmanager
async def database_url(database: str) -> AsyncIterator[str]:
    if database == "sqlite":
        with tempfile.TemporaryDirectory(prefix="syston-ledger-") as folder:
            yield f"sqlite+aiosqlite:///{folder}/ledger.db"
        return
    name = f"syston_ledger_{uuid.uuid4().hex[:8]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + (
            f"/{name}"
        )
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def run_database(database: str, tenants: int) -> None:
    async with database_url(database) as url:
        engine = create_engine(url)
        statements = 0

        # every engine: on SQLite the hot paths run on the engine's blocking twin
        @event.listens_for(Engine, "before_cursor_execute")
        def _count(*_: Any) -> None:
            nonlocal statements
            statements += 1

        try:
            await migrate_engine(engine)
            sessions = sessionmaker(engine)
            store = ProvisioningStore(sessions)
            outbox = EventOutbox(sessions)
            # The signup's own transaction (the rest of SignupService needs Temporal and HTTP).
            signup = SignupService(sessions, intake=None, tokens=None)  # type: ignore[arg-type]
            async with engine.begin() as db:
                await db.execute(
                    text("CREATE TABLE bench_baseline (id INTEGER PRIMARY KEY, n INT)")
                )
                await db.execute(text("INSERT INTO bench_baseline VALUES (1, 0)"))
            baseline_stmt = text("UPDATE bench_baseline SET n = n + 1 WHERE id = 1")
            ids = [f"tenant_ledger{uuid.uuid4().hex}" for _ in range(tenants)]
            rows: list[tuple[str, float, float]] = []

            async def timed(name: str, op: Callable[[str], Awaitable[object]]) -> None:
                nonlocal statements
                statements = 0
                started = time.process_time()
                for tenant_id in ids:
                    await op(tenant_id)
                cpu_ms = (time.process_time() - started) * 1000 / tenants
                rows.append((name, cpu_ms, statements / tenants))

            async def baseline(_: str) -> None:
                await run_transaction(sessions, Connection.execute, baseline_stmt)

            async def async_baseline(_: str) -> None:
                async with engine.begin() as db:
                    await db.execute(baseline_stmt)

            async def insert(tenant_id: str) -> None:
                slug = tenant_id.replace("_", "-")
                data = SignupData("Ledger FC", slug, f"{slug}@example.org", "pro", None)
                await signup._insert(data, "0" * 64, tenant_id, "usr_" + tenant_id[-20:])

            async def claim_and_settle(_: str) -> None:
                # the dispatcher claims what is due in batches; one event each is the worst case
                (claimed,) = await outbox.claim_due(1, timedelta(seconds=60))
                await outbox.delivered([(claimed.id, 200)])

            completions: dict[str, Callable[[str], Awaitable[object]]] = {
                "create_sheet": lambda t: store.complete_step(
                    t, "create_sheet", spreadsheet_id="s", spreadsheet_url="u"
                ),
                "configure_webhook": lambda t: store.complete_step(
                    t, "configure_webhook", webhook_registered_at=utcnow()
                ),
                "mark_active": store.mark_active,
            }
            await timed("baseline: 1 UPDATE, committed", baseline)
            await timed("the same, async engine (reference)", async_baseline)
            await timed("signup: insert (API)", insert)
            await timed("begin", lambda t: store.begin(t, "pro", force=False, run_id="r"))
            for step in PRO_STEPS:
                await timed(f"{step}: start", lambda t, s=step: store.start_step(t, s))
                await timed(f"{step}: complete", completions[step])
            await timed("outbox: claim + settle", claim_and_settle)
        finally:
            event.remove(Engine, "before_cursor_execute", _count)
            await engine.dispose()

    base = rows[0][1]
    print(f"\n[{database}] one pro tenant's ledger, {tenants} tenants, CPU of this process")
    print(f"  {'operation':34s} {'CPU ms':>7s} {'x base':>7s} {'stmts':>6s}")
    for name, cpu_ms, stmts in rows:
        print(f"  {name:34s} {cpu_ms:7.2f} {cpu_ms / base:7.1f} {stmts:6.1f}")
    tenant_rows = rows[2:]
    total = sum(r[1] for r in tenant_rows)
    print(
        f"  {'per tenant (the rest)':34s} {total:7.2f} {total / base:7.1f} "
        f"{sum(r[2] for r in tenant_rows):6.1f}   ({len(tenant_rows)} transactions)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--tenants", type=int, default=300)
    args = parser.parse_args()
    for database in ["sqlite", "postgresql"] if args.database == "both" else [args.database]:
        await run_database(database, args.tenants)


if __name__ == "__main__":
    asyncio.run(main())
