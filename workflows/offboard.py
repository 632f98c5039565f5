"""OffboardTenant: a durable grace period, then the tenant's data handed back and erased
(docs/temporal.md#offboardtenant).

The run waits on a timer until `delete_after` (30 days by default); nothing is touched before.
The `cancel_offboarding` signal (sent by the cancel route after it restored the tenant) ends
the wait. When the timer fires, `begin_deletion` asks the database whether the offboarding
still stands (a last-moment cancel may have won); from then on it can no longer be cancelled
and the steps run in order, each checkpointed: spreadsheet ownership to the owner, the
`tenant.offboarded` event queued, the webhook cleared, every token cut off, personal data
erased (slug and e-mail freed), status `deleted`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from syston.core import temporal as names
    from syston.models import OFFBOARD_STEPS, OffboardInput, OperationRef, OperationResult
    from workflows import activity_refs
    from workflows.operation import OperationRun
    from workflows.provision import LEDGER_RETRY, LEDGER_START_TO_CLOSE


@workflow.defn(name=names.OFFBOARD_WORKFLOW)
class OffboardTenant(OperationRun):
    """Deletes a tenant after its grace period unless cancelled first."""

    OPERATION = "offboard"

    def __init__(self) -> None:
        super().__init__()
        self._until: datetime | None = None
        self._in_grace = True
        self._cancelled = False

    @workflow.run
    async def run(self, request: OffboardInput) -> OperationResult:
        self._until = request.delete_after
        if not await self._begin(request.tenant_id, OFFBOARD_STEPS):
            return self._ended(request, "cancelled")
        self._publish("deprovisioning")
        remaining = (request.delete_after - workflow.now()).total_seconds()
        if remaining > 0:
            try:
                await workflow.wait_condition(
                    lambda: self._cancelled, timeout=timedelta(seconds=remaining)
                )
            except TimeoutError:
                pass
        self._in_grace = False
        if self._cancelled:
            return self._ended(request, "cancelled")
        begun = await workflow.execute_activity(
            activity_refs.begin_deletion,
            OperationRef(tenant_id=request.tenant_id, operation=self.OPERATION),
            start_to_close_timeout=LEDGER_START_TO_CLOSE,
            retry_policy=LEDGER_RETRY,
        )
        if not begun.found:
            return self._ended(request, "cancelled")
        await self._run_steps("deprovisioning")
        await self._finish("completed")
        self._publish("deleted")
        return OperationResult(tenant_id=request.tenant_id, status="completed")

    def _ended(self, request: OffboardInput, status: str) -> OperationResult:
        self._publish(status)
        return OperationResult(tenant_id=request.tenant_id, status=status)  # type: ignore[arg-type]

    @workflow.signal(name=names.CANCEL_OFFBOARD_SIGNAL)
    def cancel_offboarding(self) -> None:
        """The offboarding was cancelled within its grace period (the database already says
        so): stop waiting and end. After the grace the database decides, not this signal."""
        if self._in_grace:
            self._cancelled = True

    def _delete_after(self) -> datetime | None:
        return self._until
