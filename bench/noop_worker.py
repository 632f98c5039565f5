"""Baseline worker for the benchmarks: a workflow of three no-op activities (no I/O).

Run as a subprocess by bench_provisioning.py, like the real worker, so both pay the same costs.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

TASK_QUEUE = "bench-noop"


@activity.defn
async def noop(step: str) -> str:
    return step


@workflow.defn(name="NoopThreeSteps")
class NoopThreeSteps:
    @workflow.run
    async def run(self, tenant_id: str) -> str:
        for step in ("one", "two", "three"):
            await workflow.execute_activity(
                noop, step, start_to_close_timeout=timedelta(seconds=30)
            )
        return tenant_id


async def main(address: str) -> None:
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    worker = Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=[NoopThreeSteps],
        activities=[noop],
        max_concurrent_activities=50,
    )
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
