"""docker-compose.yml, Dockerfile and .env.example agree with the code they deploy."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from syston.cli import build_parser
from syston.core.settings import Settings
from syston.core.temporal_client import connect_config
from tests.support.cli import setting_env_names

ROOT = Path(__file__).resolve().parents[2]
# Variables of third-party images, not ours.
_TEMPORAL_DB = {"DB", "DB_PORT", "POSTGRES_USER", "POSTGRES_PWD", "POSTGRES_SEEDS"}
IMAGE_VARIABLES = {
    "postgres": {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"},
    "temporal-schema": _TEMPORAL_DB | {"SQL_PASSWORD"},
    "temporal": _TEMPORAL_DB | {"BIND_ON_IP"},
    "temporal-setup": {"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE"},
    "temporal-ui": {"TEMPORAL_ADDRESS", "TEMPORAL_DEFAULT_NAMESPACE"},
}
SYSTON = {"migrate", "api", "worker"}
BUNDLED_TEMPORAL = {"temporal-schema", "temporal", "temporal-setup", "temporal-ui"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def _subcommands() -> set[str]:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(action.choices)


def _syston_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose["services"].items()
        if service.get("image", "").startswith("syston") or "build" in service
    }


def test_the_deployment_has_every_component(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == SYSTON | BUNDLED_TEMPORAL | {"postgres"}
    assert set(_syston_services(compose)) == SYSTON


def started(compose: dict[str, Any], *profiles: str) -> set[str]:
    """What `docker compose [--profile P…] up` starts: the services without profiles or with
    one of the given ones; a dependency that is left out must be `required: false`."""
    services = compose["services"]
    active = {
        name
        for name, service in services.items()
        if not service.get("profiles") or set(service["profiles"]) & set(profiles)
    }
    for name in active:
        for dependency, spec in services[name].get("depends_on", {}).items():
            assert dependency in active or spec.get("required") is False, (name, dependency)
    return active


def test_profiles_start_what_each_deployment_needs(compose: dict[str, Any]) -> None:
    # Temporal Cloud and a managed PostgreSQL: only Syston's own components.
    assert started(compose) == SYSTON
    # Temporal Cloud, PostgreSQL here.
    assert started(compose, "postgres") == SYSTON | {"postgres"}
    # Everything on one host: Temporal persists to the same PostgreSQL.
    assert started(compose, "temporal") == SYSTON | {"postgres"} | BUNDLED_TEMPORAL
    assert started(compose, "postgres", "temporal") == started(compose, "temporal")


def test_maintained_temporal_images_and_the_schema_job(compose: dict[str, Any]) -> None:
    images = {name: s.get("image", "") for name, s in compose["services"].items()}
    assert not any("auto-setup" in image for image in images.values())  # deprecated
    assert images["temporal"].startswith("temporalio/server:")
    assert images["temporal-schema"].startswith("temporalio/admin-tools:")
    assert images["temporal-setup"].startswith("temporalio/admin-tools:")
    server_version = images["temporal"].split(":")[1]
    assert images["temporal-schema"].endswith(f":{server_version}")  # schema of that server
    script = compose["services"]["temporal-schema"]["command"][0]
    for step in ("create", "setup-schema -v 0.0", "update-schema -d"):
        assert step in script
    depends = compose["services"]["temporal"]["depends_on"]["temporal-schema"]
    assert depends["condition"] == "service_completed_successfully"


def test_syston_services_run_real_subcommands_that_parse(compose: dict[str, Any]) -> None:
    parser = build_parser()
    for name, service in _syston_services(compose).items():
        command = service["command"]
        assert command[0] in _subcommands(), name
        parser.parse_args(command)  # exits on an unknown flag
    assert _syston_services(compose)["api"]["command"][:3] == ["api", "--host", "0.0.0.0"]


def test_syston_services_set_only_real_settings(compose: dict[str, Any]) -> None:
    known = setting_env_names()
    for name, service in _syston_services(compose).items():
        unknown = set(service["environment"]) - known
        assert unknown == set(), f"{name} sets {unknown}, which Settings does not read"
        assert service["environment"]["SYSTON_ENV"] == "production"


def test_other_services_set_only_their_images_variables(compose: dict[str, Any]) -> None:
    for name, allowed in IMAGE_VARIABLES.items():
        assert set(compose["services"][name].get("environment", {})) <= allowed, name


def test_secrets_are_required_not_defaulted(compose: dict[str, Any]) -> None:
    env = _syston_services(compose)["api"]["environment"]
    for name in ("JWT_SECRET", "GOOGLE_SERVICE_ACCOUNT_KEY", "MAKE_WEBHOOK_URL"):
        assert re.fullmatch(rf"\$\{{{name}:\?.+\}}", env[name]), env[name]
    assert ":?" in compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]


def test_app_services_wait_for_migrations_and_search_attributes(compose: dict[str, Any]) -> None:
    for name in ("api", "worker"):
        depends = compose["services"][name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["temporal-setup"]["condition"] == "service_completed_successfully"
        assert depends["temporal-setup"]["required"] is False  # absent with Temporal Cloud
    setup = compose["services"]["temporal-setup"]["command"][0]
    for attribute in ("TenantId", "TenantPlan", "ProvisionStatus", "LifecycleOperation"):
        assert attribute in setup
    assert "namespace create" in setup


def test_the_image_runs_syston() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["syston"]' in dockerfile
    for package in ("syston", "api", "workflows", "activities", "integrations", "emulators"):
        assert f"COPY {package}/ {package}/" in dockerfile
    assert "worker.py" in dockerfile


def test_env_example_documents_every_setting() -> None:
    text = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^# ([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))
    expected = setting_env_names() - {"SYSTON_SUPERVISOR_PID"}
    assert expected - documented == set()
    assert documented - expected == set()
    # Every assignment is commented out: copying it to .env changes nothing.
    assert not re.search(r"^[A-Z_]+=", text, flags=re.MULTILINE)


def _resolve(value: str, given: dict[str, str]) -> str:
    """Compose's `${VAR:?msg}` / `${VAR:-default}` / `${VAR}` interpolation."""

    def one(match: re.Match[str]) -> str:
        name, op, rest = match.group(1), match.group(2) or "", match.group(3) or ""
        if name in given:
            return given[name]
        if op == ":?":
            raise KeyError(f"{name} is required: {rest}")
        return rest if op == ":-" else ""

    return re.sub(r"\$\{([A-Z0-9_]+)(:\?|:-)?([^}]*)\}", one, value)


