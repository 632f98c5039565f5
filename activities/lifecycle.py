"""The lifecycle workflows' activities: the operation ledger and each step's side effect with
its checkpoint (docs/temporal.md#lifecycle-workflows).

Every effect is idempotent under at-least-once execution: the sheet is found before it is
created (the same back end as provisioning), the re-announcement carries an idempotency key
stable per run, ownership is transferred only if the owner does not own the file yet, events
are queued under an id derived from the run, and every database write is conditional.
Upstream errors are classified like provisioning's: retryable ones are recorded as `retrying`
and re-raised for Temporal's backoff; permanent ones stop the run until `retry`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.provisioning import SheetsBackend, heartbeating
from integrations.errors import UpstreamConfigError, UpstreamError
from integrations.make import MakeClient, idempotency_key
from syston.core import temporal as names
from syston.core.db import utcnow
from syston.core.logs import log_event
from syston.lifecycle_store import LifecycleContext, LifecycleStore
from syston.models import (
    REGISTRATION_EVENT,
    BeginOperationInput,
    BeginOperationResult,
    FinishOperationInput,
    OperationFailureInput,
    OperationRef,
    OperationStepInput,
    OperationStepResult,
)
from syston.operations import OperationLedger, OperationNotFound
from syston.revocation import Revocations
from syston.webhook_policy import WebhookUrlRejected

OFFBOARDING_ACTOR = "system:offboarding"
Work = Callable[[LifecycleContext], Awaitable[bool]]
"""A step's effect; True when it did something, False when it was already done."""


