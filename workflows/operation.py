"""What ChangePlan and OffboardTenant share: checkpointed steps run in order, a stop on an
error retrying won't fix (recorded, then waiting for the `retry` signal), the `progress` query,
and the search attributes kept current (docs/temporal.md#lifecycle-workflows)."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from syston.core import temporal as names
    from syston.models import (
        BeginOperationInput,
        FinishOperationInput,
        OperationFailureInput,
        OperationProgressView,
        OperationRef,
        OperationStatus,
        OperationStepInput,
        OperationStepName,
        OperationStepProgress,
        OperationType,
    )
    from workflows import activity_refs
    from workflows.provision import (
        LEDGER_RETRY,
        LEDGER_START_TO_CLOSE,
        STEP_HEARTBEAT,
        STEP_RETRY,
        STEP_START_TO_CLOSE,
        describe_failure,
    )


class OperationRun:
    """The step runner of a lifecycle workflow; subclasses define `run`."""

    OPERATION: OperationType

    def __init__(self) -> None:
        self._tenant_id = ""
        self._status = "running"
        self._steps: dict[OperationStepName, str] = {}
        self._retry_requested = False
        self._waiting = False
        self._last_error: str | None = None

    async def _begin(self, tenant_id: str, steps: tuple[OperationStepName, ...]) -> bool:
        """Attach to the tenant's operation; False when it is gone (cancelled, replaced)."""
        self._tenant_id = tenant_id
        self._steps = dict.fromkeys(steps, "pending")
        begun = await workflow.execute_activity(
            activity_refs.begin_operation,
            BeginOperationInput(tenant_id=tenant_id, operation=self.OPERATION, steps=list(steps)),
            start_to_close_timeout=LEDGER_START_TO_CLOSE,
            retry_policy=LEDGER_RETRY,
        )
        for done in begun.completed_steps:
            if done in self._steps:
                self._steps[done] = "completed"
        return begun.found

    async def _run_steps(self, busy_status: str) -> None:
        """Run every step not yet completed, stopping (and waiting) on permanent errors."""
        while True:
            failed = await self._run_pending_steps()
            if failed is None:
                return
            await self._stop_until_retried(*failed)
            self._publish(busy_status)

    async def _run_pending_steps(self) -> tuple[OperationStepName, str, str] | None:
        for step, state in self._steps.items():
            if state == "completed":
                continue
            self._steps[step] = "running"
            try:
                await workflow.execute_activity(
                    activity_refs.OPERATION_STEP_ACTIVITIES[step],
                    OperationStepInput(
                        tenant_id=self._tenant_id, operation=self.OPERATION, step=step
                    ),
                    start_to_close_timeout=STEP_START_TO_CLOSE,
                    heartbeat_timeout=STEP_HEARTBEAT,
                    retry_policy=STEP_RETRY,
                )
            except ActivityError as err:
                code, message = describe_failure(err)
                return step, code, message
            self._steps[step] = "completed"
        return None

    async def _stop_until_retried(self, step: OperationStepName, code: str, message: str) -> None:
        self._steps[step] = "failed"
        self._last_error = f"{step}: {code}: {message}"
        self._waiting = True  # accept `retry` from here on
        await workflow.execute_activity(
            activity_refs.record_operation_failure,
            OperationFailureInput(
                tenant_id=self._tenant_id,
                operation=self.OPERATION,
                step=step,
                code=code,
                message=message,
            ),
            start_to_close_timeout=LEDGER_START_TO_CLOSE,
            retry_policy=LEDGER_RETRY,
        )
        self._publish("failed")
        await workflow.wait_condition(lambda: self._retry_requested)
        self._waiting = False
        self._retry_requested = False
        self._last_error = None
        self._steps[step] = "pending"
        await workflow.execute_activity(
            activity_refs.resume_operation,
            OperationRef(tenant_id=self._tenant_id, operation=self.OPERATION),
            start_to_close_timeout=LEDGER_START_TO_CLOSE,
            retry_policy=LEDGER_RETRY,
        )

    async def _finish(self, status: OperationStatus) -> None:
        await workflow.execute_activity(
            activity_refs.finish_operation,
            FinishOperationInput(
                tenant_id=self._tenant_id, operation=self.OPERATION, status=status
            ),
            start_to_close_timeout=LEDGER_START_TO_CLOSE,
            retry_policy=LEDGER_RETRY,
        )

    def _publish(self, status: str) -> None:
        """Keep ProvisionStatus current (the tenant's status as this run sees it)."""
        self._status = status
        workflow.upsert_search_attributes([names.PROVISION_STATUS_ATTR.value_set(status)])

    @workflow.signal(name=names.RETRY_SIGNAL)
    def retry(self) -> None:
        """Resume a run stopped on an error (ops: Temporal UI → Send signal → retry)."""
        if self._waiting:
            self._retry_requested = True

    @workflow.query(name=names.PROGRESS_QUERY)
    def progress(self) -> OperationProgressView:
        """The steps and where the run is."""
        return OperationProgressView(
            tenant_id=self._tenant_id,
            operation=self.OPERATION,
            status=self._status,
            waiting_for_retry=self._waiting,
            steps=[
                OperationStepProgress(name=n, status=s)  # type: ignore[arg-type]
                for n, s in self._steps.items()
            ],
            last_error=self._last_error,
            delete_after=self._delete_after(),
        )

    def _delete_after(self) -> datetime | None:
        return None
