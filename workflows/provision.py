"""ProvisionTenant: the durable provisioning of one tenant (docs/temporal.md).

The run asks the database which steps are already done, runs the rest in order, and on an error
that retrying will not fix records it and waits (open, not failed) for the `retry` signal. A new
run of the same id (a re-queue after the old run closed) resumes from the first incomplete step.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    FailureError,
    RetryState,
)
from temporalio.exceptions import (
    TimeoutError as ActivityTimeoutError,
)

with workflow.unsafe.imports_passed_through():
    from syston.core import temporal as names
    from syston.models import (
        RUN_SHAPE_BEGIN_IN_FIRST_STEP,
        BeginInput,
        BeginResult,
        FailureInput,
        ProgressView,
        ProvisionInput,
        ProvisionResult,
        ResumeInput,
        StatusOverridden,
        StepInput,
        StepName,
        StepProgress,
        steps_for,
    )
    from workflows import activity_refs

# A worker that dies mid-step is noticed within HEARTBEAT_TIMEOUT (activities heartbeat while
# they wait on upstreams), so provisioning resumes well inside a minute of a worker returning.
STEP_START_TO_CLOSE = timedelta(seconds=120)
STEP_HEARTBEAT = timedelta(seconds=10)
STEP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=15,
)
LEDGER_START_TO_CLOSE = timedelta(seconds=15)
LOCAL_RETRY_THRESHOLD = timedelta(seconds=2)
LEDGER_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
)


@workflow.defn(name=names.PROVISION_WORKFLOW)
class ProvisionTenant:
    """Creates a tenant's resources step by step; never redoes a completed step."""

    def __init__(self) -> None:
        self._tenant_id = ""
        self._status = "processing"
        self._steps: dict[StepName, str] = {}
        self._retry_requested = False
        self._waiting = False
        self._last_error: str | None = None
        self._override: str | None = None
        self._published: str | None = None  # ProvisionStatus as last set (None: unknown)
        self._unbegun: BeginInput | None = None  # the start the next step records, if any
        self._gone = False  # the run's start found no tenant row
        self._activate_locally = False  # mark_active as a local activity (shape 2)

    @workflow.run
    async def run(self, request: ProvisionInput) -> ProvisionResult:
        self._tenant_id = request.tenant_id
        plan_steps = steps_for(request.plan)
        self._steps = dict.fromkeys(plan_steps, "pending")
        begin_input = BeginInput(
            tenant_id=request.tenant_id, plan=request.plan, force=request.force
        )
        if request.shape >= RUN_SHAPE_BEGIN_IN_FIRST_STEP and not self._begun_by_older_worker():
            # The run's first step records its start (one transaction and one activity task
            # for both); until it has, the next step to run carries the start along. The
            # activation runs as a local activity.
            self._take_starters_status()
            self._unbegun = begin_input
            self._activate_locally = True
        elif workflow.patched(names.PATCH_LOCAL_BEGIN):
            self._take_starters_status()
            if not self._apply_begin(await self._begin_locally(begin_input)):
                return self._abandoned()
        else:
            begin = await workflow.execute_activity(
                activity_refs.begin,
                begin_input,
                start_to_close_timeout=LEDGER_START_TO_CLOSE,
                retry_policy=LEDGER_RETRY,
            )
            if not self._apply_begin(begin):
                return self._abandoned()

        while True:
            failed = await self._run_pending_steps(request)
            if self._gone:
                return self._abandoned()
            if failed is None:
                break
            override = await self._stop_until_retried(request, *failed)
            if override is not None:
                # An admin settled the tenant by hand (runbook "Option B"): the database
                # already says so; the run ends and the UI's list shows the same status.
                self._set_status(override)
                return ProvisionResult(
                    tenant_id=request.tenant_id,
                    status=override,  # type: ignore[arg-type]
                    completed_steps=[n for n, st in self._steps.items() if st == "completed"],
                )

        self._set_status("active")
        return ProvisionResult(
            tenant_id=request.tenant_id, status="active", completed_steps=list(plan_steps)
        )

    def _take_starters_status(self) -> None:
        """The starter set ProvisionStatus=processing, so it is published only on change."""
        self._published = workflow.info().typed_search_attributes.get(names.PROVISION_STATUS_ATTR)

    @staticmethod
    def _begun_by_older_worker() -> bool:
        """A run of the new shape whose first workflow task a worker from before the shape
        completed: that worker took the `local-begin` path (its marker is in the history), and
        a replay must take it too. Asked only while replaying: a first execution here decides
        by the input alone, and records no marker."""
        return workflow.unsafe.is_replaying() and workflow.patched(names.PATCH_LOCAL_BEGIN)

    async def _begin_locally(self, begin_input: BeginInput) -> BeginResult:
        # A short database write: run in this workflow task rather than as an activity task
        # of its own (one marker event instead of two round trips to the server).
        return await workflow.execute_local_activity(
            activity_refs.begin,
            begin_input,
            start_to_close_timeout=LEDGER_START_TO_CLOSE,
            retry_policy=LEDGER_RETRY,
        )

    def _apply_begin(self, begin: BeginResult) -> bool:
        """Take the ledger's answer at the run's start: which steps are done (the others are
        pending). False when the tenant row is gone: nothing to provision."""
        self._unbegun = None
        if not begin.found:
            self._gone = True
            self._steps = dict.fromkeys(self._steps, "pending")
            return False
        done = set(begin.completed_steps)
        self._steps = {s: "completed" if s in done else "pending" for s in self._steps}
        self._set_status("processing")
        return True

    def _abandoned(self) -> ProvisionResult:
        # The tenant row is gone: nothing to provision, and nothing left "processing" in the
        # UI's list.
        self._set_status("abandoned")
        return ProvisionResult(tenant_id=self._tenant_id, status="abandoned")

    async def _stop_until_retried(
        self, request: ProvisionInput, step: StepName, code: str, message: str
    ) -> str | None:
        """Record the stopped step, wait for `retry` (then resume: None) or an admin's
        override (returned: the status the run ends with)."""
        self._steps[step] = "failed"
        self._last_error = f"{step}: {code}: {message}"
        # Accept `retry` from here on: a signal sent while the failure is being recorded
        # must not be lost.
        self._waiting = True
        await workflow.execute_activity(
            activity_refs.record_failure,
            FailureInput(tenant_id=request.tenant_id, step=step, code=code, message=message),
            start_to_close_timeout=LEDGER_START_TO_CLOSE,
            retry_policy=LEDGER_RETRY,
        )
        self._set_status("failed")
        await workflow.wait_condition(lambda: self._retry_requested or self._override is not None)
        self._waiting = False
        if self._override is not None:
            return self._override
        self._retry_requested = False
        self._last_error = None
        self._steps[step] = "pending"
        await workflow.execute_activity(
            activity_refs.resume,
            ResumeInput(tenant_id=request.tenant_id),
            start_to_close_timeout=LEDGER_START_TO_CLOSE,
            retry_policy=LEDGER_RETRY,
        )
        self._set_status("processing")
        return None

    async def _run_pending_steps(self, request: ProvisionInput) -> tuple[StepName, str, str] | None:
        """Run every step not yet completed; on a stopping error return (step, code, message).
        Returns None with `_gone` set when the first step found the tenant row gone."""
        while (step := self._next_pending()) is not None:
            self._steps[step] = "running"
            begin = self._unbegun
            step_input = StepInput(
                tenant_id=request.tenant_id, step=step, force=request.force, begin=begin
            )
            try:
                if step == "mark_active" and self._activate_locally:
                    # A database write and no upstream: run in the workflow task that follows
                    # the webhook (one marker event instead of an activity task and a workflow
                    # task), retried like any step.
                    result = await workflow.execute_local_activity(
                        activity_refs.mark_active,
                        step_input,
                        start_to_close_timeout=LEDGER_START_TO_CLOSE,
                        retry_policy=STEP_RETRY,
                        # longer backoffs wait on a workflow timer, not in the workflow task
                        # (which would hold back `progress` queries meanwhile)
                        local_retry_threshold=LOCAL_RETRY_THRESHOLD,
                    )
                else:
                    result = await workflow.execute_activity(
                        activity_refs.STEP_ACTIVITIES[step],
                        step_input,
                        start_to_close_timeout=STEP_START_TO_CLOSE,
                        heartbeat_timeout=STEP_HEARTBEAT,
                        retry_policy=STEP_RETRY,
                    )
            except (ActivityError, FailureError) as err:
                # (a local activity's failure arrives unwrapped: the error itself)
                code, message = _describe(err)
                return step, code, message
            if begin is None:
                self._steps[step] = "completed"
            elif result.begun is not None:
                # The start's answer is the ledger before this step, which is done now.
                if not self._apply_begin(result.begun):
                    return None
                self._steps[step] = "completed"
            # A worker from before the run's shape ran the step and ignored `begin`: record
            # the start now; its answer (the step included, unless forced) says what is left.
            elif not self._apply_begin(await self._begin_locally(begin)):
                return None
        return None

    def _next_pending(self) -> StepName | None:
        return next((s for s, state in self._steps.items() if state != "completed"), None)

    def _set_status(self, status: str) -> None:
        self._status = status
        if self._published is not None and self._published == status:
            return
        workflow.upsert_search_attributes([names.PROVISION_STATUS_ATTR.value_set(status)])
        if self._published is not None:
            self._published = status

    @workflow.signal(name=names.RETRY_SIGNAL)
    def retry(self) -> None:
        """Resume a run stopped on an error (ops: Temporal UI → Send signal → retry)."""
        if self._waiting:
            self._retry_requested = True

    @workflow.signal(name=names.OVERRIDE_SIGNAL)
    def status_overridden(self, change: StatusOverridden) -> None:
        """An admin set the tenant's status by hand: a stopped run ends with that status
        (`processing` resumes it like `retry`); a busy run carries on."""
        if not self._waiting:
            return
        if change.status == "processing":
            self._retry_requested = True
        elif change.status != "failed":
            self._override = change.status

    @workflow.query(name=names.PROGRESS_QUERY)
    def progress(self) -> ProgressView:
        """The steps and where the run is."""
        return ProgressView(
            tenant_id=self._tenant_id,
            status=self._status,
            waiting_for_retry=self._waiting,
            steps=[StepProgress(name=n, status=s) for n, s in self._steps.items()],  # type: ignore[arg-type]
            last_error=self._last_error,
        )


