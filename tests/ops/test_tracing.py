"""OpenTelemetry (the `otel` extra): off unless OTEL_* asks; on, one trace from the signup
request to `active` — the request, the workflow start, the workflow, its activities, their SQL
and upstream HTTP calls — and the trace id on the JSON log lines written inside it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client

from api.app import create_app
from syston.core.engine import create_engine
from syston.core.settings import Settings
from syston.core.temporal_client import connect
from syston.core.tracing import Tracing, start_tracing, tracing_requested
from syston.migrations import migrate_engine
from syston.tokens import TokenService
from tests.support.emulator_server import RunningEmulator
from tests.support.resolver import FakeResolver
from tests.support.stack import Stack, make_settings
from worker import provisioning_worker


@pytest.mark.parametrize(
    ("environ", "wanted"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "syston"}, False),  # naming the service asks for nothing
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_tracing_is_switched_on_by_the_standard_variables(
    environ: dict[str, str], wanted: bool
) -> None:
    assert tracing_requested(environ) is wanted


def test_off_means_nothing_is_set_up(spans: tuple[Tracing, InMemorySpanExporter]) -> None:
    assert start_tracing("syston-api", environ={}) is None
    plain = create_app(Settings(_env_file=None, jwt_secret="t" * 40))  # type: ignore[call-arg]
    assert not getattr(plain, "_is_instrumented_by_opentelemetry", False)
    tracing, _ = spans
    traced = create_app(Settings(_env_file=None, jwt_secret="t" * 40), tracing=tracing)  # type: ignore[call-arg]
    assert getattr(traced, "_is_instrumented_by_opentelemetry", False)


@pytest.fixture
def spans() -> Iterator[tuple[Tracing, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = Tracing(provider)
    tracing.instrument_libraries()
    try:
        yield tracing, exporter
    finally:
        tracing.uninstrument_libraries()


@pytest.fixture
async def traced(
    temporal_client: Client,
    emulator: RunningEmulator,
    service_account_key: dict[str, Any],
    tmp_path: Path,
    spans: tuple[Tracing, InMemorySpanExporter],
) -> AsyncIterator[tuple[Stack, Path]]:
    tracing, _ = spans
    log_file = tmp_path / "syston.log"
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'syston.db'}",
        emulator,
        service_account_key,
        temporal_client.service_client.config.target_host,
        log_file=log_file,
    )
    engine = create_engine(settings.effective_database_url)
    await migrate_engine(engine)
    await engine.dispose()
    client = await connect(settings, interceptors=tracing.temporal_interceptors())
    app = create_app(
        settings, temporal_client=client, webhook_resolver=FakeResolver(), tracing=tracing
    )
    async with (
        provisioning_worker(client, settings) as worker,
        worker,
        app.router.lifespan_context(app),
    ):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            tokens = TokenService(settings.jwt_secrets, settings.jwt_issuer)
            yield Stack(settings, api, client, emulator, tokens), log_file


def _trace_of(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    (root,) = [s for s in spans if s.name == name and s.parent is None]
    assert root.context is not None
    return [
        s for s in spans if s.context is not None and s.context.trace_id == root.context.trace_id
    ]


async def test_one_trace_from_signup_to_active(
    traced: tuple[Stack, Path], spans: tuple[Tracing, InMemorySpanExporter]
) -> None:
    stack, log_file = traced
    _, exporter = spans
    response = await stack.signup("traced-club", plan="pro")
    assert response.status_code == 202, response.text
    tenant_id = response.json()["tenantId"]
    await stack.wait_for(tenant_id, "active")

    finished = list(exporter.get_finished_spans())
    trace = _trace_of(finished, "POST /public/signup/start")
    names = {s.name for s in trace}
    assert "StartWorkflow:ProvisionTenant" in names
    assert "RunWorkflow:ProvisionTenant" in names
    steps = {n.removeprefix("RunActivity:") for n in names if n.startswith("RunActivity:")}
    assert {"create_sheet", "configure_webhook", "mark_active"} <= {s.split(".")[-1] for s in steps}
    kinds = {
        str(s.attributes.get("db.system") or s.attributes.get("db.system.name")) for s in trace
    }
    assert "sqlite" in kinds  # SQL, the API's and the activities'
    upstream = [
        s for s in trace if "http.request.method" in s.attributes or "http.method" in s.attributes
    ]
    assert any(s.kind.name == "CLIENT" for s in upstream)  # httpx calls to the emulators

    trace_id = format(trace[0].context.trace_id, "032x")  # type: ignore[union-attr]
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    accepted = [r for r in lines if r["event"] == "signup_accepted"]
    assert [r.get("trace_id") for r in accepted] == [trace_id]
    completed = [r for r in lines if r["event"] == "tenant_provision_complete"]
    assert [r.get("trace_id") for r in completed] == [trace_id]
