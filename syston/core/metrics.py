"""Prometheus metrics of the API and of the worker (`GET /metrics`, `WORKER_METRICS_PORT`).

Each process owns its registry (one per app, so several apps in one test process never
collide); in a multi-replica deployment Prometheus scrapes every replica and sums.

Signups, denials, re-queues and provisioning outcomes are counted from the same events the
logs show (`syston.core.logs.log_event` hands each one to the current event sink), so a dashboard
and `syston logs` never disagree. Requests are observed by the request middleware; tenants by
status is a gauge read from the database at scrape time (one GROUP BY, cached a few seconds).

    API      syston_http_requests_total{method,route,status}
             syston_http_request_duration_seconds{method,route}      histogram
             syston_signups_total{outcome,code}        accepted | replayed | rejected (+ code)
             syston_authz_denials_total{reason}
             syston_provision_requeues_total{action}
             syston_lifecycle_transitions_total{transition}   suspended, reactivated,
                                                       offboarding_scheduled, offboarding_cancelled,
                                                       plan_change_started
             syston_tenants{status}                    gauge, from the database
    worker   syston_provision_step_total{step,outcome}  completed | retrying | failed
             syston_provision_step_duration_seconds{step,outcome}     histogram
             syston_provision_completed_total{plan}
             syston_provision_failed_total{step,code}
             syston_provision_duration_seconds{plan}   signup to active, histogram
             syston_lifecycle_operations_total{operation,outcome}   completed | failed
             syston_lifecycle_events_total{type,outcome}   delivered | retrying | abandoned
    both     syston_intake_pending                     gauge: accepted, run not begun yet
             syston_intake_oldest_pending_seconds      gauge: age of the oldest of those
             syston_intake_relayed_total{how}          workflows started: immediate | relay
             syston_intake_relay_failures_total{how,reason}   unavailable | timeout | error

The intake gauges are read from the database by each process's relay pass (every few seconds),
so every replica reports the same backlog: aggregate them with `max`, not `sum`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import start_http_server as _start_http_server

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
TENANT_GAUGE_TTL_SECONDS: Final = 5.0
REQUEST_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STEP_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
PROVISION_BUCKETS: Final = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0)
API_TRANSITIONS: Final = {
    "tenant_suspended": "suspended",
    "tenant_reactivated": "reactivated",
    "tenant_offboarding_scheduled": "offboarding_scheduled",
    "tenant_offboarding_cancelled": "offboarding_cancelled",
    "tenant_plan_change_started": "plan_change_started",
}
EVENT_OUTCOMES: Final = {
    "lifecycle_event_delivered": "delivered",
    "lifecycle_event_retrying": "retrying",
    "lifecycle_event_abandoned": "abandoned",
}


class IntakeMetrics:
    """The durable intake's metrics (syston.intake), in the API's and the worker's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.pending = Gauge(
            "syston_intake_pending",
            "Accepted signups whose provisioning run has not begun yet",
            registry=r,
        )
        self.oldest_seconds = Gauge(
            "syston_intake_oldest_pending_seconds",
            "Age of the oldest accepted signup whose workflow has not started (0 when none)",
            registry=r,
        )
        self.relayed = Counter(
            "syston_intake_relayed",
            "Provisioning workflows started from the intake, by how (immediate, relay)",
            ["how"],
            registry=r,
        )
        self.failures = Counter(
            "syston_intake_relay_failures",
            "Failed attempts to start pending workflows, by how and reason "
            "(unavailable, timeout, error), counted per tenant",
            ["how", "reason"],
            registry=r,
        )

    def observe_backlog(self, pending: int, oldest_seconds: float) -> None:
        self.pending.set(pending)
        self.oldest_seconds.set(oldest_seconds)

    def on_event(self, event: str, fields: Mapping[str, Any]) -> None:
        if event == "intake_relayed":
            self.relayed.labels(str(fields.get("how") or "unknown")).inc()
        elif event == "intake_relay_failed":
            tenants = fields.get("tenants")
            self.failures.labels(
                str(fields.get("how") or "unknown"), str(fields.get("reason") or "unknown")
            ).inc(tenants if isinstance(tenants, int) and tenants > 0 else 1)


