"""Benchmarks against DESIGN.md's targets, as ratios to baselines measured in the same run.

    .venv/bin/python bench/bench_provisioning.py [--tenants 60] [--concurrency 10]

Starts `syston dev` (real Temporal dev server, emulators, SQLite, worker, API as separate
processes) in a temporary data dir on free ports, plus a baseline worker running a no-op
workflow with the same number of activities. Prints, for each target, the measured values and
the ratio. These machines are noisy: compare ratios, not absolute numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from syston.core.temporal import provision_workflow_id  # noqa: E402

NOOP_QUEUE = "bench-noop"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def wait_http(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.3)
    raise SystemExit(f"{url} did not become ready")


async def bounded(concurrency: int, jobs: list) -> list:  # type: ignore[type-arg]
    gate = asyncio.Semaphore(concurrency)

    async def run(job):  # type: ignore[no-untyped-def]
        async with gate:
            return await job()

    return await asyncio.gather(*(run(j) for j in jobs))


async def baseline_workflows(client: Client, n: int, concurrency: int) -> dict[str, float]:
    starts: list[float] = []
    latencies: list[float] = []

    async def one() -> None:
        t0 = time.perf_counter()
        handle = await client.start_workflow(
            "NoopThreeSteps",
            f"noop-{uuid.uuid4().hex}",
            id=f"noop-{uuid.uuid4().hex}",
            task_queue=NOOP_QUEUE,
        )
        starts.append(time.perf_counter() - t0)
        await handle.result()
        latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await bounded(concurrency, [one] * n)
    wall = time.perf_counter() - t0
    return {"per_s": n / wall, "p50": pct(latencies, 0.5), "start_p50": pct(starts, 0.5)}


async def product_signups(api: str, client: Client, n: int, concurrency: int) -> dict[str, float]:
    signups: list[float] = []
    latencies: list[float] = []
    run = uuid.uuid4().hex[:6]

    async with httpx.AsyncClient(base_url=api, timeout=60) as http:

        async def one(i: int) -> None:
            slug = f"bench-{run}-{i}"
            t0 = time.perf_counter()
            response = await http.post(
                "/public/signup/start",
                json={
                    "clubName": f"Bench {i}",
                    "clubSlug": slug,
                    "email": f"{slug}@example.org",
                    "plan": "pro",
                },
            )
            signups.append(time.perf_counter() - t0)
            response.raise_for_status()
            tenant_id = response.json()["tenantId"]
            await client.get_workflow_handle(provision_workflow_id(tenant_id)).result()
            latencies.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        await bounded(concurrency, [lambda i=i: one(i) for i in range(n)])
        wall = time.perf_counter() - t0
    return {"per_s": n / wall, "p50": pct(latencies, 0.5), "signup_p50": pct(signups, 0.5)}


async def reads_per_second(
    api: str, path: str, headers: dict[str, str], n: int, concurrency: int
) -> float:
    async with httpx.AsyncClient(base_url=api, headers=headers, timeout=30) as http:

        async def one() -> None:
            response = await http.get(path)
            response.raise_for_status()

        await bounded(concurrency, [one] * 20)  # warm-up
        t0 = time.perf_counter()
        await bounded(concurrency, [one] * n)
        return n / (time.perf_counter() - t0)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--reads", type=int, default=1000)
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="syston-bench-"))
    ports = {name: free_port() for name in ("api", "temporal", "ui", "emulator")}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYSTON_", "JWT_"))}
    env["SIGNUP_RATE_LIMIT"] = "0"
    env["LOG_LEVEL"] = "WARNING"
    syston = [sys.executable, "-m", "syston.cli"]
    dev = subprocess.Popen(
        [
            *syston,
            "dev",
            "--data-dir",
            str(data_dir),
            "--api-port",
            str(ports["api"]),
            "--temporal-port",
            str(ports["temporal"]),
            "--ui-port",
            str(ports["ui"]),
            "--emulator-port",
            str(ports["emulator"]),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    address = f"127.0.0.1:{ports['temporal']}"
    api = f"http://127.0.0.1:{ports['api']}"
    noop = None
    try:
        await wait_http(f"{api}/health")
        noop = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "noop_worker.py"), address], cwd=ROOT, env=env
        )
        client = await Client.connect(address, data_converter=pydantic_data_converter)
        admin = subprocess.run(
            [*syston, "token", "admin"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            env={**env, "SYSTON_DATA_DIR": str(data_dir)},
        ).stdout.strip()
        n, c = args.tenants, args.concurrency
        print(f"warming up ({n // 4} of each)…", flush=True)
        await baseline_workflows(client, n // 4, c)
        await product_signups(api, client, n // 4, c)

        base = await baseline_workflows(client, n, c)
        prod = await product_signups(api, client, n, c)
        second = await product_signups(api, client, n, c)

        async with httpx.AsyncClient(base_url=api) as http:
            tenant = (
                await http.post(
                    "/public/signup/start",
                    json={
                        "clubName": "Reads",
                        "clubSlug": f"reads-{uuid.uuid4().hex[:6]}",
                        "email": f"reads-{uuid.uuid4().hex[:6]}@example.org",
                        "plan": "starter",
                    },
                )
            ).json()["tenantId"]
        auth = {"Authorization": f"Bearer {admin}"}
        trivial = await reads_per_second(api, "/health", {}, args.reads, c)
        status = await reads_per_second(
            api, f"/api/v1/tenants/{tenant}/provision-status", auth, args.reads, c
        )

        rows = [
            ("tenants/s signup→active vs no-op workflow", prod["per_s"], base["per_s"], 0.8, ">="),
            ("signup→active p50 (s) vs no-op workflow", prod["p50"], base["p50"], 1.25, "<="),
            ("provision-status req/s vs /health", status, trivial, 0.7, ">="),
            (
                "signup p50 (s) vs bare start_workflow",
                prod["signup_p50"],
                base["start_p50"],
                1.5,
                "<=",
            ),
            ("throughput later batch vs first batch", second["per_s"], prod["per_s"], 0.9, ">="),
        ]
        print(f"\n{'measure':46} {'ours':>9} {'baseline':>9} {'ratio':>7}  target")
        for name, ours, baseline, target, op in rows:
            ratio = ours / baseline if baseline else float("nan")
            ok = ratio >= target if op == ">=" else ratio <= target
            print(
                f"{name:46} {ours:9.3f} {baseline:9.3f} {ratio:7.2f}  {op} {target} "
                f"{'ok' if ok else 'MISSED'}"
            )
        print(
            f"\n({n} tenants per batch, concurrency {c}, {args.reads} reads; "
            f"{os.cpu_count()} cores; stdev-free single run — repeat for confidence)"
        )
    finally:
        if noop is not None:
            noop.terminate()
            noop.wait(timeout=15)
        dev.send_signal(signal.SIGTERM)
        try:
            dev.wait(timeout=30)
        except subprocess.TimeoutExpired:
            dev.kill()


if __name__ == "__main__":
    asyncio.run(main())
