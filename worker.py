"""The worker's composition root: Temporal client, converter, workflows and activities, and
the intake relay (every worker runs one beside the API's: syston.intake_relay).

`provisioning_worker()` wires them; `run_worker()` runs it until cancelled. `python worker.py`
is `syston worker`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.event_delivery import EventDispatcher, dispatching
from activities.lifecycle import LifecycleActivities
from activities.provisioning import ProvisioningActivities
from activities.sheets_backends import build_sheets_backend
from integrations.make import MakeClient
from syston.core.correlation import WorkerObservability
from syston.core.engine import create_engine, sessionmaker
from syston.core.logs import configure_logging, log_event
from syston.core.metrics import WorkerMetrics
from syston.core.settings import Settings, get_settings
from syston.core.temporal_client import connect_patiently, describe_target, sdk_metrics_runtime
from syston.core.tracing import Tracing, start_tracing
from syston.intake import ProvisionIntake
from syston.intake_relay import IntakeRelay
from syston.lifecycle_events import EventOutbox
from syston.lifecycle_store import LifecycleStore
from syston.operations import OperationLedger
from syston.provisioning_client import TemporalGateway
from syston.provisioning_store import ProvisioningStore
from syston.revocation import Revocations
from syston.webhook_policy import build_safe_client
from workflows.change_plan import ChangePlan
from workflows.offboard import OffboardTenant
from workflows.provision import ProvisionTenant

MAX_CONCURRENT_ACTIVITIES = 50
# The sandbox re-imports a workflow's modules for every run unless they are passed through;
# ours are (they hold constants, models and workflow classes, no mutable state), which saves
# ~9 ms of CPU per run (bench/README.md). The replay tests (tests/workflows/test_replay.py,
# tests/lifecycle/test_lifecycle_replay.py) run every workflow in the full sandbox, where a
# non-deterministic call in workflow code still fails.
WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("syston", "workflows")
)
GRACEFUL_SHUTDOWN = timedelta(seconds=10)


@contextlib.asynccontextmanager
async def provisioning_worker(
    client: Client, settings: Settings, metrics: WorkerMetrics | None = None
) -> AsyncIterator[Worker]:
    """A configured (not yet running) worker with its engine and HTTP clients, closed after;
    the intake relay and the lifecycle-event dispatcher run for the duration of the block.

    `metrics` receives step timings, provisioning and intake events (request ids propagate
    anyway).
    """
    engine = create_engine(settings.effective_database_url)
    sessions = sessionmaker(engine)
    relay = IntakeRelay(ProvisionIntake(sessions, TemporalGateway(settings, client)), metrics)
    timeout = httpx.Timeout(settings.upstream_timeout_seconds)
    http = httpx.AsyncClient(timeout=timeout, follow_redirects=False)
    tenant_http = build_safe_client(
        settings.webhook_host_patterns, settings.upstream_timeout_seconds
    )
    make = MakeClient(http, settings.upstream_timeout_seconds)
    dispatcher = EventDispatcher(
        EventOutbox(sessions),
        make,
        signing_keys=settings.webhook_signing_keys,
        platform_webhook_url=settings.make_webhook_url,
        tenant_webhook_client=tenant_http,
        event_sink=metrics.on_event if metrics is not None else None,
    )
    try:
        activities = _activities(settings, sessions, http, tenant_http, make)
        relay.start()
        async with dispatching(dispatcher):
            yield Worker(
                client,
                task_queue=settings.temporal_task_queue,
                workflows=[ProvisionTenant, ChangePlan, OffboardTenant],
                activities=activities,
                max_concurrent_activities=MAX_CONCURRENT_ACTIVITIES,
                workflow_runner=WORKFLOW_RUNNER,
                interceptors=[WorkerObservability(metrics)],
                # On SIGTERM (a deploy, a scale-in) let in-flight steps finish rather than
                # cancel them mid-write; whatever is still running after this is retried
                # elsewhere.
                graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
            )
    finally:
        await relay.stop()
        await tenant_http.aclose()
        await http.aclose()
        await engine.dispose()


def _activities(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    http: httpx.AsyncClient,
    tenant_http: httpx.AsyncClient,
    make: MakeClient,
) -> list[Callable[..., Awaitable[object]]]:
    """Every activity the worker runs, built on the worker's clients."""
    sheets = build_sheets_backend(settings, http)
    provisioning = ProvisioningActivities(
        ProvisioningStore(sessions),
        sheets=sheets,
        make=make,
        platform_webhook_url=settings.make_webhook_url,
        tenant_webhook_client=tenant_http,
    )
    lifecycle = LifecycleActivities(
        OperationLedger(sessions),
        LifecycleStore(sessions),
        Revocations(sessions),
        sheets=sheets,
        make=make,
        platform_webhook_url=settings.make_webhook_url,
        tenant_webhook_client=tenant_http,
    )
    return [*provisioning.all(), *lifecycle.all()]


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
        if not settings.webhook_signing_keys:
            # Receivers cannot verify unsigned events: say so once, loudly.
            log_event(
                "webhook_signing_disabled",
                logging.WARNING,
                reason="WEBHOOK_SIGNING_SECRET is not set: lifecycle events are sent unsigned",
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