class LifecycleActivities:
    """Activities of ChangePlan and OffboardTenant, constructed once per worker."""

    def __init__(
        self,
        ledger: OperationLedger,
        store: LifecycleStore,
        revocations: Revocations,
        *,
        sheets: SheetsBackend | None,
        make: MakeClient,
        platform_webhook_url: str | None,
        tenant_webhook_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._ledger = ledger
        self._store = store
        self._revocations = revocations
        self._sheets = sheets
        self._make = make
        self._platform_url = platform_webhook_url
        self._tenant_client = tenant_webhook_client

    def all(self) -> list[Callable[..., Awaitable[object]]]:
        return [
            self.begin_operation,
            self.record_operation_failure,
            self.resume_operation,
            self.finish_operation,
            self.begin_deletion,
            self.plan_create_sheet,
            self.plan_announce,
            self.plan_apply,
            self.offboard_transfer_sheet,
            self.offboard_notify,
            self.offboard_clear_webhook,
            self.offboard_revoke_tokens,
            self.offboard_erase_personal_data,
            self.offboard_mark_deleted,
        ]

    # -- ledger ----------------------------------------------------------------------------

    @activity.defn(name=names.ACTIVITY_BEGIN_OPERATION)
    async def begin_operation(self, request: BeginOperationInput) -> BeginOperationResult:
        """Attach the run to the tenant's operation; which steps are already completed. An
        offboarding announces itself here (once per run: the event id is derived from it)."""
        info = activity.info()
        run_id = info.workflow_run_id or ""
        begun = await self._ledger.begin(
            request.tenant_id, request.operation, info.workflow_id or "", run_id
        )
        if begun.found and request.operation == "offboard":
            await self._store.announce_offboarding(request.tenant_id, run_id)
        if info.attempt == 1:
            log_event(
                "tenant_operation_start" if begun.found else "tenant_operation_abandoned",
                tenant_id=request.tenant_id,
                operation=request.operation,
                completed_steps=begun.completed_steps,
                workflow_id=info.workflow_id,
            )
        return begun

    @activity.defn(name=names.ACTIVITY_RECORD_OPERATION_FAILURE)
    async def record_operation_failure(self, request: OperationFailureInput) -> None:
        """The operation stopped on an error retrying won't fix (waits for `retry`)."""
        await self._ledger.record_failure(
            request.tenant_id, request.step, request.code, request.message
        )
        log_event(
            "tenant_operation_failed",
            logging.ERROR,
            tenant_id=request.tenant_id,
            operation=request.operation,
            step=request.step,
            code=request.code,
            error=request.message,
        )

    @activity.defn(name=names.ACTIVITY_RESUME_OPERATION)
    async def resume_operation(self, request: OperationRef) -> None:
        """A stopped run was told to retry."""
        await self._ledger.resume(request.tenant_id)

    @activity.defn(name=names.ACTIVITY_FINISH_OPERATION)
    async def finish_operation(self, request: FinishOperationInput) -> None:
        """The operation ended: completed (the plan changed, or the tenant is deleted)."""
        await self._ledger.finish(request.tenant_id, request.status)
        event = "tenant_plan_changed" if request.operation == "plan_change" else "tenant_offboarded"
        log_event(event, tenant_id=request.tenant_id, status=request.status)

    @activity.defn(name=names.ACTIVITY_BEGIN_DELETION)
    async def begin_deletion(self, request: OperationRef) -> BeginOperationResult:
        """The grace period is over: deletion begins unless the offboarding was cancelled."""
        run_id = activity.info().workflow_run_id or ""
        found = await self._store.begin_deletion(request.tenant_id, run_id)
        log_event(
            "tenant_deletion_started" if found else "tenant_offboarding_cancelled_before_deletion",
            tenant_id=request.tenant_id,
        )
        return BeginOperationResult(found=found)

    # -- ChangePlan's steps -----------------------------------------------------------------

    @activity.defn(name=names.ACTIVITY_PLAN_CREATE_SHEET)
    async def plan_create_sheet(self, request: OperationStepInput) -> OperationStepResult:
        """Find or create the tenant's spreadsheet, shared with the owner; store its id."""

        async def work(ctx: LifecycleContext) -> bool:
            if ctx.spreadsheet_id:
                return False
            if self._sheets is None:
                raise UpstreamConfigError(
                    "no sheets back end configured: set GOOGLE_SERVICE_ACCOUNT_KEY "
                    "(SHEETS_BACKEND=google) or GAS_WEBAPP_URL (SHEETS_BACKEND=apps_script)"
                )
            if not ctx.owner_email:
                raise UpstreamConfigError("the tenant has no owner e-mail to share the sheet with")
            sheet = await self._sheets.ensure(ctx.tenant_id, ctx.club_name, ctx.owner_email)
            await self._store.store_sheet(
                ctx.tenant_id, sheet.spreadsheet_id, sheet.spreadsheet_url
            )
            return sheet.created

        return await self._checkpointed(request, work)

    @activity.defn(name=names.ACTIVITY_PLAN_ANNOUNCE)
    async def plan_announce(self, request: OperationStepInput) -> OperationStepResult:
        """Re-announce the tenant (tenant.registered, now with its sheet); the idempotency key
        is stable for this plan change, so a retried delivery is recognised downstream."""
        run_id = activity.info().workflow_run_id or ""

        async def work(ctx: LifecycleContext) -> bool:
            own = ctx.webhook_url if ctx.webhook_url != self._platform_url else None
            url = own or self._platform_url
            if not url:
                raise UpstreamConfigError("no Make webhook: set MAKE_WEBHOOK_URL")
            event = {
                "event": REGISTRATION_EVENT,
                "tenantId": ctx.tenant_id,
                "slug": ctx.slug,
                "clubName": ctx.club_name,
                "plan": ctx.operation_plan,
                "spreadsheetId": ctx.spreadsheet_id,
            }
            key = idempotency_key(ctx.tenant_id, f"{REGISTRATION_EVENT}:{run_id}")
            await self._make.deliver(url, event, key, client=self._tenant_client if own else None)
            return True

        return await self._checkpointed(request, work)

    @activity.defn(name=names.ACTIVITY_PLAN_APPLY)
    async def plan_apply(self, request: OperationStepInput) -> OperationStepResult:
        """Switch the tenant's plan and queue tenant.plan_changed (in one transaction)."""
        run_id = activity.info().workflow_run_id or ""

        async def work(ctx: LifecycleContext) -> bool:
            if ctx.operation_plan is None or ctx.previous_plan is None:
                raise UpstreamConfigError("the tenant has no plan change recorded")
            return await self._store.apply_plan(
                ctx.tenant_id, ctx.operation_plan, ctx.previous_plan, run_id
            )

        return await self._checkpointed(request, work)

    # -- OffboardTenant's steps ----------------------------------------------------------

    @activity.defn(name=names.ACTIVITY_OFFBOARD_TRANSFER_SHEET)
    async def offboard_transfer_sheet(self, request: OperationStepInput) -> OperationStepResult:
        """Transfer the spreadsheet's ownership to the owner's e-mail (never delete it)."""

        async def work(ctx: LifecycleContext) -> bool:
            if not ctx.spreadsheet_id or not ctx.owner_email:
                return False  # a starter tenant has no sheet
            if self._sheets is None:
                raise UpstreamConfigError("no sheets back end configured to transfer the sheet")
            return await self._sheets.transfer_ownership(ctx.spreadsheet_id, ctx.owner_email)

        return await self._checkpointed(request, work)

    @activity.defn(name=names.ACTIVITY_OFFBOARD_NOTIFY)
    async def offboard_notify(self, request: OperationStepInput) -> OperationStepResult:
        """Queue tenant.offboarded for the webhook of this moment (before it is cleared)."""
        run_id = activity.info().workflow_run_id or ""

        async def work(ctx: LifecycleContext) -> bool:
            await self._store.announce_offboarded(ctx.tenant_id, ctx.plan, run_id)
            return True

        return await self._checkpointed(request, work)

    @activity.defn(name=names.ACTIVITY_OFFBOARD_CLEAR_WEBHOOK)
    async def offboard_clear_webhook(self, request: OperationStepInput) -> OperationStepResult:
        """Clear the tenant's webhook URL."""

        async def work(ctx: LifecycleContext) -> bool:
            await self._store.clear_webhook(ctx.tenant_id)
            return ctx.webhook_url is not None

        return await self._checkpointed(request, work)

    @activity.defn(name=names.ACTIVITY_OFFBOARD_REVOKE_TOKENS)
    async def offboard_revoke_tokens(self, request: OperationStepInput) -> OperationStepResult:
        """Cut off every token of the tenant issued until now (403 token_revoked)."""

        async def work(ctx: LifecycleContext) -> bool:
            await self._revocations.cutoff(utcnow(), ctx.tenant_id, OFFBOARDING_ACTOR)
            return True

        return await self._checkpointed(request, work)

    @activity.defn(name=names.ACTIVITY_OFFBOARD_ERASE)
    async def offboard_erase_personal_data(
        self, request: OperationStepInput
    ) -> OperationStepResult:
        """Erase the owner's e-mail and the club name; free the slug and the e-mail."""

        async def work(ctx: LifecycleContext) -> bool:
            return await self._store.erase_personal_data(ctx.tenant_id)

        return await self._checkpointed(request, work)

    @activity.defn(name=names.ACTIVITY_OFFBOARD_MARK_DELETED)
    async def offboard_mark_deleted(self, request: OperationStepInput) -> OperationStepResult:
        """Turn the tenant `deleted` (conditional: a repeat changes nothing)."""

        async def work(ctx: LifecycleContext) -> bool:
            return await self._store.mark_deleted(ctx.tenant_id)

        return await self._checkpointed(request, work)

    # -- the checkpoint around every step ----------------------------------------------------

    async def _checkpointed(self, request: OperationStepInput, work: Work) -> OperationStepResult:
        try:
            attempt = await self._ledger.start_step(request.tenant_id, request.step)
            ctx = await self._store.context(request.tenant_id)
            if ctx is None:
                raise OperationNotFound(request.tenant_id)
        except OperationNotFound as exc:
            raise ApplicationError(
                f"tenant {request.tenant_id} has no such operation",
                type="TENANT_NOT_FOUND",
                non_retryable=True,
            ) from exc
        self._log_step(request, "running", attempt)
        try:
            async with heartbeating():
                did = await work(ctx)
        except (UpstreamError, WebhookUrlRejected) as exc:
            raise await self._classified(request, attempt, exc) from exc
        except ApplicationError:
            raise
        except Exception as exc:
            await self._note_retry(request, attempt, "INTERNAL", f"{type(exc).__name__}: {exc}")
            raise
        await self._ledger.complete_step(request.tenant_id, request.step)
        self._log_step(request, "completed", attempt, reused=not did)
        return OperationStepResult(step=request.step, reused=not did)

    async def _classified(
        self, request: OperationStepInput, attempt: int, exc: UpstreamError | WebhookUrlRejected
    ) -> ApplicationError:
        if isinstance(exc, WebhookUrlRejected):
            code, message = "WEBHOOK_URL_REJECTED", f"webhook URL refused: {exc.reason}"
            retryable, delay = exc.reason == "unresolvable", None
        else:
            code, message, retryable, delay = exc.code, exc.message, exc.retryable, exc.retry_after
        if retryable:
            await self._note_retry(request, attempt, code, message)
        return ApplicationError(
            message,
            type=code,
            non_retryable=not retryable,
            next_retry_delay=timedelta(seconds=delay) if delay else None,
        )

    async def _note_retry(
        self, request: OperationStepInput, attempt: int, code: str, message: str
    ) -> None:
        with contextlib.suppress(Exception):  # the ledger being down must not mask the error
            await self._ledger.step_retrying(request.tenant_id, request.step, code, message)
        self._log_step(request, "retrying", attempt, code=code, error=message)

    @staticmethod
    def _log_step(request: OperationStepInput, status: str, attempt: int, **fields: object) -> None:
        log_event(
            "tenant_operation_step",
            logging.WARNING if status == "retrying" else logging.INFO,
            tenant_id=request.tenant_id,
            operation=request.operation,
            step=request.step,
            status=status,
            attempt=attempt,
            **fields,
        )
