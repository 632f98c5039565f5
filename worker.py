"""The worker's composition root: Temporal client, converter, workflows and activities.

`provisioning_worker()` wires them; `run_worker()` runs it until cancelled. `python worker.py`
is `syston worker`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from activities.provisioning import ProvisioningActivities
from activities.sheets_backends import build_sheets_backend
from integrations.make import MakeClient
from syston.core.correlation import WorkerObservability
from syston.core.db import create_engine, sessionmaker
from syston.core.logs import configure_logging, log_event
from syston.core.metrics import WorkerMetrics
from syston.core.settings import Settings, get_settings
from syston.core.temporal_client import connect_patiently, describe_target, sdk_metrics_runtime
from syston.core.tracing import Tracing, start_tracing
from syston.provisioning_store import ProvisioningStore
from syston.webhook_policy import build_safe_client
from workflows.provision import ProvisionTenant

MAX_CONCURRENT_ACTIVITIES = 50
GRACEFUL_SHUTDOWN = timedelta(seconds=10)


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


async def run_worker(settings: Settings | None = None) -> None:
    """Run the worker until cancelled (`syston worker` cancels it on SIGTERM/SIGINT); in-flight
    steps get GRACEFUL_SHUTDOWN to finish, anything still running is retried elsewhere."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_file)
    tracing = start_tracing("syston-worker")  # None unless OTEL_* asks for it
    try:
        await _serve(settings, tracing)
    finally:
        if tracing is not None:
            tracing.shutdown()


async def _serve(settings: Settings, tracing: Tracing | None) -> None:
    metrics = WorkerMetrics()
    runtime = None
    if settings.temporal_metrics_bind:
        runtime = sdk_metrics_runtime(settings.temporal_metrics_bind)
    interceptors = tracing.temporal_interceptors() if tracing else ()
    client = await connect_patiently(settings, runtime, interceptors)
    address, namespace = describe_target(settings)
    async with provisioning_worker(client, settings, metrics) as worker:
        log_event(
            "worker_started",
            task_queue=settings.temporal_task_queue,
            temporal=address,
            namespace=namespace,
            metrics_port=settings.worker_metrics_port,
            sdk_metrics=settings.temporal_metrics_bind,
        )
        try:
            async with worker:
                # Serving metrics only once polling makes the endpoint a readiness check too.
                if settings.worker_metrics_port is not None:
                    metrics.serve(settings.worker_metrics_port)
                await asyncio.Event().wait()
        finally:
            log_event("worker_stopped")


if __name__ == "__main__":
    # `python worker.py` is `syston worker` (same settings checks, signals and messages); exec
    # rather than import, because nothing below the command layer imports `syston.cli`.
    os.execv(sys.executable, [sys.executable, "-m", "syston.cli", "worker", *sys.argv[1:]])  # noqa: S606
