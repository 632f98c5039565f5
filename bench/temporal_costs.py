"""What each Temporal feature ProvisionTenant uses costs, beside a bare three-activity workflow.

    .venv/bin/python bench/temporal_costs.py [--workflows 100] [--rounds 3]

Starts its own Temporal dev server (headless, our four search attributes registered) and runs a
worker in this process. One workflow, `FeatureFloor` (floor_workflows.py), runs three no-op
activities and adds, as asked, what ours adds: search attributes at the start, an upsert of
`ProvisionStatus` at the end, a versioning patch (`workflow.patched`), a local activity before
the steps. Each variant runs
`workflows` times per round, 10 at a time, in turn with the others; printed per workflow: the
dev server's CPU, this process's CPU (the worker and the client), and history events, each
against the bare workflow of the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import sysconfig
import tempfile
import uuid
from pathlib import Path

from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.worker import Worker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.floor_workflows import FeatureFloor, noop
from bench.harness import cpu_seconds, free_port

ATTRIBUTES = ("TenantId", "TenantPlan", "ProvisionStatus", "LifecycleOperation")
VARIANTS = (
    "bare",
    "attributes",
    "attributes+upsert",
    "attributes+upsert+patch",
    "attributes+upsert+local",
    "attributes+upsert+patch+local",  # what ProvisionTenant does
)


def attributes(variant: str) -> TypedSearchAttributes | None:
    if "attributes" not in variant.split("+"):
        return None
    values = ("tenant_bench", "pro", "processing", "provision")
    return TypedSearchAttributes(
        [
            SearchAttributePair(SearchAttributeKey.for_keyword(name), value)
            for name, value in zip(ATTRIBUTES, values, strict=True)
        ]
    )


async def connect(port: int) -> Client:
    for _ in range(200):
        try:
            return await Client.connect(f"127.0.0.1:{port}")
        except RuntimeError:
            await asyncio.sleep(0.2)
    raise SystemExit("the Temporal dev server did not start")


async def measure(workflows: int, rounds: int) -> None:
    port = free_port()
    folder = tempfile.mkdtemp(prefix="syston-temporal-costs-")
    binary = Path(sysconfig.get_path("scripts")) / "temporal"
    argv = [str(binary), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port)]
    argv += ["--db-filename", f"{folder}/temporal.db", "--sqlite-pragma", "journal_mode=WAL"]
    argv += ["--headless", "--log-level", "error"]
    for name in ATTRIBUTES:
        argv += ["--search-attribute", f"{name}=Keyword"]
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = await connect(port)
        limit = asyncio.Semaphore(10)

        async def one(variant: str) -> str:
            async with limit:
                workflow_id = f"{variant}-{uuid.uuid4().hex}"
                handle = await client.start_workflow(
                    FeatureFloor.run,
                    variant,
                    id=workflow_id,
                    task_queue="temporal-costs",
                    search_attributes=attributes(variant),
                )
                await handle.result()
                return workflow_id

        server_cpu = dict.fromkeys(VARIANTS, 0.0)
        own_cpu = dict.fromkeys(VARIANTS, 0.0)
        events: dict[str, int] = {}
        async with Worker(
            client,
            task_queue="temporal-costs",
            workflows=[FeatureFloor],
            activities=[noop],
            max_concurrent_activities=50,
        ):
            await asyncio.gather(*(one(v) for v in VARIANTS for _ in range(10)))  # warm up
            for round_ in range(rounds):
                shift = round_ % len(VARIANTS)
                for variant in VARIANTS[shift:] + VARIANTS[:shift]:
                    server0, own0 = cpu_seconds(server.pid), cpu_seconds(os.getpid())
                    ids = await asyncio.gather(*(one(variant) for _ in range(workflows)))
                    server_cpu[variant] += cpu_seconds(server.pid) - server0
                    own_cpu[variant] += cpu_seconds(os.getpid()) - own0
                    history = await client.get_workflow_handle(ids[-1]).fetch_history()
                    events[variant] = len(history.events)
    finally:
        server.terminate()
        server.wait()
    n = workflows * rounds
    base_server, base_own = server_cpu["bare"] * 1000 / n, own_cpu["bare"] * 1000 / n
    print(f"{n} workflows of each, 10 at a time; CPU ms per workflow (difference to bare)")
    print(f"  {'variant':32} {'Temporal':>16} {'worker+client':>16} {'events':>7}")
    for variant in VARIANTS:
        srv, own = server_cpu[variant] * 1000 / n, own_cpu[variant] * 1000 / n
        print(
            f"  {variant:32} {srv:7.1f} ({srv - base_server:+5.1f}) "
            f"{own:7.1f} ({own - base_own:+5.1f}) {events[variant]:7d}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=100, help="per variant and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(measure(args.workflows, args.rounds))


if __name__ == "__main__":
    main()
