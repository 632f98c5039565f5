"""Starting and signalling the workflows from the API and the relays (one Temporal client per
process): ProvisionTenant (start, re-queue, override) and the lifecycle workflows ChangePlan and
OffboardTenant.

Two ways to start a tenant's provisioning, both keyed by its id `provision-{tenantId}`:
`start_intake` for an accepted signup (attaches to a running workflow and never starts a second
run for a tenant whose workflow already ran, so the intake may try as often as it likes), and
`start_provisioning` for a re-queue (which does start a new run once the old one has closed).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.client import Client, Interceptor, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from syston.core.errors import LifecycleInProgress, Unavailable
from syston.core.settings import Settings
from syston.core.temporal import (
    CANCEL_OFFBOARD_SIGNAL,
    LIFECYCLE_OPERATION_ATTR,
    OFFBOARD_WORKFLOW,
    OVERRIDE_SIGNAL,
    PLAN_CHANGE_WORKFLOW,
    PROVISION_STATUS_ATTR,
    PROVISION_WORKFLOW,
    RETRY_SIGNAL,
    TENANT_ID_ATTR,
    TENANT_PLAN_ATTR,
    offboard_workflow_id,
    plan_change_workflow_id,
    provision_workflow_id,
)
from syston.core.temporal_client import TemporalConfigError, connect, describe_target
from syston.models import (
    RUN_SHAPE_BEGIN_IN_FIRST_STEP,
    ChangePlanInput,
    OffboardInput,
    ProvisionInput,
    RequeueAction,
    StatusOverridden,
)

CONNECT_TIMEOUT_SECONDS = 5.0
# After Temporal was found unreachable, calls that must not wait (a signup's immediate start, a
# re-queue) give up at once for this long rather than each spending the SDK's ~10 s of retries.
# Longer than the intake relay's interval: during an outage its probes (and /ready's) keep the
# hint fresh, and its first successful probe clears it as soon as Temporal is back.
DOWN_HINT_SECONDS = 10.0
_UNAVAILABLE_CODES = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED}


@dataclass(frozen=True)
class RequeueOutcome:
    action: RequeueAction
    workflow_id: str
    run_id: str | None


class TemporalGateway:
    """Holds the process's Temporal client, connecting lazily (the API starts without it)."""

    def __init__(
        self,
        settings: Settings,
        client: Client | None = None,
        interceptors: Sequence[Interceptor] = (),
    ) -> None:
        self._settings = settings
        self._client = client
        self._interceptors = interceptors
        self._lock = asyncio.Lock()
        self._down_at: float | None = None

    async def client(self) -> Client:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                try:
                    self._client = await asyncio.wait_for(
                        connect(self._settings, interceptors=self._interceptors),
                        CONNECT_TIMEOUT_SECONDS,
                    )
                except (TimeoutError, RuntimeError, OSError, TemporalConfigError) as exc:
                    self.mark_down()
                    address, _ = describe_target(self._settings)
                    raise Unavailable(
                        f"Temporal at {address} is unreachable; retry shortly."
                    ) from exc
            return self._client

    async def check(self) -> bool:
        """Whether Temporal answers a health check now (never raises)."""
        try:
            client = await self.client()
            await asyncio.wait_for(client.service_client.check_health(), 3)
        except Exception:
            self.mark_down()
            return False
        self._down_at = None
        return True

    @property
    def seems_down(self) -> bool:
        """Temporal was unreachable within the last DOWN_HINT_SECONDS (and not since seen up)."""
        return self._down_at is not None and time.monotonic() - self._down_at < DOWN_HINT_SECONDS

    def mark_down(self) -> None:
        self._down_at = time.monotonic()

    def _unavailable(self, exc: RPCError) -> Exception:
        if exc.status in _UNAVAILABLE_CODES:
            self.mark_down()
            return Unavailable(f"Temporal is unavailable ({exc.status.name}); retry shortly.")
        return exc

    def _fail_fast(self) -> None:
        if self.seems_down:
            raise Unavailable("Temporal is unavailable; retry shortly.")

    # -- provisioning ----------------------------------------------------------------------

    async def start_intake(self, tenant_id: str, plan: str) -> str | None:
        """Start an accepted signup's ProvisionTenant, or attach to the running one; returns
        its run id, or None when the tenant's workflow already ran (closed): it is never run
        twice from the intake, however often this is called."""
        try:
            return await self._start(
                tenant_id, plan, force=False, reuse=WorkflowIDReusePolicy.REJECT_DUPLICATE
            )
        except WorkflowAlreadyStartedError:
            self._down_at = None
            return None

    async def start_provisioning(self, tenant_id: str, plan: str, *, force: bool = False) -> str:
        """Start ProvisionTenant, or attach to the running one (a new run if the last one
        closed: the re-queue); returns the run id."""
        return await self._start(
            tenant_id, plan, force=force, reuse=WorkflowIDReusePolicy.ALLOW_DUPLICATE
        )

    async def _start(
        self, tenant_id: str, plan: str, *, force: bool, reuse: WorkflowIDReusePolicy
    ) -> str:
        client = await self.client()
        request = ProvisionInput.model_validate(
            {
                "tenant_id": tenant_id,
                "plan": plan,
                "force": force,
                "shape": RUN_SHAPE_BEGIN_IN_FIRST_STEP,
            }
        )
        try:
            handle: WorkflowHandle[Any, Any] = await client.start_workflow(
                PROVISION_WORKFLOW,
                request,
                id=provision_workflow_id(tenant_id),
                task_queue=self._settings.temporal_task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=reuse,
                search_attributes=_attributes(tenant_id, plan, "processing", "provision"),
            )
        except RPCError as exc:
            raise self._unavailable(exc) from exc
        self._down_at = None
        return handle.result_run_id or ""

    # -- the lifecycle after signup --------------------------------------------------------

    async def start_plan_change(self, tenant_id: str, plan: str, previous_plan: str) -> str:
        """Start ChangePlan (`plan-{tenantId}`); 409 LIFECYCLE_IN_PROGRESS if one runs."""
        client = await self.client()
        request = ChangePlanInput.model_validate(
            {"tenant_id": tenant_id, "plan": plan, "previous_plan": previous_plan}
        )
        try:
            handle: WorkflowHandle[Any, Any] = await client.start_workflow(
                PLAN_CHANGE_WORKFLOW,
                request,
                id=plan_change_workflow_id(tenant_id),
                task_queue=self._settings.temporal_task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                search_attributes=_attributes(tenant_id, previous_plan, "active", "plan_change"),
            )
        except WorkflowAlreadyStartedError:
            raise LifecycleInProgress(tenant_id, "plan change") from None
        except RPCError as exc:
            raise self._unavailable(exc) from exc
        return handle.result_run_id or ""

    async def start_offboarding(self, tenant_id: str, plan: str, delete_after: datetime) -> str:
        """Start OffboardTenant (`offboard-{tenantId}`). The database has already moved the
        tenant to `deprovisioning`, so a leftover run of the same id (a cancelled one still
        closing) is replaced."""
        client = await self.client()
        request = OffboardInput(tenant_id=tenant_id, delete_after=delete_after)
        try:
            handle: WorkflowHandle[Any, Any] = await client.start_workflow(
                OFFBOARD_WORKFLOW,
                request,
                id=offboard_workflow_id(tenant_id),
                task_queue=self._settings.temporal_task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.TERMINATE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                search_attributes=_attributes(tenant_id, plan, "deprovisioning", "offboard"),
            )
        except RPCError as exc:
            raise self._unavailable(exc) from exc
        return handle.result_run_id or ""

    async def stop_provisioning(self, tenant_id: str) -> bool:
        """End the tenant's open ProvisionTenant run (offboarding comes first); False if none."""
        client = await self.client()
        handle: WorkflowHandle[object, object] = client.get_workflow_handle(
            provision_workflow_id(tenant_id)
        )
        try:
            await handle.terminate("the tenant is being offboarded")
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False
            raise self._unavailable(exc) from exc
        return True

    async def cancel_offboarding(self, tenant_id: str, run_id: str | None) -> bool:
        """Tell the offboarding run (that run only) it was cancelled; False if it is gone."""
        client = await self.client()
        handle: WorkflowHandle[object, object] = client.get_workflow_handle(
            offboard_workflow_id(tenant_id), run_id=run_id
        )
        try:
            await handle.signal(CANCEL_OFFBOARD_SIGNAL)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False
            raise self._unavailable(exc) from exc
        return True

    async def requeue(
        self, tenant_id: str, plan: str, tenant_status: str, *, force: bool
    ) -> RequeueOutcome:
        """Re-queue (docs/http-api.md#re-queue): signal a stopped run, start a new run, or say
        why not.

        The database says whether the run stopped (`failed` is written by the run itself while
        it waits for `retry`), so no query is needed and a busy worker cannot stall the call.
        """
        self._fail_fast()
        client = await self.client()
        wf_id = provision_workflow_id(tenant_id)
        handle: WorkflowHandle[object, object] = client.get_workflow_handle(wf_id)
        try:
            description = await handle.describe()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise self._unavailable(exc) from exc
            description = None
        running = (
            description is not None
            and description.raw_description.workflow_execution_info.status
            == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
        )
        run_id = description.run_id if description else None
        if tenant_status == "active" and not force:
            return RequeueOutcome("already_active", wf_id, run_id)
        if running:
            if tenant_status == "failed":
                # A stale signal (the run already resumed) is ignored by the workflow.
                if await self._signal_retry(handle):
                    return RequeueOutcome("resumed", wf_id, run_id)
            elif not force:
                return RequeueOutcome("already_running", wf_id, run_id)
            else:
                # force on a busy run: end it and start over; every step is idempotent.
                await self._terminate(handle, "re-queued with force")
        run_id = await self.start_provisioning(tenant_id, plan, force=force)
        return RequeueOutcome("restarted", wf_id, run_id)

    async def notify_override(self, tenant_id: str, status: str) -> bool:
        """Tell the tenant's open run (if any) that an admin set its status by hand, so a run
        stopped on an error ends and the Temporal UI's list agrees. False when there is no
        open run; Unavailable when Temporal cannot be reached."""
        client = await self.client()
        handle: WorkflowHandle[object, object] = client.get_workflow_handle(
            provision_workflow_id(tenant_id)
        )
        try:
            await handle.signal(OVERRIDE_SIGNAL, StatusOverridden(status=status))  # type: ignore[arg-type]
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:  # never started, or closed
                return False
            raise self._unavailable(exc) from exc
        return True

    async def _signal_retry(self, handle: WorkflowHandle[object, object]) -> bool:
        """Send `retry`; False when the run closed in the meantime."""
        try:
            await handle.signal(RETRY_SIGNAL)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False
            raise self._unavailable(exc) from exc
        return True

    async def _terminate(self, handle: WorkflowHandle[object, object], reason: str) -> None:
        try:
            await handle.terminate(reason)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise self._unavailable(exc) from exc


def _attributes(tenant_id: str, plan: str, status: str, operation: str) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(TENANT_ID_ATTR, tenant_id),
            SearchAttributePair(TENANT_PLAN_ATTR, plan),
            SearchAttributePair(PROVISION_STATUS_ATTR, status),
            SearchAttributePair(LIFECYCLE_OPERATION_ATTR, operation),
        ]
    )
