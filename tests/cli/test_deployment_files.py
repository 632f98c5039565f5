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
from tests.support.cli import setting_env_names

ROOT = Path(__file__).resolve().parents[2]
# Variables of third-party images, not ours.
IMAGE_VARIABLES = {
    "postgres": {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"},
    "temporal": {
        "DB",
        "DB_PORT",
        "POSTGRES_USER",
        "POSTGRES_PWD",
        "POSTGRES_SEEDS",
        "DEFAULT_NAMESPACE",
    },
    "temporal-setup": {"TEMPORAL_ADDRESS"},
    "temporal-ui": {"TEMPORAL_ADDRESS"},
}


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
    services = compose["services"]
    for name in ("postgres", "temporal", "temporal-ui", "migrate", "api", "worker"):
        assert name in services
    assert set(_syston_services(compose)) == {"migrate", "api", "worker"}


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
    setup = compose["services"]["temporal-setup"]["command"]
    for attribute in ("TenantId", "TenantPlan", "ProvisionStatus"):
        assert attribute in setup


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


def test_the_services_environment_is_a_valid_production_configuration(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {k: _resolve(str(v), REQUIRED) for k, v in compose["x-syston-env"].items()}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.syston_env == "production"
    assert settings.database_url == "postgresql+asyncpg://syston:pg-password@postgres:5432/syston"
    assert settings.temporal_address == "temporal:7233"
    assert settings.jwt_secret_next is None  # `${JWT_SECRET_NEXT:-}` means unset
    assert settings.temporal_api_key is None
    assert settings.worker_metrics_port == 9100
    # Each guard names its variable when it is missing.
    for name in REQUIRED:
        with pytest.raises(KeyError, match=name):
            for value in compose["x-syston-env"].values():
                _resolve(str(value), {k: v for k, v in REQUIRED.items() if k != name})
            _resolve(compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"], {})


def test_temporal_cloud_is_reachable_through_settings(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud = REQUIRED | {
        "TEMPORAL_ADDRESS": "syston.a1b2c.tmprl.cloud:7233",
        "TEMPORAL_NAMESPACE": "syston.a1b2c",
        "TEMPORAL_API_KEY": "cloud-api-key",
    }
    for name, value in compose["x-syston-env"].items():
        monkeypatch.setenv(name, _resolve(str(value), cloud))
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.temporal_address == "syston.a1b2c.tmprl.cloud:7233"
    assert settings.temporal_api_key is not None
    assert settings.temporal_api_key.get_secret_value() == "cloud-api-key"


def test_temporal_persists_to_postgresql_and_the_ui_points_at_it(compose: dict[str, Any]) -> None:
    temporal = compose["services"]["temporal"]
    assert temporal["environment"]["DB"].startswith("postgres")
    assert temporal["environment"]["POSTGRES_SEEDS"] == "postgres"
    assert temporal["depends_on"]["postgres"]["condition"] == "service_healthy"
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
