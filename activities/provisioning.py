"""The provisioning activities: each step's side effect plus its checkpoint in the database.

Activities run at least once, so every effect is idempotent: the sheet is found before it is
created, webhook events carry an idempotency key stable per tenant and event, and status
transitions are conditional updates. Upstream errors are classified once (integrations.errors):
retryable ones are recorded as `retrying` and re-raised for Temporal's backoff (honouring
Retry-After); permanent ones stop the step so the workflow records the failure and waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from integrations.errors import UpstreamConfigError, UpstreamError
from integrations.make import MakeClient, idempotency_key
from integrations.sheets import Spreadsheet
from syston.core import temporal as names
from syston.core.db import utcnow
from syston.core.logs import log_event, mask_url
from syston.models import (
    REGISTRATION_EVENT,
    BeginInput,
    BeginResult,
    FailureInput,
    ResumeInput,
    StepInput,
    StepResult,
)
from syston.provisioning_store import ProvisioningContext, ProvisioningStore, TenantNotFound
from syston.webhook_policy import WebhookUrlRejected

HEARTBEAT_EVERY_SECONDS = 2.0


@dataclass(frozen=True)
class StepDone:
    """A step's result plus the resources to store with its completion (one transaction);
    `recorded` when the step's own write already marked it completed."""

    result: StepResult
    resources: dict[str, Any] = field(default_factory=dict)
    recorded: bool = False


RETRYABLE_URL_REJECTIONS = frozenset({"unresolvable"})


class SheetsBackend(Protocol):
    """Finds or creates the tenant's spreadsheet (Google APIs or the Apps Script web app)."""

    async def ensure(self, tenant_id: str, club_name: str, owner_email: str) -> Spreadsheet: ...

    async def transfer_ownership(self, spreadsheet_id: str, email: str) -> bool: ...


