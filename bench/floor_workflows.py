"""The floors' workflows (sandbox-safe: this module is re-imported inside the workflow sandbox).

- `EngineFloor`: three no-op activities. What Temporal itself costs per tenant.
- `JobFloor`: the same upstream calls as ProvisionTenant's steps (activities in floor_worker.py),
  and nothing else.
- `FeatureFloor`: EngineFloor plus, as its input asks, each Temporal feature ProvisionTenant
  uses (temporal_costs.py measures what each costs).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import SearchAttributeKey

STEP = timedelta(seconds=60)
JOB_ACTIVITIES = ("job_create_sheet", "job_configure_webhook", "job_mark_active")
PROVISION_STATUS = SearchAttributeKey.for_keyword("ProvisionStatus")


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


@workflow.defn(name="FeatureFloor")
class FeatureFloor:
    @workflow.run
    async def run(self, features: str) -> str:
        """`features`: `+`-separated, from `patch`, `local` (a local activity before the
        steps) and `upsert` (ProvisionStatus at the end)."""
        wanted = features.split("+")
        if "patch" in wanted:
            workflow.patched("bench-patch")
        if "local" in wanted:
            await workflow.execute_local_activity(noop, "begin", start_to_close_timeout=STEP)
        for step in ("one", "two", "three"):
            await workflow.execute_activity(noop, step, start_to_close_timeout=STEP)
        if "upsert" in wanted:
            workflow.upsert_search_attributes([PROVISION_STATUS.value_set("active")])
        return features
