"""Configuration: one pydantic-settings class read from the environment or `.env`
(docs/configuration.md).

Nothing reads the environment at import time: call `get_settings()` (cached) where needed, or
construct `Settings(...)` directly in tests.
"""

from __future__ import annotations

import ipaddress
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_BYTES = 32
# The async drivers the service ships with (pyproject.toml).
SUPPORTED_DATABASE_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")
_DATABASE_URL_FORMS = (
    "sqlite+aiosqlite:///path/to/file.db or postgresql+asyncpg://user:password@host:5432/database"
)
DEFAULT_DATA_DIR = ".data"


class Settings(BaseSettings):
    """Every knob of the service. Names match the environment variables of docs/configuration.md."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    syston_env: Literal["dev", "production"] = "dev"
    data_dir: Path = Field(default=Path(DEFAULT_DATA_DIR), alias="SYSTON_DATA_DIR")
    database_url: str | None = None

    # The Temporal connection starts from the SDK's environment configuration (a profile of
    # temporal.toml and its TEMPORAL_* variables); each of these, when set, overrides it
    # (syston.core.temporal_client). Unset everywhere: localhost:7233, namespace default.
    temporal_profile: str | None = None
    temporal_config_file: Path | None = None
    temporal_address: str | None = None
    temporal_namespace: str | None = None
    temporal_task_queue: str = "provisioning"
    temporal_api_key: SecretStr | None = None
    temporal_tls: bool | None = None
    # The SDK's names first; TEMPORAL_TLS_CERT / _KEY / _CA are this service's older names.
    temporal_tls_client_cert_path: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CERT"),
    )
    temporal_tls_client_key_path: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("TEMPORAL_TLS_CLIENT_KEY_PATH", "TEMPORAL_TLS_KEY"),
    )
    temporal_tls_server_ca_cert_path: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("TEMPORAL_TLS_SERVER_CA_CERT_PATH", "TEMPORAL_TLS_CA"),
    )
    temporal_tls_server_name: str | None = None

    jwt_secret: SecretStr | None = None
    jwt_secret_next: SecretStr | None = None
    jwt_issuer: str = "syston.app"

    google_service_account_key: SecretStr | None = None
    google_api_endpoint: str | None = None
    google_drive_folder_id: str | None = None
    sheets_backend: Literal["google", "apps_script"] = "google"
    gas_webapp_url: str | None = None
    make_webhook_url: str | None = None
    allowed_webhook_hosts: str = "*.make.com"

    signup_rate_limit: str = "20/minute"
    # Proxies whose X-Forwarded-For names the client (addresses or CIDRs, comma-separated).
    # Empty: no proxy is trusted, the socket peer is the client.
    forwarded_allow_ips: str = ""
    # Offboarding's default grace period (DELETE /api/v1/admin/tenants/{id} without graceSeconds).
    offboard_grace_seconds: int = Field(default=30 * 24 * 3600, ge=0)
    # Standard Webhooks secrets (`whsec_<base64>`) that sign lifecycle events; NEXT also signs
    # during a rotation.
    webhook_signing_secret: SecretStr | None = None
    webhook_signing_secret_next: SecretStr | None = None
    # Each upstream HTTP call's timeout. Capped so that a step's few calls always end inside
    # the step's 120 s start-to-close timeout: a Google call runs in a thread that outlives a
    # timed-out activity, and must not overlap its retry (that could create a second sheet).
    upstream_timeout_seconds: float = Field(default=10.0, gt=0, le=10.0)
    log_file: Path | None = None
    log_level: str = "INFO"
    # The worker's Prometheus endpoints (the API serves its metrics on GET /metrics).
    worker_metrics_port: int | None = None
    temporal_metrics_bind: str | None = None

    @field_validator(
        "database_url",
        "temporal_profile",
        "temporal_config_file",
        "temporal_address",
        "temporal_namespace",
        "temporal_api_key",
        "temporal_tls",
        "temporal_tls_client_cert_path",
        "temporal_tls_client_key_path",
        "temporal_tls_server_ca_cert_path",
        "temporal_tls_server_name",
        "jwt_secret",
        "jwt_secret_next",
        "webhook_signing_secret",
        "webhook_signing_secret_next",
        "google_service_account_key",
        "google_api_endpoint",
        "google_drive_folder_id",
        "gas_webapp_url",
        "make_webhook_url",
        "log_file",
        "worker_metrics_port",
        "temporal_metrics_bind",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # `FOO=` (or compose's `${FOO:-}`) means "not set", not an empty secret or path.
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("jwt_secret", "jwt_secret_next")
    @classmethod
    def _secret_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < MIN_SECRET_BYTES:
            raise ValueError(
                f"must be at least {MIN_SECRET_BYTES} bytes (generate one with "
                "`openssl rand -base64 32`)"
            )
        return value

    @field_validator("webhook_signing_secret", "webhook_signing_secret_next")
    @classmethod
    def _signing_secret_format(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            from syston.core.webhook_signing import parse_signing_secret

            parse_signing_secret(value.get_secret_value())
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url_usable(cls, value: str | None) -> str | None:
        """Refused at startup, not at the first transaction. (SQLAlchemy is imported here, not
        at the top: `syston token` and the other quick commands never need it.)"""
        if value is None:
            return value
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError(f"is not a database URL ({_DATABASE_URL_FORMS})") from None
        if url.drivername not in SUPPORTED_DATABASE_DRIVERS:
            raise ValueError(f"names {url.drivername!r}: use {_DATABASE_URL_FORMS}")
        return value

    @field_validator("signup_rate_limit")
    @classmethod
    def _rate_limit_format(cls, value: str) -> str:
        parse_rate_limit(value)
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxies_are_addresses(cls, value: str) -> str:
        parse_trusted_proxies(value)
        return value

    @model_validator(mode="after")
    def _production_needs_real_things(self) -> Settings:
        if self.syston_env != "production":
            return self
        missing = [
            name
            for name, present in (
                ("JWT_SECRET", self.jwt_secret is not None),
                ("DATABASE_URL", self.database_url is not None),
                ("MAKE_WEBHOOK_URL", self.make_webhook_url is not None),
            )
            if not present
        ]
        if self.sheets_backend == "google" and self.google_service_account_key is None:
            missing.append("GOOGLE_SERVICE_ACCOUNT_KEY")
        if self.sheets_backend == "apps_script" and not self.gas_webapp_url:
            missing.append("GAS_WEBAPP_URL")
        if missing:
            raise ValueError(f"production requires {', '.join(missing)}")
        if self.google_api_endpoint:
            raise ValueError("production refuses GOOGLE_API_ENDPOINT (an emulator endpoint)")
        for name, url in (
            ("MAKE_WEBHOOK_URL", self.make_webhook_url),
            ("GAS_WEBAPP_URL", self.gas_webapp_url),
        ):
            if url and (
                "127.0.0.1" in url
                or "localhost" in url
                or "/make/hooks/" in url
                or "/gas/exec" in url
            ):
                raise ValueError(f"production refuses {name} pointing at an emulator")
        return self

    # -- derived values ------------------------------------------------------------------

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'syston.db').resolve()}"

    @property
    def webhook_host_patterns(self) -> list[str]:
        return [h.strip().lower() for h in self.allowed_webhook_hosts.split(",") if h.strip()]

    @property
    def jwt_secrets(self) -> list[bytes]:
        """Secrets accepted for verification: the current one first, then the next one."""
        return [
            s.get_secret_value().encode()
            for s in (self.jwt_secret, self.jwt_secret_next)
            if s is not None
        ]

    @property
    def webhook_signing_keys(self) -> list[bytes]:
        """The keys that sign lifecycle events: the current one first, then the next one."""
        from syston.core.webhook_signing import parse_signing_secret

        return [
            parse_signing_secret(s.get_secret_value())
            for s in (self.webhook_signing_secret, self.webhook_signing_secret_next)
            if s is not None
        ]

    def service_account_info(self) -> dict[str, Any] | None:
        """The Google service-account key as a dict (the setting holds JSON or a path)."""
        if self.google_service_account_key is None:
            return None
        raw = self.google_service_account_key.get_secret_value().strip()
        if not raw.startswith("{"):
            raw = Path(raw).expanduser().read_text(encoding="utf-8")
        info: dict[str, Any] = json.loads(raw)
        return info

    @property
    def rate_limit(self) -> tuple[int, float]:
        return parse_rate_limit(self.signup_rate_limit)

    @property
    def trusted_proxies(self) -> list[str]:
        """FORWARDED_ALLOW_IPS as a list; empty means no proxy is trusted."""
        return parse_trusted_proxies(self.forwarded_allow_ips)


_PERIODS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}


def parse_rate_limit(value: str) -> tuple[int, float]:
    """`20/minute` → (20, 60.0); `0` → (0, 0.0) meaning off."""
    text = value.strip().lower()
    if text in ("0", "off", ""):
        return (0, 0.0)
    count, _, period = text.partition("/")
    period = period.rstrip("s") or "minute"
    if not count.isdigit() or period not in _PERIODS:
        raise ValueError("must look like '20/minute' (second, minute, hour, day) or '0' for off")
    return (int(count), _PERIODS[period])


def parse_trusted_proxies(value: str) -> list[str]:
    """`10.0.0.5, 10.1.0.0/16` → the list; `*` trusts every peer. Anything else is refused
    here rather than silently never matching."""
    items = [item.strip() for item in value.split(",") if item.strip()]
    if items == ["*"]:
        return items
    for item in items:
        try:
            if "/" in item:
                ipaddress.ip_network(item)  # host bits set: refused, as uvicorn would
            else:
                ipaddress.ip_address(item)
        except ValueError:
            raise ValueError(
                f"{item!r} is not an IP address or CIDR network (comma-separated list, "
                "or * to trust every peer)"
            ) from None
    return items


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
