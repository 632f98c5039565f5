"""The floors' workflows (sandbox-safe: this module is re-imported inside the workflow sandbox).

- `EngineFloor`: three no-op activities. What Temporal itself costs per tenant.
- `JobFloor`: the same upstream calls as ProvisionTenant's steps (activities in floor_worker.py),
  and nothing else.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

STEP = timedelta(seconds=60)
JOB_ACTIVITIES = ("job_create_sheet", "job_configure_webhook", "job_mark_active")


@activity.defn
async def noop(step: str) -> str:
    return step


@workflow.defn(name="EngineFloor")
class EngineFloor:
    @workflow.run
    async def run(self, tenant_id: str) -> str:
        for step in ("one", "two", "three"):
            await workflow.execute_activity(noop, step, start_to_close_timeout=STEP)
        return tenant_id


@workflow.defn(name="JobFloor")
class JobFloor:
    @workflow.run
    async def run(self, tenant_id: str) -> str:
        for name in JOB_ACTIVITIES:
            await workflow.execute_activity(name, tenant_id, start_to_close_timeout=STEP)
        return tenant_id