def _describe(err: ActivityError | FailureError) -> tuple[str, str]:
    """The error code and message of a step that stopped (non-retryable or out of attempts):
    an activity's error, or a local activity's, which arrives as its cause itself."""
    cause = err.cause if isinstance(err, ActivityError) else err
    if isinstance(cause, ApplicationError):
        code, message = cause.type or "STEP_FAILED", cause.message
    elif isinstance(cause, ActivityTimeoutError):
        # The activity itself timed out (a hung upstream the HTTP timeout did not catch, or a
        # worker that stopped heartbeating) on its last allowed attempt.
        kind = cause.type.name.lower() if cause.type is not None else "activity"
        code, message = "UPSTREAM_TIMEOUT", f"step timed out ({kind} timeout)"
    elif isinstance(cause, CancelledError):
        code, message = "STEP_CANCELLED", cause.message or "step cancelled"
    elif cause is not None:
        code, message = "STEP_FAILED", f"{type(cause).__name__}: {cause}"
    else:
        code, message = "STEP_FAILED", str(err)
    if isinstance(err, ActivityError):
        gave_up = err.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED
    else:  # a local activity's retryable error only ends the step once attempts run out
        gave_up = isinstance(err, ApplicationError) and not err.non_retryable
    if gave_up:
        message = f"{message} (gave up after {STEP_RETRY.maximum_attempts} attempts)"
    return code, message


describe_failure = _describe
"""The error code and message of a stopped step (shared with the lifecycle workflows)."""
