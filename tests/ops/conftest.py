"""`observed`: the service in-process as it runs in production — JSON logs to a LOG_FILE, the
worker's metrics and interceptors, the API's Temporal client carrying request ids."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from temporalio.client import Client

from api.app import create_app
from syston.core.correlation import with_request_ids
from syston.core.db import create_engine
from syston.core.metrics import WorkerMetrics
from syston.migrations import migrate_engine
from syston.tokens import TokenService
from tests.conftest import Stack, make_settings
from tests.support.emulator_server import RunningEmulator
from worker import provisioning_worker

PUBLIC_ADDRESS = "93.184.215.14"


async def fake_dns(host: str) -> list[str]:
    return [PUBLIC_ADDRESS]


@dataclass
class Observed(Stack):
    app: FastAPI
    worker_metrics: WorkerMetrics
    log_file: Path

    def log_lines(self) -> list[str]:
        return self.log_file.read_text(encoding="utf-8").splitlines()


@pytest.fixture
async def observed(
    temporal_client: Client,
    emulator: RunningEmulator,
    service_account_key: dict[str, Any],
    tmp_path: Path,
) -> AsyncIterator[Observed]:
    log_file = tmp_path / "logs" / "syston.log"
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
    metrics = WorkerMetrics()
    app = create_app(
        settings, temporal_client=with_request_ids(temporal_client), webhook_resolver=fake_dns
    )
    async with (
        provisioning_worker(temporal_client, settings, metrics) as worker,
        worker,
        app.router.lifespan_context(app),
    ):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            yield Observed(
                settings=settings,
                api=api,
                client=temporal_client,
                emulator=emulator,
                tokens=TokenService(settings.jwt_secrets, settings.jwt_issuer),
                app=app,
                worker_metrics=metrics,
                log_file=log_file,
            )
