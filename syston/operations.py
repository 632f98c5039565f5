"""The ledger of lifecycle operations (plan change, offboarding) and their steps.

A tenant has at most one current operation (table `tenant_operations`, one row per tenant,
replaced by the next operation; the last one stays for provision-status). Its steps are
checkpointed like provisioning's (`operation_steps`): running with an attempt count, retrying
with the error, completed, or failed when the run stopped and waits for `retry`. Every write is
one conditional statement or transaction, so activities, which run at least once, repeat them
safely. `IN_PROGRESS` operations block any other lifecycle action (409 LIFECYCLE_IN_PROGRESS).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syston.core.db import OperationStep, TenantOperation, utcnow
from syston.models import BeginOperationResult, OperationStepName

IN_PROGRESS = ("running", "failed")
MAX_ERROR_MESSAGE = 1000


class OperationNotFound(LookupError):
    """The tenant has no such current operation (cancelled, replaced, or never recorded)."""


def replace_operation(
    session: AsyncSession,
    existing: TenantOperation | None,
    tenant_id: str,
    **values: Any,
) -> TenantOperation:
    """Make a new operation the tenant's current one (in the caller's transaction); the old
    one's steps go. Returns the row (flush before relying on it)."""
    now = utcnow()
    if existing is not None:
        for name in ("plan", "previous_plan", "previous_status", "delete_after", "reason"):
            setattr(existing, name, None)
        for name, value in values.items():
            setattr(existing, name, value)
        existing.run_id = values.get("run_id")
        existing.started_at, existing.completed_at, existing.updated_at = now, None, now
        operation = existing
    else:
        operation = TenantOperation(tenant_id=tenant_id, started_at=now, updated_at=now, **values)
        session.add(operation)
    return operation


async def reset_steps(
    session: AsyncSession, tenant_id: str, steps: tuple[OperationStepName, ...]
) -> None:
    await session.execute(delete(OperationStep).where(OperationStep.tenant_id == tenant_id))
    now = utcnow()
    for position, name in enumerate(steps):
        session.add(
            OperationStep(
                tenant_id=tenant_id,
                name=name,
                position=position,
                status="pending",
                attempts=0,
                updated_at=now,
            )
        )


class OperationLedger:
    """The activities' side: begin, checkpoint steps, stop, resume, finish."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def begin(
        self, tenant_id: str, type_: str, workflow_id: str, run_id: str
    ) -> BeginOperationResult:
        """Attach the run to the tenant's current operation; which steps are already done.
        Not found when the operation was cancelled or replaced (the run then just ends)."""
        async with self._sessions.begin() as session:
            operation = await session.get(TenantOperation, tenant_id, with_for_update=True)
            if (
                operation is None
                or operation.type != type_
                or operation.workflow_id != workflow_id
                or operation.status not in IN_PROGRESS
                or (operation.run_id not in (None, run_id))
            ):
                return BeginOperationResult(found=False)
            operation.run_id = run_id
            operation.updated_at = utcnow()
            done = await session.scalars(
                select(OperationStep.name).where(
                    OperationStep.tenant_id == tenant_id, OperationStep.status == "completed"
                )
            )
            return BeginOperationResult(found=True, completed_steps=list(done))  # type: ignore[arg-type]

    async def start_step(self, tenant_id: str, step: str) -> int:
        """Mark a step running and count the attempt; the attempt number."""
        now = utcnow()
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(OperationStep)
                .where(OperationStep.tenant_id == tenant_id, OperationStep.name == step)
                .values(
                    status="running",
                    attempts=OperationStep.attempts + 1,
                    started_at=func.coalesce(OperationStep.started_at, now),
                    completed_at=None,
                    updated_at=now,
                )
                .returning(OperationStep.attempts)
            )
            attempts = result.scalar_one_or_none()
        if attempts is None:
            raise OperationNotFound(tenant_id)
        return int(attempts)

    async def complete_step(self, tenant_id: str, step: str) -> None:
        now = utcnow()
        await self._set_step(
            tenant_id, step, status="completed", completed_at=now, error_code=None,
            error_message=None,
        )  # fmt: skip

    async def step_retrying(self, tenant_id: str, step: str, code: str, message: str) -> None:
        await self._set_step(
            tenant_id, step, status="retrying", error_code=code, error_message=_clip(message)
        )

    async def record_failure(self, tenant_id: str, step: str, code: str, message: str) -> None:
        """The run stopped on an error retrying won't fix: the step and the operation say so."""
        async with self._sessions.begin() as session:
            await self._update_step(
                session, tenant_id, step, status="failed", error_code=code,
                error_message=_clip(message),
            )  # fmt: skip
            await self._update_operation(session, tenant_id, "running", status="failed")

    async def resume(self, tenant_id: str) -> None:
        """A stopped run was told to retry: running again, failed steps pending."""
        async with self._sessions.begin() as session:
            await self._update_operation(session, tenant_id, "failed", status="running")
            await session.execute(
                update(OperationStep)
                .where(OperationStep.tenant_id == tenant_id, OperationStep.status == "failed")
                .values(status="pending", updated_at=utcnow())
            )

    async def finish(self, tenant_id: str, status: str) -> None:
        async with self._sessions.begin() as session:
            await self._update_operation(
                session, tenant_id, None, status=status, completed_at=utcnow()
            )

    async def _update_operation(
        self, session: AsyncSession, tenant_id: str, current: str | None, **values: Any
    ) -> None:
        conditions = [TenantOperation.tenant_id == tenant_id]
        if current is not None:
            conditions.append(TenantOperation.status == current)
        else:
            conditions.append(TenantOperation.status.in_(IN_PROGRESS))
        await session.execute(
            update(TenantOperation).where(*conditions).values(updated_at=utcnow(), **values)
        )

    async def _set_step(self, tenant_id: str, step: str, **values: Any) -> None:
        async with self._sessions.begin() as session:
            await self._update_step(session, tenant_id, step, **values)

    @staticmethod
    async def _update_step(session: AsyncSession, tenant_id: str, step: str, **values: Any) -> None:
        await session.execute(
            update(OperationStep)
            .where(OperationStep.tenant_id == tenant_id, OperationStep.name == step)
            .values(updated_at=utcnow(), **values)
        )


def _clip(message: str) -> str:
    return message if len(message) <= MAX_ERROR_MESSAGE else message[: MAX_ERROR_MESSAGE - 1] + "…"


def still_in_grace(operation: TenantOperation | None, now: datetime) -> bool:
    """An offboarding that may still be cancelled: nothing deleted, grace not over."""
    return (
        operation is not None
        and operation.type == "offboard"
        and operation.status in IN_PROGRESS
        and operation.phase == "grace"
        and operation.delete_after is not None
        and operation.delete_after > now
    )