class ProvisioningActivities:
    """Activities of ProvisionTenant, constructed once per worker with their clients."""

    def __init__(
        self,
        store: ProvisioningStore,
        *,
        sheets: SheetsBackend | None,
        make: MakeClient,
        platform_webhook_url: str | None,
        tenant_webhook_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._store = store
        self._sheets = sheets
        self._make = make
        self._platform_webhook_url = platform_webhook_url
        self._tenant_webhook_client = tenant_webhook_client

    def all(self) -> list[Callable[..., Awaitable[object]]]:
        return [
            self.begin,
            self.record_failure,
            self.resume,
            self.create_sheet,
            self.configure_webhook,
            self.mark_active,
        ]

    # -- ledger activities ---------------------------------------------------------------

    @activity.defn(name=names.ACTIVITY_BEGIN)
    async def begin(self, request: BeginInput) -> BeginResult:
        """Record the run and report which steps are already completed."""
        result = await self._store.begin(
            request.tenant_id,
            request.plan,
            force=request.force,
            run_id=activity.info().workflow_run_id or "",
        )
        _log_begin(request, result)
        return result

    @activity.defn(name=names.ACTIVITY_RECORD_FAILURE)
    async def record_failure(self, request: FailureInput) -> None:
        """Put the tenant in `failed` with the step and error that stopped it."""
        await self._store.record_failure(
            request.tenant_id, request.step, request.code, request.message
        )
        log_event(
            "tenant_provision_step",
            logging.ERROR,
            tenant_id=request.tenant_id,
            step=request.step,
            status="failed",
            code=request.code,
        )
        log_event(
            "tenant_provision_failed",
            logging.ERROR,
            tenant_id=request.tenant_id,
            step=request.step,
            code=request.code,
            error=request.message,
        )

    @activity.defn(name=names.ACTIVITY_RESUME)
    async def resume(self, request: ResumeInput) -> None:
        """A stopped run was told to retry: the tenant is processing again."""
        await self._store.resume(request.tenant_id)

    # -- steps ---------------------------------------------------------------------------

    @activity.defn(name=names.ACTIVITY_CREATE_SHEET)
    async def create_sheet(self, request: StepInput) -> StepResult:
        """Find or create the club's spreadsheet, shared with the owner; store its id."""

        async def work(ctx: ProvisioningContext) -> StepDone:
            if ctx.spreadsheet_id and not request.force:
                return StepDone(StepResult(step="create_sheet", reused=True))
            if self._sheets is None:
                raise UpstreamConfigError(
                    "no sheets back end configured: set GOOGLE_SERVICE_ACCOUNT_KEY "
                    "(SHEETS_BACKEND=google) or GAS_WEBAPP_URL (SHEETS_BACKEND=apps_script)"
                )
            sheet = await self._sheets.ensure(ctx.tenant_id, ctx.club_name, ctx.owner_email)
            return StepDone(
                StepResult(step="create_sheet", reused=not sheet.created),
                {"spreadsheet_id": sheet.spreadsheet_id, "spreadsheet_url": sheet.spreadsheet_url},
            )

        return await self._checkpointed(request, work)

    @activity.defn(name=names.ACTIVITY_CONFIGURE_WEBHOOK)
    async def configure_webhook(self, request: StepInput) -> StepResult:
        """Deliver the tenant.registered event to the tenant's Make webhook (idempotency key)."""

        async def work(ctx: ProvisioningContext) -> StepDone:
            url = ctx.tenant_webhook_url or self._platform_webhook_url
            if not url:
                raise UpstreamConfigError(
                    "no Make webhook: set MAKE_WEBHOOK_URL or the tenant's webhook "
                    "(POST /api/v1/admin/tenant/webhook)"
                )
            # Only a URL an admin set is policed; the platform's is operator configuration.
            trusted = ctx.tenant_webhook_url is None
            event = {
                "event": REGISTRATION_EVENT,
                "tenantId": ctx.tenant_id,
                "slug": ctx.slug,
                "clubName": ctx.club_name,
                "plan": ctx.plan,
                "spreadsheetId": ctx.spreadsheet_id,
            }
            await self._make.deliver(
                url,
                event,
                idempotency_key(ctx.tenant_id, REGISTRATION_EVENT),
                client=None if trusted else self._tenant_webhook_client,
            )
            log_event("webhook_delivered", tenant_id=ctx.tenant_id, url=mask_url(url))
            # Not the URL: storing the platform's hook would make it look like the tenant's
            # own, which it keeps after the operator moves MAKE_WEBHOOK_URL.
            return StepDone(
                StepResult(step="configure_webhook"), {"webhook_registered_at": utcnow()}
            )

        return await self._checkpointed(request, work)

    @activity.defn(name=names.ACTIVITY_MARK_ACTIVE)
    async def mark_active(self, request: StepInput) -> StepResult:
        """Conditional transition to `active`; a repeat changes nothing."""

        async def work(ctx: ProvisioningContext) -> StepDone:
            activation = await self._store.mark_active(ctx.tenant_id)
            if activation.activated:
                log_event(
                    "tenant_provision_complete",
                    tenant_id=ctx.tenant_id,
                    plan=ctx.plan,
                    duration_ms=activation.duration_ms,
                )
            # An activation completes the step in its own transaction.
            return StepDone(
                StepResult(step="mark_active", reused=not activation.activated),
                recorded=activation.activated,
            )

        return await self._checkpointed(request, work)

    # -- the checkpoint around every step --------------------------------------------------

    async def _checkpointed(
        self, request: StepInput, work: Callable[[ProvisioningContext], Awaitable[StepDone]]
    ) -> StepResult:
        # request_id is already set by syston.core.correlation: the API request that started or
        # re-queued this run (the workflow id when there was none).
        begun: BeginResult | None = None
        try:
            if request.begin is None:
                attempt, ctx = await self._store.start_step(request.tenant_id, request.step)
            else:
                # The run's first step records the run's start in the same transaction.
                begun, started = await self._store.begin_with_step(
                    request.tenant_id,
                    request.begin.plan,
                    request.step,
                    force=request.begin.force,
                    run_id=activity.info().workflow_run_id or "",
                )
                _log_begin(request.begin, begun)
                if started is None:  # the tenant is gone, or this step was done before
                    return StepResult(step=request.step, reused=begun.found, begun=begun)
                attempt, ctx = started
        except TenantNotFound as exc:
            raise ApplicationError(
                f"tenant {request.tenant_id} does not exist",
                type="TENANT_NOT_FOUND",
                non_retryable=True,
            ) from exc
        log_event(
            "tenant_provision_step",
            tenant_id=request.tenant_id,
            step=request.step,
            status="running",
            attempt=attempt,
        )
        try:
            async with heartbeating():
                done = await work(ctx)
        except (UpstreamError, WebhookUrlRejected) as exc:
            raise await self._classified(request, attempt, exc) from exc
        except ApplicationError:
            raise
        except Exception as exc:
            # A bug or an infrastructure hiccup (e.g. the database): retried with backoff,
            # and visible in provision-status meanwhile.
            await self._note_retry(request, attempt, "INTERNAL", f"{type(exc).__name__}: {exc}")
            raise
        if not done.recorded:
            await self._store.complete_step(request.tenant_id, request.step, **done.resources)
        result = done.result.model_copy(update={"begun": begun}) if begun else done.result
        log_event(
            "tenant_provision_step",
            tenant_id=request.tenant_id,
            step=request.step,
            status="completed",
            attempt=attempt,
            reused=result.reused,
        )
        return result

    async def _classified(
        self, request: StepInput, attempt: int, exc: UpstreamError | WebhookUrlRejected
    ) -> ApplicationError:
        if isinstance(exc, WebhookUrlRejected):
            # At delivery time a name that does not resolve is most likely a DNS blip: retry
            # (and stop once attempts run out). Every other reason is a property of the URL.
            code, message, retryable, delay = (
                "WEBHOOK_URL_REJECTED",
                f"webhook URL refused: {exc.reason}",
                exc.reason in RETRYABLE_URL_REJECTIONS,
                None,
            )
        else:
            code, message, retryable = exc.code, exc.message, exc.retryable
            delay = exc.retry_after
        if retryable:
            await self._note_retry(request, attempt, code, message)
        return ApplicationError(
            message,
            type=code,
            non_retryable=not retryable,
            next_retry_delay=timedelta(seconds=delay) if delay else None,
        )

    async def _note_retry(self, request: StepInput, attempt: int, code: str, message: str) -> None:
        with contextlib.suppress(Exception):  # the ledger being down must not mask the error
            await self._store.step_retrying(request.tenant_id, request.step, code, message)
        log_event(
            "tenant_provision_step",
            logging.WARNING,
            tenant_id=request.tenant_id,
            step=request.step,
            status="retrying",
            attempt=attempt,
            code=code,
            error=message,
        )


def _log_begin(request: BeginInput, result: BeginResult) -> None:
    """The run's start, logged once (on the first attempt of whatever activity recorded it)."""
    info = activity.info()
    if not result.found:
        log_event("tenant_provision_abandoned", logging.WARNING, tenant_id=request.tenant_id)
    elif info.attempt == 1:
        log_event(
            "tenant_provision_start",
            tenant_id=request.tenant_id,
            plan=request.plan,
            force=request.force,
            completed_steps=result.completed_steps,
            workflow_id=info.workflow_id,
        )


@contextlib.asynccontextmanager
async def heartbeating() -> AsyncIterator[None]:
    """Heartbeat while a step waits on upstreams, so a dead worker is noticed quickly."""

    async def beat() -> None:
        # The first beat after an interval, not at once: a step that finishes quickly (the
        # usual case) costs Temporal no heartbeat call at all.
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY_SECONDS)
            activity.heartbeat()

    if activity.info().is_local:  # a local activity cannot heartbeat (its worker runs it)
        yield
        return
    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
