"""B5: throughput stays flat from the first tenant to the ten-thousandth, and memory with it.

    .venv/bin/python bench/bench_scale.py [--database sqlite|postgresql|both]
        [--tenants 10000] [--window 1000] [--concurrency 10] [--floor N]

For each database: starts the stack (bench/harness.py) and `floor_worker.py`, then signs up
`tenants` pro tenants over HTTP in windows of `window`, `concurrency` in flight, each followed to
`active`. After each window it runs `floor` JobFloor workflows at the same concurrency (default
a fifth of the window), so every window has the job floor measured on Temporal's store as it is
at that point: when ours slows down as the store grows, the floor shows how much of that is the
engine's. Prints each window's throughput beside the floor's, the last window's ÷ the first's
(target ≥ 0.9) for both and for ours ÷ the floor, the RSS of the API and the worker sampled
every few seconds (first, last, peak), the database bytes per tenant and the Temporal history
events per tenant.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_provisioning import floor_batch, history_events, wait_result
from bench.harness import ROOT, Stack, bounded, spawned
from syston.core.temporal import provision_workflow_id

RSS_EVERY_SECONDS = 5.0
MiB = 1024 * 1024


async def sample_rss(stack: Stack, samples: list[tuple[float, dict[str, int]]]) -> None:
    while True:
        samples.append((time.perf_counter(), stack.rss()))
        await asyncio.sleep(RSS_EVERY_SECONDS)


@dataclass
class Window:
    """One window of `--window` signups: ours, then the job floor's batch after it."""

    rate: float  # our tenants/s
    floor_rate: float  # the job floor's workflows/s right after (0: not measured)
    rss: dict[str, int]  # by role, at the window's end
    cpu: dict[str, float]  # CPU ms per tenant by role, over our window


async def run_database(
    database: str, tenants: int, window: int, concurrency: int, floor: int
) -> bool:
    stack = await Stack(database=database).start()
    samples: list[tuple[float, dict[str, int]]] = []
    windows: list[Window] = []
    last_workflow = ""
    try:
        floor_env = {**stack.worker_env(), "TEMPORAL_ADDRESS": stack.temporal}
        with spawned([sys.executable, str(ROOT / "bench" / "floor_worker.py")], floor_env) as f:
            stack.pids["floor"] = f.pid
            client = await Client.connect(stack.temporal, data_converter=pydantic_data_converter)
            bytes_before = stack.database_bytes()
            run = uuid.uuid4().hex[:6]
            async with httpx.AsyncClient(base_url=stack.api, timeout=120) as http:

                async def signup(i: int) -> None:
                    nonlocal last_workflow
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

                sampler = asyncio.create_task(sample_rss(stack, samples))
                for first in range(0, tenants - window + 1, window):
                    cpu0, t0 = stack.cpu(), time.perf_counter()
                    await bounded(
                        concurrency,
                        [lambda i=i: signup(i) for i in range(first, first + window)],
                    )
                    t1, cpu1 = time.perf_counter(), stack.cpu()
                    rate = 0.0
                    if floor:  # the job floor now, on Temporal's store as it is at this point
                        batch = await floor_batch(stack, client, "JobFloor", floor, concurrency)
                        rate = batch.per_s
                    windows.append(
                        Window(
                            window / (t1 - t0),
                            rate,
                            stack.rss(),
                            {r: (cpu1[r] - cpu0[r]) * 1000 / window for r in cpu0},
                        )
                    )
                    print(f"[{database}] {first + window} active", flush=True)
                sampler.cancel()
            events = await history_events(client, last_workflow)
            db_bytes = stack.database_bytes() - bytes_before
            temporal_bytes = sum(
                p.stat().st_size for p in stack.data_dir.glob("temporal.db*") if p.is_file()
            )
    finally:
        stack.stop()

    done = len(windows) * window
    print(f"\n[{database}] {done} pro tenants, concurrency {concurrency}")
    for k, w in enumerate(windows):
        rss = {role: n / MiB for role, n in w.rss.items()}
        floor_cell = f"  job floor {w.floor_rate:6.2f}/s" if floor else ""
        print(
            f"  tenants {k * window + 1:>6}-{(k + 1) * window:<6} {w.rate:7.2f} tenants/s"
            f"{floor_cell}   RSS api {rss.get('api', 0):6.1f} MiB, worker"
            f" {rss.get('worker', 0):6.1f} MiB   CPU ms/tenant api {w.cpu['api']:5.1f},"
            f" worker {w.cpu['worker']:5.1f}, temporal {w.cpu['temporal']:5.1f}"
        )
    flat = windows[-1].rate / windows[0].rate
    ok = flat >= 0.9
    print(f"  last window ÷ first: {flat:.2f}  (target ≥ 0.9: {'ok' if ok else 'MISSED'})")
    if floor:
        floor_flat = windows[-1].floor_rate / windows[0].floor_rate
        print(
            f"  the job floor ({floor} workflows after each window), last ÷ first:"
            f" {floor_flat:.2f}; ours ÷ the job floor, last window ÷ first: {flat / floor_flat:.2f}"
        )
    print(f"  overall: {done / sum(window / w.rate for w in windows):.2f} tenants/s")
    for role in ("api", "worker"):
        series = [s[role] for _, s in samples if s.get(role)]
        if series:
            print(
                f"  RSS {role:7} first {series[0] / MiB:6.1f} MiB  last {series[-1] / MiB:6.1f} MiB"
                f"  peak {max(series) / MiB:6.1f} MiB  ({len(series)} samples)"
            )
    print(f"  database bytes per tenant: {db_bytes / done:,.0f}")
    print(f"  Temporal history events per tenant: {events}")
    workflows = done + floor * len(windows)
    print(
        f"  Temporal dev server's database bytes per workflow (ours and the floor's):"
        f" {temporal_bytes / workflows:,.0f}"
    )
    print(flush=True)
    return ok


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument(
        "--floor",
        type=int,
        default=None,
        help="job-floor workflows after each window (default: a fifth of --window; 0: none)",
    )
    args = parser.parse_args()
    floor = args.window // 5 if args.floor is None else args.floor
    if args.tenants < args.window:
        raise SystemExit("--tenants must be at least one --window")
    if floor < 0:
        raise SystemExit("--floor must be 0 (no floor) or more")
    databases = ("sqlite", "postgresql") if args.database == "both" else (args.database,)
    for database in databases:
        await run_database(database, args.tenants, args.window, args.concurrency, floor)


if __name__ == "__main__":
    asyncio.run(main())
