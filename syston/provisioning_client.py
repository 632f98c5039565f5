"""Starting and re-queuing ProvisionTenant from the API (one Temporal client per process)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.client import Client, Interceptor, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.service import RPCError, RPCStatusCode

from syston.core.errors import Unavailable
from syston.core.settings import Settings
from syston.core.temporal import (
    OVERRIDE_SIGNAL,
    PROVISION_STATUS_ATTR,
    PROVISION_WORKFLOW,
    RETRY_SIGNAL,
    TENANT_ID_ATTR,
    TENANT_PLAN_ATTR,
    provision_workflow_id,
)
from syston.core.temporal_client import TemporalConfigError, connect, describe_target
from syston.models import ProvisionInput, RequeueAction, StatusOverridden

CONNECT_TIMEOUT_SECONDS = 5.0
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
                    address, _ = describe_target(self._settings)
                    raise Unavailable(
                        f"Temporal at {address} is unreachable; retry shortly."
                    ) from exc
            return self._client

    async def check(self) -> bool:
        try:
            client = await self.client()
            await asyncio.wait_for(client.service_client.check_health(), 3)
        except Exception:
            return False
        return True

    # -- provisioning ----------------------------------------------------------------------

    async def start_provisioning(self, tenant_id: str, plan: str, *, force: bool = False) -> str:
        """Start ProvisionTenant, or attach to the running one; returns the run id."""
        client = await self.client()
        request = ProvisionInput.model_validate(
            {"tenant_id": tenant_id, "plan": plan, "force": force}
        )
        try:
            handle: WorkflowHandle[Any, Any] = await client.start_workflow(
                PROVISION_WORKFLOW,
                request,
                id=provision_workflow_id(tenant_id),
                task_queue=self._settings.temporal_task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(TENANT_ID_ATTR, tenant_id),
                        SearchAttributePair(TENANT_PLAN_ATTR, plan),
                        SearchAttributePair(PROVISION_STATUS_ATTR, "processing"),
                    ]
                ),
            )
        except RPCError as exc:
            raise _unavailable(exc) from exc
        return handle.result_run_id or ""

    async def requeue(
        self, tenant_id: str, plan: str, tenant_status: str, *, force: bool
    ) -> RequeueOutcome:
        """Re-queue (docs/http-api.md#re-queue): signal a stopped run, start a new run, or say
        why not.

        The database says whether the run stopped (`failed` is written by the run itself while
        it waits for `retry`), so no query is needed and a busy worker cannot stall the call.
        """
        client = await self.client()
        wf_id = provision_workflow_id(tenant_id)
        handle: WorkflowHandle[object, object] = client.get_workflow_handle(wf_id)
        try:
            description = await handle.describe()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise _unavailable(exc) from exc
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
            raise _unavailable(exc) from exc
        return True

    async def _signal_retry(self, handle: WorkflowHandle[object, object]) -> bool:
        """Send `retry`; False when the run closed in the meantime."""
        try:
            await handle.signal(RETRY_SIGNAL)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False
            raise _unavailable(exc) from exc
        return True

    async def _terminate(self, handle: WorkflowHandle[object, object], reason: str) -> None:
        try:
            await handle.terminate(reason)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise _unavailable(exc) from exc


def _unavailable(exc: RPCError) -> Exception:
    if exc.status in _UNAVAILABLE_CODES:
        return Unavailable(f"Temporal is unavailable ({exc.status.name}); retry shortly.")
    return exc
