"""Where the time goes: py-spy on the API, the worker and the emulators under the bench load.

    .venv/bin/python bench/profile_stack.py [--database sqlite|postgresql] [--tenants 120]
        [--concurrency 10] [--rate 100] [--top 25] [--out DIR]

Starts the stack as bench_provisioning.py does, warms it up, then samples each process with
`py-spy record --gil` (only the thread holding the GIL: CPU, not waiting) while a batch of pro
signups runs to `active`, and prints for each process the functions with the most samples,
self and inclusive. The raw stacks are kept in DIR (default: a temporary dir) for flame graphs
(`flamegraph.pl DIR/worker.txt > worker.svg`, or load them in speedscope.app).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_provisioning import signup_batch
from bench.harness import Stack

PROFILED = ("api", "worker", "emulators")
_LINE = re.compile(r":\d+\)$")


def top_table(path: Path, top: int) -> str:
    """A py-spy raw file as three tables: self samples by package, self samples by function,
    and inclusive samples of our own functions (the project's packages)."""
    total = 0
    own: collections.Counter[str] = collections.Counter()
    by_package: collections.Counter[str] = collections.Counter()
    ours: collections.Counter[str] = collections.Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = [
            _LINE.sub(")", f) for f in stack.split(";") if not f.startswith(("process ", "thread "))
        ]
        if not frames:
            continue
        total += n
        own[frames[-1]] += n
        by_package[_package(frames[-1])] += n
        for frame in set(frames):
            if _package(frame) in OUR_PACKAGES and "syston/cli/" not in frame:
                ours[frame] += n
    if not total:
        return "  (no samples)"

    def rows(title: str, counter: collections.Counter[str]) -> list[str]:
        return [f"  {title}:"] + [
            f"    {c * 100 / total:5.1f}%  {f}" for f, c in counter.most_common(top)
        ]

    return "\n".join(
        [
            f"  {total} samples (GIL held)",
            *rows("self, by package", by_package),
            *rows("self, by function", own),
            *rows("inclusive, our code", ours),
        ]
    )


OUR_PACKAGES = {"syston", "api", "workflows", "activities", "integrations", "emulators", "worker"}
_FILE = re.compile(r"\(([^):]+)")


def _package(frame: str) -> str:
    """The top-level package (or stdlib module) of a frame like `f (pkg/mod.py)`."""
    match = _FILE.search(frame)
    if match is None:
        return "?"
    name = match.group(1).lstrip("<").split("/")[0]
    return name.removesuffix(".py") or "?"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--tenants", type=int, default=120)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="syston-profile-"))
    out.mkdir(parents=True, exist_ok=True)
    py_spy = Path(sys.executable).parent / "py-spy"
    if not py_spy.exists():
        raise SystemExit(
            f"py-spy is not installed in this venv: {sys.executable} -m pip install py-spy"
        )

    stack = await Stack(database=args.database).start()
    try:
        client = await Client.connect(stack.temporal, data_converter=pydantic_data_converter)
        await signup_batch(stack, client, max(1, args.tenants // 4), args.concurrency)  # warm-up
        spies = {
            role: subprocess.Popen(
                [
                    str(py_spy),
                    "record",
                    "--gil",
                    "--nonblocking",
                    "--rate",
                    str(args.rate),
                    "--format",
                    "raw",
                    "--output",
                    str(out / f"{role}.txt"),
                    "--pid",
                    str(stack.pids[role]),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for role in PROFILED
        }
        await asyncio.sleep(1.0)  # py-spy attaches
        batch = await signup_batch(stack, client, args.tenants, args.concurrency)
        for spy in spies.values():
            spy.send_signal(signal.SIGINT)
        for spy in spies.values():
            spy.wait(timeout=60)
    finally:
        stack.stop()
    print(f"{args.tenants} pro signups to active on {args.database}: {batch.per_s:.1f} tenants/s")
    for role in PROFILED:
        print(f"\n== {role} ({out / (role + '.txt')})")
        print(top_table(out / f"{role}.txt", args.top))


if __name__ == "__main__":
    asyncio.run(main())