REQUIRED = {
    "POSTGRES_PASSWORD": "pg-password",
    "JWT_SECRET": "j" * 44,
    "GOOGLE_SERVICE_ACCOUNT_KEY": '{"type": "service_account"}',
    "GOOGLE_DRIVE_FOLDER_ID": "folder",
    "MAKE_WEBHOOK_URL": "https://hook.eu1.make.com/abc",
}


def syston_settings(
    compose: dict[str, Any], given: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """The settings a Syston container gets from the compose file and the given variables
    (the mounted client profile file read from this repository's deploy/temporal/)."""
    for name, value in compose["x-syston-env"].items():
        monkeypatch.setenv(name, _resolve(str(value), given))
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(ROOT / "deploy/temporal/temporal.toml"))
    return Settings(_env_file=None)  # type: ignore[call-arg]


def test_the_services_environment_is_a_valid_production_configuration(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = syston_settings(compose, REQUIRED, monkeypatch)
    assert settings.syston_env == "production"
    assert settings.database_url == "postgresql+asyncpg://syston:pg-password@postgres:5432/syston"
    assert settings.jwt_secret_next is None  # `${JWT_SECRET_NEXT:-}` means unset
    assert settings.temporal_api_key is None
    assert settings.forwarded_allow_ips == ""  # no proxy trusted unless configured
    assert settings.worker_metrics_port == 9100
    # The bundled profile names the bundled server; the namespace is the setup job's.
    assert connect_config(settings) == {"target_host": "temporal:7233", "namespace": "default"}
    # Each guard names its variable when it is missing.
    for name in REQUIRED:
        with pytest.raises(KeyError, match=name):
            for value in compose["x-syston-env"].values():
                _resolve(str(value), {k: v for k, v in REQUIRED.items() if k != name})
            _resolve(compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"], {})


@pytest.mark.parametrize("namespace", [None, "syston-prod"])
def test_the_namespace_comes_from_one_variable(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch, namespace: str | None
) -> None:
    given = REQUIRED | ({"TEMPORAL_NAMESPACE": namespace} if namespace else {})
    settings = syston_settings(compose, given, monkeypatch)
    services = compose["services"]
    created = _resolve(services["temporal-setup"]["environment"]["TEMPORAL_NAMESPACE"], given)
    shown = _resolve(services["temporal-ui"]["environment"]["TEMPORAL_DEFAULT_NAMESPACE"], given)
    assert connect_config(settings)["namespace"] == created == shown == (namespace or "default")


def test_a_managed_database_and_temporal_cloud_through_variables(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud = REQUIRED | {
        "POSTGRES_HOST": "db.internal",
        "POSTGRES_USER": "app",
        "TEMPORAL_ADDRESS": "syston.a1b2c.tmprl.cloud:7233",
        "TEMPORAL_NAMESPACE": "syston.a1b2c",
        "TEMPORAL_API_KEY": "cloud-api-key",
    }
    settings = syston_settings(compose, cloud, monkeypatch)
    assert settings.database_url == "postgresql+asyncpg://app:pg-password@db.internal:5432/syston"
    assert connect_config(settings) == {
        "target_host": "syston.a1b2c.tmprl.cloud:7233",
        "namespace": "syston.a1b2c",
        "api_key": "cloud-api-key",
        "tls": True,
    }


def test_temporal_persists_to_postgresql_and_the_ui_points_at_it(compose: dict[str, Any]) -> None:
    temporal = compose["services"]["temporal"]
    assert temporal["environment"]["DB"].startswith("postgres")
    assert temporal["environment"]["POSTGRES_SEEDS"] == "${POSTGRES_HOST:-postgres}"
    assert compose["services"]["temporal-ui"]["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert "8233:8080" in compose["services"]["temporal-ui"]["ports"]


def test_api_and_workers_scale_and_have_health_checks(compose: dict[str, Any]) -> None:
    api, worker = compose["services"]["api"], compose["services"]["worker"]
    assert "/ready" in " ".join(api["healthcheck"]["test"])
    port = compose["x-syston-env"]["WORKER_METRICS_PORT"]
    assert f"127.0.0.1:{port}/metrics" in " ".join(worker["healthcheck"]["test"])
    assert api["deploy"]["replicas"] == "${API_REPLICAS:-1}"
    assert worker["deploy"]["replicas"] == "${WORKER_REPLICAS:-1}"
    # A port range, so several API replicas can publish at once.
    assert api["ports"] == ["8000-8009:8000"]
    assert compose["x-syston-env"]["FORWARDED_ALLOW_IPS"] == "${FORWARDED_ALLOW_IPS:-}"
