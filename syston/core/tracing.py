"""Optional OpenTelemetry tracing (the `otel` extra; docs/observability.md).

Off unless the standard variables ask for it: OTEL_TRACES_EXPORTER (`otlp`, `console`, or both,
comma-separated; `none` is off) or an OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT,
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT); OTEL_SDK_DISABLED=true wins over both. Off, nothing of
OpenTelemetry is imported and nothing is wrapped: no cost.

On, one trace follows a signup from the HTTP request (FastAPI) through the workflow start, the
workflow and its activities (Temporal's TracingInterceptor on the client, which the worker
inherits) to the upstream calls (httpx) and SQL (SQLAlchemy) they make; JSON log lines written
inside a span carry its `trace_id`. The exporter, its endpoint, headers, the service name and
the resource come from the usual OTEL_* variables (OTLP over HTTP/protobuf).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from syston.core.logs import log_event, set_trace_id_source

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider
    from temporalio.client import Interceptor

_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
# Probes and scrapes would drown the traces that matter.
EXCLUDED_URLS = "/health,/ready,/metrics"


def tracing_requested(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the OTEL_* variables ask for traces."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = _exporter_names(env)
    if exporters is not None:
        return exporters != ["none"]
    return any(env.get(name, "").strip() for name in _ENDPOINT_VARS)


def _exporter_names(env: Mapping[str, str]) -> list[str] | None:
    raw = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    return [name.strip() for name in raw.split(",") if name.strip()] if raw else None


class Tracing:
    """A tracer provider and what to hook it into; made by `start_tracing` (or by a test)."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer("syston")

    def temporal_interceptors(self) -> Sequence[Interceptor]:
        """For the Temporal client; a worker built on that client uses them too."""
        from temporalio.contrib.opentelemetry import TracingInterceptor

        return [TracingInterceptor(self.tracer)]

    def instrument_app(self, app: FastAPI) -> None:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(
            app, tracer_provider=self.provider, excluded_urls=EXCLUDED_URLS
        )

    def instrument_libraries(self) -> None:
        """httpx (every client) and SQLAlchemy (engines created from now on), process-wide."""
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        HTTPXClientInstrumentor().instrument(tracer_provider=self.provider)
        # The instrumentation declares SQLAlchemy < 2.1 and would silently do nothing on the
        # 2.1 we run; the engine events it hooks are unchanged (tests/ops/test_tracing.py).
        SQLAlchemyInstrumentor().instrument(tracer_provider=self.provider, skip_dep_check=True)
        set_trace_id_source(_current_trace_id)

    def uninstrument_libraries(self) -> None:
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        set_trace_id_source(None)
        HTTPXClientInstrumentor().uninstrument()
        SQLAlchemyInstrumentor().uninstrument()

    def shutdown(self) -> None:
        """Flush what is still buffered (at the end of the process)."""
        self.provider.shutdown()


def _current_trace_id() -> str | None:
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def start_tracing(service_name: str, environ: Mapping[str, str] | None = None) -> Tracing | None:
    """The process's tracing when OTEL_* asks for it (else None), installed globally."""
    env = os.environ if environ is None else environ
    if not tracing_requested(env):
        return None
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
    except ImportError:
        log_event(
            "tracing_unavailable",
            logging.WARNING,
            reason="OTEL_* asks for traces but the otel extra is not installed",
        )
        return None
    attributes = {} if env.get("OTEL_SERVICE_NAME") else {"service.name": service_name}
    provider = TracerProvider(resource=Resource.create(attributes))
    exporters = _exporter_names(env) or ["otlp"]
    for name in exporters:
        _add_exporter(provider, name)
    trace.set_tracer_provider(provider)
    tracing = Tracing(provider)
    tracing.instrument_libraries()
    log_event("tracing_started", service=service_name, exporters=",".join(exporters))
    return tracing


def _add_exporter(provider: Any, name: str) -> None:
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    exporter: Any
    if name == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()  # endpoint, headers, timeout from OTEL_EXPORTER_OTLP_*
    elif name == "console":
        exporter = ConsoleSpanExporter()
    else:
        if name != "none":
            log_event("tracing_exporter_unknown", logging.WARNING, exporter=name)
        return
    provider.add_span_processor(BatchSpanProcessor(exporter))
