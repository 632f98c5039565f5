"""DESIGN.md's performance targets, as ratios to two floors measured in the same run.

    .venv/bin/python bench/bench_provisioning.py [--database sqlite|postgresql|both]
        [--tenants 60] [--concurrency 10] [--reads 1000] [--rounds 3]

For each database: starts `syston dev` (real Temporal dev server, emulators, worker and API as
separate processes), `floor_worker.py` and `floor_api.py`, then measures, in `rounds` rounds of
one batch of each kind, in turn (so that the machine's drift spreads over all of them alike),

- the engine floor: `EngineFloor`, three no-op activities, started with `start_workflow`;
- the job floor: `JobFloor`, the same upstream calls as our steps, no ledger, no API;
- the job floor over HTTP: `JobFloor` started by a bare route on the API's uvicorn
  configuration (`floor_api.py`), with the signup's body: the floor of the signup's latency;
- ours: pro signups over HTTP, each followed to `active` (the workflow's result);

then provision-status reads against `GET /health` (in twice as many rounds, in turn). Each
figure is over all rounds together (tenants ÷ seconds, percentiles of every latency, CPU ÷
tenants); "later batch vs first" is ours in the last round against ours in the first.

and prints the DESIGN.md ratios, ours ÷ the job floor, and a per-tenant cost table (CPU ms of
each process, database transactions, emulator HTTP requests, Temporal history events). These
machines are noisy: compare ratios, not absolute numbers; repeat for confidence.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import ROOT, Stack, bounded, free_port, pct, spawned, wait_http
from syston.core.temporal import provision_workflow_id

FLOOR_QUEUE = "bench-floor"


@dataclass
class Batch:
    """One batch's figures, and what it cost."""

    n: int
    wall: float
    latencies: list[float]
    starts: list[float]
    cpu: dict[str, float] = field(default_factory=dict)
    transactions: int | None = None
    upstream_requests: int = 0
    history_events: int = 0

    @property
    def per_s(self) -> float:
        return self.n / self.wall

    @property
    def p50(self) -> float:
        return pct(self.latencies, 0.5)

    @property
    def start_p50(self) -> float:
        return pct(self.starts, 0.5)


def merged(batches: list[Batch]) -> Batch:
    """Several batches of one kind as one: their tenants, time, latencies and costs summed."""
    total = Batch(0, 0.0, [], [])
    for batch in batches:
        total.n += batch.n
        total.wall += batch.wall
        total.latencies += batch.latencies
        total.starts += batch.starts
        for role, seconds in batch.cpu.items():
            total.cpu[role] = total.cpu.get(role, 0.0) + seconds
        if batch.transactions is not None:
            total.transactions = (total.transactions or 0) + batch.transactions
        total.upstream_requests += batch.upstream_requests
        total.history_events = batch.history_events
    return total


async def measured(stack: Stack, batch: Batch, run: object) -> Batch:
    """Run `run` (a coroutine producing the batch) with the stack's costs around it."""
    cpu0, tx0, up0 = stack.cpu(), stack.transactions(), await stack.emulator_requests()
    t0 = time.perf_counter()
    await run  # type: ignore[misc]
    batch.wall = time.perf_counter() - t0
    cpu1, tx1, up1 = stack.cpu(), stack.transactions(), await stack.emulator_requests()
    batch.cpu = {role: cpu1[role] - cpu0[role] for role in cpu0}
    batch.transactions = None if tx0 is None or tx1 is None else tx1 - tx0
    batch.upstream_requests = up1 - up0
    return batch


async def floor_batch(
    stack: Stack, client: Client, workflow: str, n: int, concurrency: int
) -> Batch:
    batch = Batch(n, 0.0, [], [])
    last_id = ""

    async def one() -> None:
        nonlocal last_id
        workflow_id = f"{workflow.lower()}-{uuid.uuid4().hex}"
        t0 = time.perf_counter()
        handle = await client.start_workflow(
            workflow, workflow_id, id=workflow_id, task_queue=FLOOR_QUEUE
        )
        batch.starts.append(time.perf_counter() - t0)
        await handle.result()
        batch.latencies.append(time.perf_counter() - t0)
        last_id = workflow_id

    await measured(stack, batch, bounded(concurrency, [one] * n))
    batch.history_events = await history_events(client, last_id)
    return batch


