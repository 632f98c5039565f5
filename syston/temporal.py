"""Temporal names ops see (CONTRACT §6) and the one client connection per process."""

from __future__ import annotations

from typing import TYPE_CHECKING

from temporalio.client import Client, TLSConfig
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from syston.correlation import ClientRequestIds

if TYPE_CHECKING:
    from syston.settings import Settings

WORKFLOW_TYPE = "ProvisionTenant"
RETRY_SIGNAL = "retry"
OVERRIDE_SIGNAL = "status_overridden"
PROGRESS_QUERY = "progress"

TENANT_ID_ATTR = SearchAttributeKey.for_keyword("TenantId")
TENANT_PLAN_ATTR = SearchAttributeKey.for_keyword("TenantPlan")
PROVISION_STATUS_ATTR = SearchAttributeKey.for_keyword("ProvisionStatus")
SEARCH_ATTRIBUTE_NAMES = ("TenantId", "TenantPlan", "ProvisionStatus")


def workflow_id(tenant_id: str) -> str:
    return f"provision-{tenant_id}"


async def connect(settings: Settings, *, runtime: Runtime | None = None) -> Client:
    """Connect with the shared pydantic converter; API key or mTLS for Temporal Cloud.

    The client puts the current request id on workflow starts and signals (syston.correlation);
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
    from pathlib import Path

    return Path(str(path)).read_bytes() if path else None
