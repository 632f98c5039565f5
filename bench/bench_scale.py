"""B5: throughput stays flat from the first tenant to the ten-thousandth, and memory with it.

    .venv/bin/python bench/bench_scale.py [--database sqlite|postgresql|both]
        [--tenants 10000] [--window 1000] [--concurrency 10]

For each database: starts the stack (bench/harness.py), then keeps `concurrency` pro signups in
flight over HTTP, each followed to `active`, until `tenants` are active. Prints the throughput
of every window of `window` completions, the last window's ÷ the first's (target ≥ 0.9), the
RSS of the API and the worker sampled every few seconds (first, last, peak), the database bytes
per tenant and the Temporal history events per tenant.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_provisioning import history_events, wait_result
from bench.harness import Stack
from syston.core.temporal import provision_workflow_id

RSS_EVERY_SECONDS = 5.0
MiB = 1024 * 1024


async def sample_rss(stack: Stack, samples: list[tuple[float, dict[str, int]]]) -> None:
    while True:
        samples.append((time.perf_counter(), stack.rss()))
        await asyncio.sleep(RSS_EVERY_SECONDS)


def rss_at(samples: list[tuple[float, dict[str, int]]], moment: float) -> dict[str, int]:
    """The RSS sample taken last before `moment`."""
    before = [rss for at, rss in samples if at <= moment]
    return before[-1] if before else {}


async def run_database(database: str, tenants: int, window: int, concurrency: int) -> bool:
    stack = await Stack(database=database).start()
    samples: list[tuple[float, dict[str, int]]] = []
    finished: list[float] = []
    cpu_marks: list[dict[str, float]] = []  # CPU seconds by role at each window's end
    last_workflow = ""
    try:
        client = await Client.connect(stack.temporal, data_converter=pydantic_data_converter)
        bytes_before = stack.database_bytes()
        run = uuid.uuid4().hex[:6]
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(tenants):
            queue.put_nowait(i)

        async with httpx.AsyncClient(base_url=stack.api, timeout=120) as http:

            async def signer() -> None:
                nonlocal last_workflow
                while not queue.empty():
                    i = queue.get_nowait()
                    slug = f"scale-{run}-{i}"
                    response = await http.post(
                        "/public/signup/start",
                        json={
                            "clubName": f"Scale {i}",
                            "clubSlug": slug,
                            "email": f"{slug}@example.org",
                            "plan": "pro",
                        },
                    )
                    response.raise_for_status()
                    last_workflow = provision_workflow_id(response.json()["tenantId"])
                    await wait_result(client, last_workflow)
                    finished.append(time.perf_counter())
                    if len(finished) % window == 0:
                        cpu_marks.append(stack.cpu())
                        print(f"[{database}] {len(finished)} active", flush=True)

            cpu_marks.append(stack.cpu())
            sampler = asyncio.create_task(sample_rss(stack, samples))
            start = time.perf_counter()
            await asyncio.gather(*(signer() for _ in range(concurrency)))
            sampler.cancel()
        events = await history_events(client, last_workflow)
        db_bytes = stack.database_bytes() - bytes_before
        temporal_bytes = sum(
            p.stat().st_size for p in stack.data_dir.glob("temporal.db*") if p.is_file()
        )
    finally:
        stack.stop()

    print(f"\n[{database}] {tenants} pro tenants, concurrency {concurrency}")
    rates = []
    edges = [start, *finished[window - 1 :: window]]
    for k in range(1, len(edges)):
        rate = window / (edges[k] - edges[k - 1])
        rates.append(rate)
        rss = {role: n / MiB for role, n in rss_at(samples, edges[k]).items()}
        cpu = {
            role: (cpu_marks[k][role] - cpu_marks[k - 1][role]) * 1000 / window
            for role in ("api", "worker", "temporal")
        }
        print(
            f"  tenants {(k - 1) * window + 1:>6}-{k * window:<6} {rate:7.2f} tenants/s"
            f"   RSS api {rss.get('api', 0):6.1f} MiB, worker {rss.get('worker', 0):6.1f} MiB"
            f"   CPU ms/tenant api {cpu['api']:5.1f}, worker {cpu['worker']:5.1f},"
            f" temporal {cpu['temporal']:5.1f}"
        )
    flat = rates[-1] / rates[0] if rates else float("nan")
    ok = flat >= 0.9
    print(f"  last window ÷ first: {flat:.2f}  (target ≥ 0.9: {'ok' if ok else 'MISSED'})")
    print(f"  overall: {tenants / (finished[-1] - start):.2f} tenants/s")
    for role in ("api", "worker"):
        series = [s[role] for _, s in samples if s.get(role)]
        if series:
            print(
                f"  RSS {role:7} first {series[0] / MiB:6.1f} MiB  last {series[-1] / MiB:6.1f} MiB"
                f"  peak {max(series) / MiB:6.1f} MiB  ({len(series)} samples)"
            )
    print(f"  database bytes per tenant: {db_bytes / tenants:,.0f}")
    print(f"  Temporal history events per tenant: {events}")
    print(f"  Temporal dev server's database bytes per tenant: {temporal_bytes / tenants:,.0f}")
    print(flush=True)
    return ok


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    if args.tenants < args.window:
        raise SystemExit("--tenants must be at least one --window")
    databases = ("sqlite", "postgresql") if args.database == "both" else (args.database,)
    for database in databases:
        await run_database(database, args.tenants, args.window, args.concurrency)


if __name__ == "__main__":
    asyncio.run(main())
