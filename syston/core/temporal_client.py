"""The process's Temporal client connection and the SDK's metrics runtime.

Where to connect comes in two layers (docs/configuration.md, "Temporal"):

1. the SDK's environment configuration (`temporalio.envconfig`): the profile TEMPORAL_PROFILE
   (default `default`) of the TOML file TEMPORAL_CONFIG_FILE (default
   `~/.config/temporalio/temporal.toml`; none is fine), overridden by the SDK's TEMPORAL_*
   variables (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS,
   TEMPORAL_TLS_CLIENT_CERT_PATH, …) — what the `temporal` CLI and every SDK read;
2. this service's settings on top (the same names, also read from `.env`; the older
   TEMPORAL_TLS_CERT / _KEY / _CA are accepted for the TLS paths).

Anything still unset: `localhost:7233`, namespace `default`, no TLS (an API key implies TLS).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfigProfile, ClientConfigTLS, ClientConnectConfig
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from syston.core.correlation import ClientRequestIds
from syston.core.logs import log_event

if TYPE_CHECKING:
    from syston.core.settings import Settings

DEFAULT_ADDRESS = "localhost:7233"
DEFAULT_NAMESPACE = "default"


class TemporalConfigError(ValueError):
    """The Temporal client configuration cannot be loaded (e.g. an unknown profile)."""


def client_profile(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> ClientConfigProfile:
    """The envconfig profile with the settings layered on top (`environ`: tests)."""
    # `FOO=` means unset here as in the settings (compose's `${FOO:-}`); the SDK alone would
    # read an empty TEMPORAL_TLS_CLIENT_CERT_PATH as the path ".".
    given = os.environ if environ is None else environ
    env = {name: value for name, value in given.items() if value.strip()}
    try:
        base = ClientConfigProfile.load(
            settings.temporal_profile,
            config_source=settings.temporal_config_file,
            override_env_vars=env,
        )
    except Exception as exc:  # the SDK's bridge raises its own ConfigError type
        raise TemporalConfigError(f"Temporal client configuration: {exc}") from exc
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    return dataclasses.replace(
        base,
        address=settings.temporal_address or base.address or DEFAULT_ADDRESS,
        namespace=settings.temporal_namespace or base.namespace or DEFAULT_NAMESPACE,
        api_key=api_key or base.api_key,
        tls=_layered_tls(settings, base.tls),
    )


def _layered_tls(settings: Settings, base: ClientConfigTLS | None) -> ClientConfigTLS | None:
    given: dict[str, Any] = {
        "server_name": settings.temporal_tls_server_name,
        "server_root_ca_cert": settings.temporal_tls_server_ca_cert_path,
        "client_cert": settings.temporal_tls_client_cert_path,
        "client_private_key": settings.temporal_tls_client_key_path,
    }
    given = {name: value for name, value in given.items() if value is not None}
    if settings.temporal_tls is not None:
        given["disabled"] = not settings.temporal_tls
    elif given:
        given["disabled"] = False  # a certificate or CA given means TLS
    if not given:
        return base
    return dataclasses.replace(base or ClientConfigTLS(), **given)


def connect_config(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> ClientConnectConfig:
    """`Client.connect` keyword arguments: target host, namespace, API key, TLS, metadata."""
    profile = client_profile(settings, environ)
    try:
        return profile.to_client_connect_config()  # reads the certificate files
    except OSError as exc:
        raise TemporalConfigError(f"Temporal TLS: cannot read {exc.filename}") from exc


def describe_target(settings: Settings) -> tuple[str, str]:
    """(address, namespace) for messages; never raises."""
    try:
        profile = client_profile(settings)
    except TemporalConfigError:
        return (settings.temporal_address or DEFAULT_ADDRESS, settings.temporal_namespace or "?")
    return (profile.address or DEFAULT_ADDRESS, profile.namespace or DEFAULT_NAMESPACE)


async def connect(
    settings: Settings,
    *,
    runtime: Runtime | None = None,
    interceptors: Sequence[Interceptor] = (),
) -> Client:
    """Connect with the shared pydantic converter, configured as the module docstring says.

    The client puts the current request id on workflow starts and signals (core.correlation);
    `runtime` carries the SDK's own telemetry (the worker's TEMPORAL_METRICS_BIND).
    """
    return await Client.connect(
        **connect_config(settings),
        data_converter=pydantic_data_converter,
        interceptors=[ClientRequestIds(), *interceptors],
        runtime=runtime,
    )


def sdk_metrics_runtime(bind_address: str) -> Runtime:
    """A Temporal runtime exposing the SDK's worker metrics for Prometheus on `bind_address`."""
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind_address)))


CONNECT_PATIENCE_SECONDS = 30.0
CONNECT_RETRY_SECONDS = 2.0


class TemporalUnreachable(Exception):
    """Temporal could not be reached within CONNECT_PATIENCE_SECONDS."""


async def connect_patiently(
    settings: Settings,
    runtime: Runtime | None = None,
    interceptors: Sequence[Interceptor] = (),
) -> Client:
    """Connect, retrying for a while: in a deployment Temporal may still be starting."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CONNECT_PATIENCE_SECONDS
    while True:
        try:
            return await connect(settings, runtime=runtime, interceptors=interceptors)
        except RuntimeError as exc:  # the SDK's connection failure
            address, namespace = describe_target(settings)
            if loop.time() >= deadline:
                raise TemporalUnreachable(
                    f"cannot reach Temporal at {address} (namespace {namespace}) after "
                    f"{CONNECT_PATIENCE_SECONDS:.0f} s: is the server running and "
                    "TEMPORAL_ADDRESS (or the TEMPORAL_PROFILE) right?"
                ) from exc
            log_event("temporal_unreachable", logging.WARNING, temporal=address)
            await asyncio.sleep(CONNECT_RETRY_SECONDS)
