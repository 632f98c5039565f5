"""The worker's composition root: Temporal client, converter, workflows and activities.

`python worker.py` is `syston worker`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.worker import Worker

from activities.provisioning import ProvisioningActivities
from activities.sheets_backends import build_sheets_backend
from integrations.make import MakeClient
from syston.correlation import WorkerObservability
from syston.db import create_engine, sessionmaker
from syston.logs import configure_logging, log_event
from syston.metrics import WorkerMetrics
from syston.provisioning_store import ProvisioningStore
from syston.settings import Settings, get_settings
from syston.temporal import connect, sdk_metrics_runtime
from syston.webhook_policy import build_safe_client
from workflows.provision import ProvisionTenant

MAX_CONCURRENT_ACTIVITIES = 50
GRACEFUL_SHUTDOWN = timedelta(seconds=10)
CONNECT_PATIENCE_SECONDS = 30.0
CONNECT_RETRY_SECONDS = 2.0


@contextlib.asynccontextmanager
async def provisioning_worker(
    client: Client, settings: Settings, metrics: WorkerMetrics | None = None
) -> AsyncIterator[Worker]:
    """A configured (not yet running) worker with its engine and HTTP clients, closed after.

    `metrics` receives step timings and provisioning events (request ids propagate anyway).
    """
    engine = create_engine(settings.effective_database_url)
    timeout = httpx.Timeout(settings.upstream_timeout_seconds)
    http = httpx.AsyncClient(timeout=timeout, follow_redirects=False)
    tenant_http = build_safe_client(
        settings.webhook_host_patterns, settings.upstream_timeout_seconds
    )
    try:
        activities = ProvisioningActivities(
            ProvisioningStore(sessionmaker(engine)),
            sheets=build_sheets_backend(settings, http),
            make=MakeClient(http, settings.upstream_timeout_seconds),
            platform_webhook_url=settings.make_webhook_url,
            tenant_webhook_client=tenant_http,
        )
        yield Worker(
            client,
            task_queue=settings.temporal_task_queue,
            workflows=[ProvisionTenant],
            activities=activities.all(),
            max_concurrent_activities=MAX_CONCURRENT_ACTIVITIES,
            interceptors=[WorkerObservability(metrics)],
            # On SIGTERM (a deploy, a scale-in) let in-flight steps finish rather than cancel
            # them mid-write; whatever is still running after this is retried elsewhere.
            graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        )
    finally:
        await tenant_http.aclose()
        await http.aclose()
        await engine.dispose()


class TemporalUnreachable(Exception):
    """The worker could not reach Temporal within CONNECT_PATIENCE_SECONDS."""


async def _connect_patiently(settings: Settings, runtime: Runtime | None) -> Client:
    """Connect, retrying for a while: in a deployment Temporal may still be starting."""
    deadline = asyncio.get_running_loop().time() + CONNECT_PATIENCE_SECONDS
    while True:
        try:
            return await connect(settings, runtime=runtime)
        except RuntimeError as exc:  # the SDK's connection failure
            if asyncio.get_running_loop().time() >= deadline:
                raise TemporalUnreachable(
                    f"cannot reach Temporal at {settings.temporal_address} (namespace "
                    f"{settings.temporal_namespace}) after {CONNECT_PATIENCE_SECONDS:.0f} s: "
                    "is the server running and TEMPORAL_ADDRESS right?"
                ) from exc
            log_event("temporal_unreachable", logging.WARNING, temporal=settings.temporal_address)
            await asyncio.sleep(CONNECT_RETRY_SECONDS)


async def run_worker(settings: Settings | None = None) -> None:
    """Run until cancelled or SIGTERM/SIGINT; in-flight activities are retried elsewhere."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_file)
    metrics = WorkerMetrics()
    runtime = None
    if settings.temporal_metrics_bind:
        runtime = sdk_metrics_runtime(settings.temporal_metrics_bind)
    client = await _connect_patiently(settings, runtime)
    async with provisioning_worker(client, settings, metrics) as worker:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        log_event(
            "worker_started",
            task_queue=settings.temporal_task_queue,
            temporal=settings.temporal_address,
            namespace=settings.temporal_namespace,
            metrics_port=settings.worker_metrics_port,
            sdk_metrics=settings.temporal_metrics_bind,
        )
        async with worker:
            # Serving metrics only once polling makes the endpoint a readiness check too.
            if settings.worker_metrics_port is not None:
                metrics.serve(settings.worker_metrics_port)
            await stop.wait()
        log_event("worker_stopped")


def main() -> None:
    """`python worker.py` is `syston worker` (same settings checks, signals and messages)."""
    from syston.cli import main as syston

    raise SystemExit(syston(["worker"]))


if __name__ == "__main__":
    main()
