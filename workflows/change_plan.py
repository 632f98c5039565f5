"""ChangePlan: a tenant moves between starter and pro (docs/temporal.md#changeplan).

starter → pro finds or creates the spreadsheet and shares it with the owner, re-announces the
tenant to its webhook (with the sheet), then applies the plan (which queues the signed
`tenant.plan_changed`); pro → starter only applies the plan: the sheet stays, user data is
never deleted. The tenant stays `active` throughout. Steps are checkpointed in the database,
so a new attempt after a crash skips what is done and the sheet is never created twice.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from syston.core import temporal as names
    from syston.models import ChangePlanInput, OperationResult, plan_change_steps
    from workflows.operation import OperationRun


@workflow.defn(name=names.PLAN_CHANGE_WORKFLOW)
class ChangePlan(OperationRun):
    """Moves a tenant to another plan; the plan changes when the last step applies it."""

    OPERATION = "plan_change"

    @workflow.run
    async def run(self, request: ChangePlanInput) -> OperationResult:
        steps = plan_change_steps(request.previous_plan, request.plan)
        if not await self._begin(request.tenant_id, steps):
            return OperationResult(tenant_id=request.tenant_id, status="abandoned")
        self._publish("active")
        await self._run_steps("active")
        await self._finish("completed")
        workflow.upsert_search_attributes([names.TENANT_PLAN_ATTR.value_set(request.plan)])
        self._publish("active")
        return OperationResult(tenant_id=request.tenant_id, status="completed")
