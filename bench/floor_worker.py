"""The two floors the benchmarks measure ours against, in one worker process of their own.

- `EngineFloor`: three no-op activities. What Temporal itself costs per tenant.
- `JobFloor`: a bare workflow making the same upstream calls as ProvisionTenant's steps, with
  the same client libraries against the same emulators (find-or-create, tag and share the
  spreadsheet through google-api-python-client; deliver the registration event and the
  activation event through httpx), and no ledger, no API, no auth. What separates ours from it
  is our own overhead.

Run by the benchmarks as `python bench/floor_worker.py`, with the real worker's environment (so
the same emulator endpoints and service-account key) and TEMPORAL_ADDRESS.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx
from temporalio import activity
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from activities.sheets_backends import build_sheets_backend
from bench.floor_workflows import EngineFloor, JobFloor, noop
from integrations.make import MakeClient, idempotency_key
from syston.core.settings import get_settings

TASK_QUEUE = "bench-floor"
EVENT = "tenant.registered"


class JobActivities:
    """The upstream calls of the three steps, with the clients built the way the worker does."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        settings = get_settings()
        self._sheets = build_sheets_backend(settings, http)
        self._make = MakeClient(http, settings.upstream_timeout_seconds)
        self._hook = settings.make_webhook_url or ""

    @activity.defn(name="job_create_sheet")
    async def create_sheet(self, tenant_id: str) -> str:
        assert self._sheets is not None
        sheet = await self._sheets.ensure(
            tenant_id, f"Club {tenant_id}", f"{tenant_id}@example.org"
        )
        return sheet.spreadsheet_id

    @activity.defn(name="job_configure_webhook")
    async def configure_webhook(self, tenant_id: str) -> None:
        event = {"event": EVENT, "tenantId": tenant_id, "plan": "pro"}
        await self._make.deliver(self._hook, event, idempotency_key(tenant_id, EVENT))

    @activity.defn(name="job_mark_active")
    async def mark_active(self, tenant_id: str) -> None:
        # ours announces the activation too (the signed tenant.provisioned event)
        event = {"type": "tenant.provisioned", "tenantId": tenant_id, "plan": "pro"}
        await self._make.deliver(self._hook, event, idempotency_key(tenant_id, event["type"]))


async def main() -> None:
    client = await Client.connect(
        os.environ["TEMPORAL_ADDRESS"], data_converter=pydantic_data_converter
    )
    async with httpx.AsyncClient() as http:
        jobs = JobActivities(http)
        worker = Worker(
            client,
            task_queue=TASK_QUEUE,
            workflows=[EngineFloor, JobFloor],
            activities=[noop, jobs.create_sheet, jobs.configure_webhook, jobs.mark_active],
            max_concurrent_activities=50,
        )
        await worker.run()


if __name__ == "__main__":
    asyncio.run(main())
