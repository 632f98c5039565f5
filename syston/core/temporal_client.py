"""The process's Temporal client connection and the SDK's metrics runtime."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from temporalio.client import Client, TLSConfig
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from syston.core.correlation import ClientRequestIds
from syston.core.logs import log_event

if TYPE_CHECKING:
    from syston.core.settings import Settings


async def connect(settings: Settings, *, runtime: Runtime | None = None) -> Client:
    """Connect with the shared pydantic converter; API key or mTLS for Temporal Cloud.

    The client puts the current request id on workflow starts and signals (core.correlation);
    `runtime` carries the SDK's own telemetry (the worker's TEMPORAL_METRICS_BIND).
    """
    tls: TLSConfig | bool = settings.temporal_tls
    if settings.temporal_tls_cert or settings.temporal_tls_ca:
        tls = TLSConfig(
            server_root_ca_cert=_read(settings.temporal_tls_ca),
            client_cert=_read(settings.temporal_tls_cert),
            client_private_key=_read(settings.temporal_tls_key),
        )
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    if api_key and tls is False:
        tls = True
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        api_key=api_key,
        tls=tls,
        interceptors=[ClientRequestIds()],
        runtime=runtime,
    )


def sdk_metrics_runtime(bind_address: str) -> Runtime:
    """A Temporal runtime exposing the SDK's worker metrics for Prometheus on `bind_address`."""
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind_address)))


def _read(path: object) -> bytes | None:
    return Path(str(path)).read_bytes() if path else None


CONNECT_PATIENCE_SECONDS = 30.0
CONNECT_RETRY_SECONDS = 2.0


class TemporalUnreachable(Exception):
    """Temporal could not be reached within CONNECT_PATIENCE_SECONDS."""


async def connect_patiently(settings: Settings, runtime: Runtime | None = None) -> Client:
    """Connect, retrying for a while: in a deployment Temporal may still be starting."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CONNECT_PATIENCE_SECONDS
    while True:
        try:
            return await connect(settings, runtime=runtime)
        except RuntimeError as exc:  # the SDK's connection failure
            if loop.time() >= deadline:
                raise TemporalUnreachable(
                    f"cannot reach Temporal at {settings.temporal_address} (namespace "
                    f"{settings.temporal_namespace}) after {CONNECT_PATIENCE_SECONDS:.0f} s: "
                    "is the server running and TEMPORAL_ADDRESS right?"
                ) from exc
            log_event("temporal_unreachable", logging.WARNING, temporal=settings.temporal_address)
            await asyncio.sleep(CONNECT_RETRY_SECONDS)
