"""Durable intake: every accepted signup gets its ProvisionTenant workflow, whatever crashes
(docs/http-api.md#signup, docs/temporal.md#starting-a-run; runbook: README section 2).

A signup commits its tenant, its owner and a `provision_intake` row (the request to provision)
in one transaction; the row is deleted when the tenant's run begins (its first ledger write), or
by a relay that finds the workflow already started. Starting is a separate, idempotent step,
tried

- immediately after the commit by the API process that accepted the signup (best effort:
  bounded by IMMEDIATE_START_TIMEOUT and skipped while Temporal is known to be down, so the
  202 never waits on an outage), and
- by the relay (`syston.intake_relay`), a loop in every API and worker process that claims the
  rows whose `available_at` has passed and starts their workflows.

`available_at` is a lease. A new row belongs to the API that accepted it for INTAKE_GRACE, so
relays leave its immediate start alone; a relay claims rows by moving `available_at` CLAIM_LEASE
into the future in one conditional UPDATE (its candidates picked `FOR UPDATE SKIP LOCKED` on
PostgreSQL, so concurrent relays take disjoint rows without waiting; SQLite has one writer), and
a relay that dies just lets its lease run out. A double attempt is harmless anyway: the start is
keyed by the workflow id `provision-{tenantId}`, attaches to a running workflow and never starts
a second run for a tenant whose workflow already ran (`TemporalGateway.start_intake`).

    signup ──one transaction──▶ tenants + owners + provision_intake
       └─ start now                                         (intake_relayed how=immediate)
    the run begins ──▶ delete the row (same transaction as its first ledger write)
    relay, every few seconds, in every process:
       claim rows (lease) ─▶ Temporal up? ─▶ start each ─▶ delete   (intake_relayed how=relay)
                                   └─ down: release them for the next pass (intake_relay_failed)
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, cast

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syston.core.db import ProvisionRequest, Tenant, utcnow
from syston.core.errors import Unavailable
from syston.core.logs import log_event, request_id_var
from syston.provisioning_client import TemporalGateway

_INTAKE = cast(Table, ProvisionRequest.__table__)
_FILE = insert(_INTAKE)  # built once; the signup's values are its parameters

# The accepting API's own start normally takes milliseconds; past this the relay takes over.
IMMEDIATE_START_TIMEOUT = 3.0
# How long a new row is left to the API that accepted it (its immediate start) before relays
# may claim it; with the relay's interval this bounds how late a crashed API's signup starts.
INTAKE_GRACE = timedelta(seconds=5)
# A claim's lease: a relay that dies mid-pass delays its rows by at most this.
CLAIM_LEASE = timedelta(seconds=30)
RELAY_START_TIMEOUT = 10.0
RELAY_BATCH = 100
RELAY_CONCURRENCY = 10
# A start that failed for another reason than an outage is retried with backoff up to this.
MAX_RETRY_DELAY = timedelta(minutes=5)
MAX_ERROR_TEXT = 500

Outcome = Literal["started", "already_started", "not_needed", "unavailable", "error"]


@dataclass(frozen=True, slots=True)
class Backlog:
    """Requests whose workflow has not started yet."""

    pending: int
    oldest_requested_at: datetime | None
    next_available_at: datetime | None

    def oldest_age_seconds(self, now: datetime) -> float:
        if self.oldest_requested_at is None:
            return 0.0
        return max(0.0, (now - self.oldest_requested_at).total_seconds())


@dataclass(frozen=True, slots=True)
class Claimed:
    tenant_id: str
    plan: str | None  # None: the tenant no longer needs a start (see _needs_start)
    request_id: str | None
    attempts: int


@dataclass(frozen=True, slots=True)
class RelayPass:
    """What one relay pass did."""

    started: int = 0
    already_started: int = 0
    failed: int = 0
    temporal_down: bool = False


class ProvisionIntake:
    """The provision_intake rows: filed with a signup, started now or by a relay, deleted."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], temporal: TemporalGateway
    ) -> None:
        self._sessions = sessions
        self._temporal = temporal

    # -- the signup's side -----------------------------------------------------------------

    @staticmethod
    def file(db: Connection, tenant_id: str, now: datetime) -> None:
        """Add the request to provision to the signup's transaction."""
        db.execute(
            _FILE,
            {
                "tenant_id": tenant_id,
                "requested_at": now,
                "available_at": now + INTAKE_GRACE,
                "attempts": 0,
                "request_id": request_id_var.get(),
            },
        )

    async def start_now(self, tenant_id: str, plan: str) -> bool:
        """The accepting API's best-effort start right after the commit; never raises. False
        when it was left to the relay (Temporal down or slow)."""
        if self._temporal.seems_down:
            return False
        try:
            run_id = await asyncio.wait_for(
                self._temporal.start_intake(tenant_id, plan), IMMEDIATE_START_TIMEOUT
            )
        except Exception as exc:
            reason = _reason(exc)
            if reason != "error":
                self._temporal.mark_down()
            log_event(
                "intake_relay_failed",
                logging.INFO,
                how="immediate",
                reason=reason,
                tenant_id=tenant_id,
                error=_error_text(exc),
            )
            return False
        # The row stays until the run begins: its first ledger write deletes it, in the same
        # transaction (ProvisioningStore.begin). That saves the signup a write, and a run
        # that never begins within INTAKE_GRACE is looked at again by the relays.
        log_event(
            "intake_relayed",
            tenant_id=tenant_id,
            how="immediate",
            run_id=run_id,
            already_started=run_id is None,
        )
        return True

    # -- the relay's side ------------------------------------------------------------------

    async def backlog(self) -> Backlog:
        """How many requests are pending, the oldest, and when the next may be claimed."""
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(
                        func.count(),
                        func.min(ProvisionRequest.requested_at),
                        func.min(ProvisionRequest.available_at),
                    )
                )
            ).one()
        return Backlog(int(row[0] or 0), row[1], row[2])

    async def relay(self, *, batch: int = RELAY_BATCH) -> RelayPass:
        """Start the workflows of every claimable request, a batch at a time, until none is
        left or Temporal is down."""
        total = RelayPass()
        while True:
            claimed = await self.claim(batch)
            if not claimed:
                return total
            done = await self.start_claimed(claimed)
            total = RelayPass(
                started=total.started + done.started,
                already_started=total.already_started + done.already_started,
                failed=total.failed + done.failed,
                temporal_down=done.temporal_down,
            )
            if done.temporal_down or len(claimed) < batch:
                return total

    async def claim(self, limit: int) -> list[Claimed]:
        """Lease up to `limit` claimable rows to this caller (oldest first)."""
        now = utcnow()
        candidates = (
            select(ProvisionRequest.tenant_id)
            .where(ProvisionRequest.available_at <= now)
            .order_by(ProvisionRequest.requested_at)
            .limit(limit)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite serialises writers anyway
        )
        async with self._sessions.begin() as session:
            leased = (
                await session.execute(
                    update(ProvisionRequest)
                    .where(
                        ProvisionRequest.tenant_id.in_(candidates.scalar_subquery()),
                        # re-checked on the row's newest version: a row another relay just
                        # leased is not leased twice
                        ProvisionRequest.available_at <= now,
                    )
                    .values(available_at=now + CLAIM_LEASE, attempts=ProvisionRequest.attempts + 1)
                    .returning(
                        ProvisionRequest.tenant_id,
                        ProvisionRequest.request_id,
                        ProvisionRequest.attempts,
                    )
                    .execution_options(synchronize_session=False)
                )
            ).all()
            if not leased:
                return []
            tenants = {
                row.id: row
                for row in await session.execute(
                    select(Tenant.id, Tenant.plan, Tenant.status, Tenant.workflow_run_id).where(
                        Tenant.id.in_([row.tenant_id for row in leased])
                    )
                )
            }
        claimed = []
        for row in leased:
            tenant = tenants.get(row.tenant_id)
            needs_start = (
                tenant is not None
                and tenant.status == "processing"
                and tenant.workflow_run_id is None
            )
            plan = tenant.plan if tenant is not None and needs_start else None
            claimed.append(Claimed(row.tenant_id, plan, row.request_id, int(row.attempts)))
        return claimed

    async def start_claimed(self, claimed: list[Claimed]) -> RelayPass:
        """Start the claimed rows' workflows, then delete the started rows and release the
        others (at once after an outage, with backoff after another error)."""
        needed = [c for c in claimed if c.plan is not None]
        if needed and not await self._temporal.check():
            # nothing was tried: the claim does not count as an attempt
            await self._release(
                [c.tenant_id for c in claimed], "Temporal is unreachable", attempted=False
            )
            log_event(
                "intake_relay_failed",
                logging.WARNING,
                how="relay",
                reason="unavailable",
                tenants=len(claimed),
            )
            return RelayPass(failed=len(claimed), temporal_down=True)
        gate = asyncio.Semaphore(RELAY_CONCURRENCY)

        async def attempt(request: Claimed) -> tuple[Outcome, str | None]:
            async with gate:
                return await self._start(request)

        results = await asyncio.gather(*(attempt(c) for c in claimed))
        return await self._settle(list(zip(claimed, results, strict=True)))

    async def _settle(self, results: list[tuple[Claimed, tuple[Outcome, str | None]]]) -> RelayPass:
        """Delete what started, give back what met an outage, retry the rest later."""
        by_outcome: dict[Outcome, list[Claimed]] = {}
        for request, (outcome, _) in results:
            by_outcome.setdefault(outcome, []).append(request)
        done = [*by_outcome.get("started", []), *by_outcome.get("already_started", [])]
        await self._forget([c.tenant_id for c in [*done, *by_outcome.get("not_needed", [])]])
        down = by_outcome.get("unavailable", [])
        if down:
            await self._release(
                [c.tenant_id for c in down], "Temporal is unreachable", attempted=True
            )
            log_event(
                "intake_relay_failed",
                logging.WARNING,
                how="relay",
                reason="unavailable",
                tenants=len(down),
            )
        for request, (outcome, error) in results:
            if outcome == "error":
                await self._retry_later(request, error or "")
            elif outcome in ("started", "already_started"):
                log_event(
                    "intake_relayed",
                    tenant_id=request.tenant_id,
                    how="relay",
                    already_started=outcome == "already_started",
                )
            elif outcome == "not_needed":
                log_event("intake_dropped", tenant_id=request.tenant_id)
        return RelayPass(
            started=len(by_outcome.get("started", [])),
            already_started=len(by_outcome.get("already_started", [])),
            failed=len(by_outcome.get("error", [])) + len(down),
            temporal_down=bool(down),
        )

    async def _start(self, request: Claimed) -> tuple[Outcome, str | None]:
        if request.plan is None:
            return "not_needed", None
        # the workflow's log lines carry the signup's request id, whoever starts it
        request_id_var.set(request.request_id)
        try:
            run_id = await asyncio.wait_for(
                self._temporal.start_intake(request.tenant_id, request.plan),
                RELAY_START_TIMEOUT,
            )
        except Exception as exc:
            reason = _reason(exc)
            if reason != "error":
                self._temporal.mark_down()
                return "unavailable", _error_text(exc)
            return "error", _error_text(exc)
        return ("started" if run_id is not None else "already_started"), None

    async def _forget(self, tenant_ids: list[str]) -> None:
        if not tenant_ids:
            return
        async with self._sessions.begin() as session:
            await session.execute(
                delete(ProvisionRequest).where(ProvisionRequest.tenant_id.in_(tenant_ids))
            )

    async def _release(self, tenant_ids: list[str], error: str, *, attempted: bool) -> None:
        """Give rows back for the next pass (Temporal was down; it may be back any moment)."""
        attempts = ProvisionRequest.attempts if attempted else ProvisionRequest.attempts - 1
        async with self._sessions.begin() as session:
            await session.execute(
                update(ProvisionRequest)
                .where(ProvisionRequest.tenant_id.in_(tenant_ids))
                .values(available_at=utcnow(), last_error=error, attempts=attempts)
            )

    async def _retry_later(self, request: Claimed, error: str) -> None:
        delay = min(INTAKE_GRACE * 2 ** max(0, request.attempts - 1), MAX_RETRY_DELAY)
        async with self._sessions.begin() as session:
            await session.execute(
                update(ProvisionRequest)
                .where(ProvisionRequest.tenant_id == request.tenant_id)
                .values(available_at=utcnow() + delay, last_error=error)
            )
        log_event(
            "intake_relay_failed",
            logging.WARNING,
            how="relay",
            reason="error",
            tenant_id=request.tenant_id,
            attempts=request.attempts,
            error=error,
            retry_in_s=int(delay.total_seconds()),
        )


def _reason(exc: BaseException) -> Literal["unavailable", "timeout", "error"]:
    if isinstance(exc, Unavailable):
        return "unavailable"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return "error"


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "TimeoutError: Temporal did not answer in time"
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= MAX_ERROR_TEXT else text[: MAX_ERROR_TEXT - 1] + "…"
