"""The Temporal connection: the SDK's environment configuration, then our settings on top."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from syston.core.settings import Settings
from syston.core.temporal_client import (
    TemporalConfigError,
    client_profile,
    connect_config,
    describe_target,
)

pytestmark = pytest.mark.fast

TOML = """
[profile.default]
address = "temporal.internal:7233"
namespace = "syston-staging"

[profile.cloud]
address = "syston.a1b2c.tmprl.cloud:7233"
namespace = "syston.a1b2c"
api_key = "key-from-the-file"

[profile.mtls]
address = "syston.a1b2c.tmprl.cloud:7233"
namespace = "syston.a1b2c"
[profile.mtls.tls]
client_cert_path = "{cert}"
client_key_path = "{key}"
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    (tmp_path / "client.pem").write_bytes(b"CERT")
    (tmp_path / "client.key").write_bytes(b"KEY")
    (tmp_path / "ca.pem").write_bytes(b"CA")
    path = tmp_path / "temporal.toml"
    path.write_text(TOML.format(cert=tmp_path / "client.pem", key=tmp_path / "client.key"))
    return path


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_nothing_configured_is_the_local_dev_server(tmp_path: Path) -> None:
    environ = {"TEMPORAL_CONFIG_FILE": str(tmp_path / "absent.toml")}
    assert connect_config(settings(), environ) == {
        "target_host": "localhost:7233",
        "namespace": "default",
    }


def test_a_profile_of_the_file_is_used_and_settings_override_it(config_file: Path) -> None:
    environ = {"TEMPORAL_CONFIG_FILE": str(config_file), "TEMPORAL_PROFILE": "cloud"}
    assert connect_config(settings(), environ) == {
        "target_host": "syston.a1b2c.tmprl.cloud:7233",
        "namespace": "syston.a1b2c",
        "api_key": "key-from-the-file",
        "tls": True,  # an API key implies TLS
    }
    # The settings (environment or .env) are layered on top, field by field.
    chosen = settings(
        temporal_config_file=config_file,
        temporal_profile="cloud",
        temporal_namespace="syston-eu.a1b2c",
        temporal_api_key="key-from-the-settings",
    )
    config = connect_config(chosen, environ={})
    assert config["target_host"] == "syston.a1b2c.tmprl.cloud:7233"
    assert config["namespace"] == "syston-eu.a1b2c"
    assert config["api_key"] == "key-from-the-settings"


def test_the_sdks_environment_variables_override_the_file(config_file: Path) -> None:
    environ = {"TEMPORAL_CONFIG_FILE": str(config_file), "TEMPORAL_NAMESPACE": "from-env"}
    config = connect_config(settings(), environ)
    assert config == {"target_host": "temporal.internal:7233", "namespace": "from-env"}


def test_mtls_from_the_profile_and_older_setting_names(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environ = {"TEMPORAL_CONFIG_FILE": str(config_file), "TEMPORAL_PROFILE": "mtls"}
    tls = connect_config(settings(), environ)["tls"]
    assert isinstance(tls, TLSConfig)
    assert (tls.client_cert, tls.client_private_key) == (b"CERT", b"KEY")

    # TEMPORAL_TLS_CERT / _KEY / _CA are still read, as the SDK's _PATH names are.
    monkeypatch.setenv("TEMPORAL_TLS_CA", str(config_file.parent / "ca.pem"))
    monkeypatch.setenv("TEMPORAL_TLS_SERVER_NAME", "frontend.internal")
    layered = connect_config(Settings(_env_file=None), environ)["tls"]  # type: ignore[call-arg]
    assert isinstance(layered, TLSConfig)
    assert layered.server_root_ca_cert == b"CA"
    assert layered.domain == "frontend.internal"
    assert layered.client_cert == b"CERT"  # the profile's certificate is kept

    assert connect_config(settings(temporal_tls=False), environ)["tls"] is False


def test_old_and_new_tls_names_are_one_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_TLS_CERT", "/old/client.pem")
    assert Settings(_env_file=None).temporal_tls_client_cert_path == Path("/old/client.pem")  # type: ignore[call-arg]
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", "/new/client.pem")
    assert Settings(_env_file=None).temporal_tls_client_cert_path == Path("/new/client.pem")  # type: ignore[call-arg]


def test_an_unknown_profile_or_a_missing_certificate_is_a_configuration_error(
    config_file: Path, tmp_path: Path
) -> None:
    with pytest.raises(TemporalConfigError, match="nope"):
        client_profile(settings(temporal_config_file=config_file, temporal_profile="nope"), {})
    missing = settings(temporal_tls_client_cert_path=tmp_path / "gone.pem")
    with pytest.raises(TemporalConfigError, match=r"gone\.pem"):
        connect_config(missing, {"TEMPORAL_CONFIG_FILE": str(tmp_path / "absent.toml")})
    unknown = settings(temporal_profile="nope", temporal_config_file=config_file)
    assert describe_target(unknown) == ("localhost:7233", "?")  # messages never raise


def test_empty_variables_are_unset_for_the_sdk_too(tmp_path: Path) -> None:
    # compose's `${TEMPORAL_TLS_CLIENT_CERT_PATH:-}`: empty means "not set", not the path "."
    environ = {
        "TEMPORAL_CONFIG_FILE": str(tmp_path / "absent.toml"),
        "TEMPORAL_TLS_CLIENT_CERT_PATH": "",
        "TEMPORAL_API_KEY": "",
        "TEMPORAL_ADDRESS": "",
    }
    assert connect_config(settings(), environ) == {
        "target_host": "localhost:7233",
        "namespace": "default",
    }