async def signup_batch(
    stack: Stack,
    client: Client,
    n: int,
    concurrency: int,
    *,
    base_url: str | None = None,
    path: str = "/public/signup/start",
) -> Batch:
    """Pro signups over HTTP (ours, or the HTTP start floor at `base_url`), each followed to
    the end of its workflow."""
    batch = Batch(n, 0.0, [], [])
    run = uuid.uuid4().hex[:6]
    last_id = ""

    async with httpx.AsyncClient(base_url=base_url or stack.api, timeout=60) as http:

        async def one(i: int) -> None:
            nonlocal last_id
            slug = f"bench-{run}-{i}"
            t0 = time.perf_counter()
            response = await http.post(
                path,
                json={
                    "clubName": f"Bench {i}",
                    "clubSlug": slug,
                    "email": f"{slug}@example.org",
                    "plan": "pro",
                },
            )
            batch.starts.append(time.perf_counter() - t0)
            response.raise_for_status()
            reply = response.json()
            workflow_id = reply.get("workflowId") or provision_workflow_id(reply["tenantId"])
            await wait_result(client, workflow_id)
            batch.latencies.append(time.perf_counter() - t0)
            last_id = workflow_id

        await measured(stack, batch, bounded(concurrency, [lambda i=i: one(i) for i in range(n)]))
    batch.history_events = await history_events(client, last_id)
    return batch


async def wait_result(client: Client, workflow_id: str) -> None:
    """The workflow's result; the start may still be on its way (the intake relay's)."""
    for _ in range(600):
        try:
            await client.get_workflow_handle(workflow_id).result()
            return
        except Exception as exc:  # not found yet
            if "not found" not in str(exc).lower():
                raise
        await asyncio.sleep(0.05)
    raise SystemExit(f"{workflow_id} never started")


async def history_events(client: Client, workflow_id: str) -> int:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return len(history.events)