class ApiMetrics:
    """The API process's metrics; `observe` and `on_event` are its two inputs."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "syston_http_requests",
            "HTTP requests by route template and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "syston_http_request_duration_seconds",
            "HTTP request latency by route template",
            ["method", "route"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.signups = Counter(
            "syston_signups",
            "Signups by outcome (accepted, replayed, rejected) and rejection code",
            ["outcome", "code"],
            registry=r,
        )
        self.denials = Counter(
            "syston_authz_denials", "401/403 answers by reason", ["reason"], registry=r
        )
        self.requeues = Counter(
            "syston_provision_requeues", "Re-queue requests by action", ["action"], registry=r
        )
        self.transitions = Counter(
            "syston_lifecycle_transitions",
            "Lifecycle changes made through the API",
            ["transition"],
            registry=r,
        )
        self.tenants = Gauge(
            "syston_tenants", "Tenants by status (read from the database)", ["status"], registry=r
        )
        self.tenants_read_ok = Gauge(
            "syston_tenants_read_ok",
            "1 when the tenants-by-status gauge could be read from the database",
            registry=r,
        )
        self.intake = IntakeMetrics(r)
        self._tenants_read_at = 0.0

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def on_event(self, event: str, fields: Mapping[str, Any]) -> None:
        if event == "signup_accepted":
            self.signups.labels("accepted", "").inc()
        elif event == "signup_replayed":
            self.signups.labels("replayed", "").inc()
        elif event == "signup_rejected":
            self.signups.labels("rejected", str(fields.get("code") or "UNKNOWN")).inc()
        elif event == "authz_deny":
            self.denials.labels(str(fields.get("reason") or "unknown")).inc()
        elif event == "provision_requeue":
            self.requeues.labels(str(fields.get("action") or "unknown")).inc()
        elif event in API_TRANSITIONS:
            self.transitions.labels(API_TRANSITIONS[event]).inc()
        else:
            self.intake.on_event(event, fields)

    async def render(self, count_tenants: Callable[[], Awaitable[Mapping[str, int]]]) -> bytes:
        """The exposition text, with the tenant gauge refreshed when older than a few seconds."""
        now = time.monotonic()
        if now - self._tenants_read_at >= TENANT_GAUGE_TTL_SECONDS:
            try:
                counts = await count_tenants()
            except Exception:
                # The database is down: say so, keep the last known values, retry next scrape.
                self.tenants_read_ok.set(0)
            else:
                self._tenants_read_at = now
                self.tenants_read_ok.set(1)
                self.tenants.clear()
                for status, n in counts.items():
                    self.tenants.labels(status).set(n)
        return generate_latest(self.registry)


class WorkerMetrics:
    """The worker process's provisioning metrics (steps are timed by the activity interceptor)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.steps = Counter(
            "syston_provision_step",
            "Provisioning step attempts by step and outcome (completed, retrying, failed)",
            ["step", "outcome"],
            registry=r,
        )
        self.step_seconds = Histogram(
            "syston_provision_step_duration_seconds",
            "Duration of one provisioning step attempt",
            ["step", "outcome"],
            buckets=STEP_BUCKETS,
            registry=r,
        )
        self.completed = Counter(
            "syston_provision_completed", "Tenants provisioned to active", ["plan"], registry=r
        )
        self.failed = Counter(
            "syston_provision_failed",
            "Provisioning runs stopped on a permanent error, by step and code",
            ["step", "code"],
            registry=r,
        )
        self.duration = Histogram(
            "syston_provision_duration_seconds",
            "Signup to active",
            ["plan"],
            buckets=PROVISION_BUCKETS,
            registry=r,
        )
        self.intake = IntakeMetrics(r)
        self.operations = Counter(
            "syston_lifecycle_operations",
            "Plan changes and offboardings by outcome (completed, failed = stopped on an error)",
            ["operation", "outcome"],
            registry=r,
        )
        self.events = Counter(
            "syston_lifecycle_events",
            "Signed lifecycle-event delivery attempts by type and outcome",
            ["type", "outcome"],
            registry=r,
        )

    def observe_step(self, step: str, outcome: str, seconds: float) -> None:
        self.steps.labels(step, outcome).inc()
        self.step_seconds.labels(step, outcome).observe(seconds)

    def on_event(self, event: str, fields: Mapping[str, Any]) -> None:
        if event == "tenant_provision_complete":
            plan = str(fields.get("plan") or "unknown")
            self.completed.labels(plan).inc()
            duration_ms = fields.get("duration_ms")
            if isinstance(duration_ms, int | float):
                self.duration.labels(plan).observe(duration_ms / 1000)
        elif event == "tenant_provision_failed":
            self.failed.labels(str(fields.get("step")), str(fields.get("code"))).inc()
        elif event in ("tenant_plan_changed", "tenant_offboarded"):
            operation = "plan_change" if event == "tenant_plan_changed" else "offboard"
            self.operations.labels(operation, "completed").inc()
        elif event == "tenant_operation_failed":
            self.operations.labels(str(fields.get("operation")), "failed").inc()
        elif event in EVENT_OUTCOMES:
            self.events.labels(str(fields.get("type")), EVENT_OUTCOMES[event]).inc()
        else:
            self.intake.on_event(event, fields)

    def serve(self, port: int, addr: str = "0.0.0.0") -> None:
        """Expose this registry on http://addr:port/metrics from a daemon thread."""
        _start_http_server(port, addr=addr, registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)