async def reads_per_second(
    api: str, paths: dict[str, tuple[str, dict[str, str]]], n: int, concurrency: int, rounds: int
) -> dict[str, float]:
    """Requests per second of each path (name → path, headers), `n` each, in `rounds` rounds of
    one slice of each in turn (the order rotating), so the machine's drift falls on all alike."""
    slice_ = max(1, n // rounds)
    elapsed = dict.fromkeys(paths, 0.0)
    async with httpx.AsyncClient(base_url=api, timeout=30) as http:

        def reader(path: str, headers: dict[str, str]) -> Callable[[], Awaitable[None]]:
            async def one() -> None:
                (await http.get(path, headers=headers)).raise_for_status()

            return one

        readers = {name: reader(*where) for name, where in paths.items()}
        for one in readers.values():
            await bounded(concurrency, [one] * 20)  # warm-up
        for round_ in range(rounds):
            names = list(readers)
            for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                t0 = time.perf_counter()
                await bounded(concurrency, [readers[name]] * slice_)
                elapsed[name] += time.perf_counter() - t0
    return {name: slice_ * rounds / seconds for name, seconds in elapsed.items()}


async def status_reads(
    stack: Stack, reads: int, concurrency: int, rounds: int
) -> tuple[float, float]:
    admin = stack.syston("token", "admin")
    async with httpx.AsyncClient(base_url=stack.api) as http:
        slug = f"reads-{uuid.uuid4().hex[:6]}"
        tenant = (
            await http.post(
                "/public/signup/start",
                json={
                    "clubName": "Reads",
                    "clubSlug": slug,
                    "email": f"{slug}@example.org",
                    "plan": "starter",
                },
            )
        ).json()["tenantId"]
    auth = {"Authorization": f"Bearer {admin}"}
    rates = await reads_per_second(
        stack.api,
        {
            "health": ("/health", {}),
            "status": (f"/api/v1/tenants/{tenant}/provision-status", auth),
        },
        reads,
        concurrency,
        rounds=2 * rounds,
    )
    return rates["status"], rates["health"]


def ratio_rows(
    engine: Batch,
    job: Batch,
    http: Batch,
    ours: Batch,
    first: Batch,
    later: Batch,
    status: float,
    trivial: float,
) -> list[tuple[str, float, float, float, str]]:
    return [
        ("tenants/s signup→active vs engine floor", ours.per_s, engine.per_s, 0.8, ">="),
        ("signup→active p50 (s) vs engine floor", ours.p50, engine.p50, 1.25, "<="),
        ("provision-status req/s vs /health", status, trivial, 0.7, ">="),
        ("signup p50 (s) vs bare start_workflow", ours.start_p50, engine.start_p50, 1.5, "<="),
        ("throughput later batch vs first", later.per_s, first.per_s, 0.9, ">="),
        ("tenants/s vs job floor", ours.per_s, job.per_s, 0.9, ">="),
        ("signup→active p50 (s) vs job floor", ours.p50, job.p50, 0.0, ""),
        ("job floor tenants/s vs engine floor", job.per_s, engine.per_s, 0.0, ""),
        ("signup p50 (s) vs HTTP start floor", ours.start_p50, http.start_p50, 0.0, ""),
        ("HTTP start floor p50 (s) vs bare start", http.start_p50, engine.start_p50, 0.0, ""),
        ("tenants/s vs job floor over HTTP", ours.per_s, http.per_s, 0.0, ""),
    ]


def print_report(database: str, rows: list[tuple[str, float, float, float, str]]) -> None:
    print(f"\n[{database}] {'measure':44} {'ours':>9} {'baseline':>9} {'ratio':>7}  target")
    for name, ours, baseline, target, op in rows:
        ratio = ours / baseline if baseline else float("nan")
        verdict = ""
        if op:
            ok = ratio >= target if op == ">=" else ratio <= target
            verdict = f"{op} {target} {'ok' if ok else 'MISSED'}"
        pad = " " * (len(database) + 3)
        print(f"{pad}{name:44} {ours:9.3f} {baseline:9.3f} {ratio:7.2f}  {verdict}")


def print_costs(database: str, batches: dict[str, Batch]) -> None:
    roles = ["api", "worker", "emulators", "temporal", "bench"]
    print(
        f"\n[{database}] per tenant (worker: ours, or floor_worker.py for the floors; api: ours, "
        "or floor_api.py for the job floor over HTTP)"
    )
    print(f"  {'':36}" + "".join(f"{r:>10}" for r in roles), end="")
    print(f"{'total':>10}{'db tx':>8}{'upstream':>10}{'history':>9}")
    for name, batch in batches.items():
        worker = "floor" if "floor" in name else "worker"
        api = "floor_api" if "HTTP" in name else "api"
        where = {"worker": worker, "api": api}
        cpu = [batch.cpu.get(where.get(r, r), 0.0) * 1000 / batch.n for r in roles]
        tx = "-" if batch.transactions is None else f"{batch.transactions / batch.n:.1f}"
        cells = "".join(f"{c:10.1f}" for c in cpu)
        print(
            f"  {'CPU ms, ' + name:36}{cells}{sum(cpu):10.1f}{tx:>8}"
            f"{batch.upstream_requests / batch.n:10.1f}{batch.history_events:9d}"
        )


async def run_database(database: str, n: int, concurrency: int, reads: int, rounds: int) -> None:
    stack = await Stack(database=database).start()
    try:
        floor_env = {**stack.worker_env(), "TEMPORAL_ADDRESS": stack.temporal}
        floor_api_port = free_port()
        floor_api = f"http://127.0.0.1:{floor_api_port}"
        with (
            spawned([sys.executable, str(ROOT / "bench" / "floor_worker.py")], floor_env) as f,
            spawned(
                [sys.executable, str(ROOT / "bench" / "floor_api.py")],
                {**floor_env, "FLOOR_API_PORT": str(floor_api_port), "LOG_LEVEL": "WARNING"},
            ) as fa,
        ):
            stack.pids["floor"], stack.pids["floor_api"] = f.pid, fa.pid
            await wait_http(f"{floor_api}/health")
            client = await Client.connect(stack.temporal, data_converter=pydantic_data_converter)

            async def batch_of(kind: str, size: int) -> Batch:
                if kind == "ours":
                    return await signup_batch(stack, client, size, concurrency)
                if kind == "http":
                    return await signup_batch(
                        stack, client, size, concurrency, base_url=floor_api, path="/start"
                    )
                name = "EngineFloor" if kind == "engine" else "JobFloor"
                return await floor_batch(stack, client, name, size, concurrency)

            kinds: dict[str, list[Batch]] = {"engine": [], "job": [], "http": [], "ours": []}
            print(f"[{database}] warming up ({max(1, n // 4)} of each)…", flush=True)
            for kind in kinds:
                await batch_of(kind, max(1, n // 4))
            for round_ in range(rounds):
                order = list(kinds)[round_ % len(kinds) :] + list(kinds)[: round_ % len(kinds)]
                for kind in order:
                    kinds[kind].append(await batch_of(kind, n))
            status, trivial = await status_reads(stack, reads, concurrency, rounds)
    finally:
        stack.stop()
    engine, job, http, ours = (merged(kinds[k]) for k in ("engine", "job", "http", "ours"))
    first, later = kinds["ours"][0], kinds["ours"][-1]
    print_report(database, ratio_rows(engine, job, http, ours, first, later, status, trivial))
    print_costs(
        database,
        {"engine floor": engine, "job floor": job, "job floor over HTTP": http, "ours": ours},
    )
    print(
        f"\n({rounds} rounds of {n} tenants per batch, concurrency {concurrency}, {reads} reads; "
        f"history = events of one workflow; db tx on PostgreSQL only)",
        flush=True,
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--tenants", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--reads", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="batches of each kind, in turn")
    args = parser.parse_args()
    databases = ("sqlite", "postgresql") if args.database == "both" else (args.database,)
    for database in databases:
        await run_database(database, args.tenants, args.concurrency, args.reads, args.rounds)


if __name__ == "__main__":
    asyncio.run(main())
