"""The `syston` command's wiring: help, tokens, and configuration errors without tracebacks."""

from __future__ import annotations

import argparse
from pathlib import Path

import jwt
import pytest

from syston import cli
from tests.support.cli import run_syston

SECRET = "s" * 40
SUBCOMMANDS = [
    "dev",
    "api",
    "worker",
    "emulators",
    "temporal",
    "migrate",
    "token",
    "requeue",
    "status",
    "logs",
    "smoke",
    "plan",
    "suspend",
    "reactivate",
    "offboard",
]


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert name in out


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_each_subcommand_has_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([name, "--help"])
    assert exit_info.value.code == 0
    assert f"syston {name}" in capsys.readouterr().out


def test_the_parser_offers_only_finished_commands() -> None:
    parser = cli.build_parser()
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert sorted(subparsers.choices) == sorted(SUBCOMMANDS)


def test_dev_defaults_match_the_contract() -> None:
    args = cli.build_parser().parse_args(["dev"])
    assert (args.api_port, args.temporal_port, args.ui_port, args.emulator_port) == (
        8000,
        7233,
        8233,
        8099,
    )


def test_no_command_is_a_usage_error(tmp_path: Path, clean_env: dict[str, str]) -> None:
    result = run_syston(env=clean_env, cwd=tmp_path)
    assert result.returncode == 2
    assert "usage: syston" in result.stderr


@pytest.mark.parametrize(
    ("kind", "extra", "audience", "roles"),
    [
        ("admin", [], "syston-admin", ["admin"]),
        ("service", [], "internal", ["service"]),
        ("tenant", ["tenant_abcdefghijklmnop"], "syston-mobile", ["tenant_admin", "owner"]),
    ],
)
def test_token_prints_a_jwt_the_api_accepts(
    tmp_path: Path,
    clean_env: dict[str, str],
    kind: str,
    extra: list[str],
    audience: str,
    roles: list[str],
) -> None:
    from syston.tokens import TokenService

    clean_env["JWT_SECRET"] = SECRET
    result = run_syston("token", kind, *extra, "--ttl", "120", env=clean_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    claims = TokenService([SECRET.encode()], "syston.app").verify(token)
    assert claims["aud"] == audience
    assert claims["roles"] == roles
    assert claims["exp"] - claims["iat"] == 120
    if kind == "tenant":
        assert claims["tenant_id"] == "tenant_abcdefghijklmnop"
        assert claims["sub"] == "ops"
    # And independently of our own verifier: a plain HS256 JWT with the configured issuer.
    jwt.decode(token, SECRET, algorithms=["HS256"], audience=audience, issuer="syston.app")


def test_token_honours_sub_and_issuer(tmp_path: Path, clean_env: dict[str, str]) -> None:
    clean_env |= {"JWT_SECRET": SECRET, "JWT_ISSUER": "example.test"}
    result = run_syston("token", "admin", "--sub", "alice", env=clean_env, cwd=tmp_path)
    claims = jwt.decode(
        result.stdout.strip(), SECRET, algorithms=["HS256"], audience="syston-admin"
    )
    assert (claims["sub"], claims["iss"]) == ("alice", "example.test")


def test_tenant_token_needs_a_tenant_id(tmp_path: Path, clean_env: dict[str, str]) -> None:
    clean_env["JWT_SECRET"] = SECRET
    result = run_syston("token", "tenant", env=clean_env, cwd=tmp_path)
    assert result.returncode == 2
    assert "TENANT_ID" in result.stderr
    assert "Traceback" not in result.stderr


def test_token_without_a_secret_names_jwt_secret(tmp_path: Path, clean_env: dict[str, str]) -> None:
    result = run_syston("token", "admin", env=clean_env, cwd=tmp_path)
    assert result.returncode == 2
    assert "JWT_SECRET" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_token_uses_the_secret_syston_dev_generated(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    data_dir = Path(clean_env["SYSTON_DATA_DIR"])
    data_dir.mkdir()
    (data_dir / "jwt_secret").write_text(SECRET + "\n")
    result = run_syston("token", "service", env=clean_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    jwt.decode(result.stdout.strip(), SECRET, algorithms=["HS256"], audience="internal")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"JWT_SECRET": "too-short"}, "JWT_SECRET must be at least 32 bytes"),
        ({"JWT_SECRET": SECRET, "JWT_SECRET_NEXT": "short"}, "JWT_SECRET_NEXT must be at least"),
        ({"SYSTON_ENV": "production"}, "production requires JWT_SECRET"),
        ({"SYSTON_ENV": "staging"}, "SYSTON_ENV"),
        ({"SIGNUP_RATE_LIMIT": "lots"}, "SIGNUP_RATE_LIMIT"),
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL is not a database URL"),
        (
            {"DATABASE_URL": "mysql+aiomysql://app:hunter2@db/syston"},
            "DATABASE_URL names 'mysql+aiomysql': use sqlite+aiosqlite:///",
        ),
        (
            {"DATABASE_URL": "postgresql://app:hunter2@db/syston"},
            "DATABASE_URL names 'postgresql': use sqlite+aiosqlite:///",
        ),
    ],
)
@pytest.mark.parametrize("command", [["token", "admin"], ["migrate"], ["dev"]])
def test_bad_settings_exit_2_with_one_line(
    tmp_path: Path,
    clean_env: dict[str, str],
    env: dict[str, str],
    expected: str,
    command: list[str],
) -> None:
    result = run_syston(*command, env=clean_env | env, cwd=tmp_path)
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "hunter2" not in result.stderr  # a URL's password is never echoed


def test_settings_come_from_dotenv_too(tmp_path: Path, clean_env: dict[str, str]) -> None:
    (tmp_path / ".env").write_text("JWT_SECRET=short\n")
    result = run_syston("token", "admin", env=clean_env, cwd=tmp_path)
    assert result.returncode == 2
    assert "JWT_SECRET must be at least 32 bytes" in result.stderr


def test_api_without_a_secret_names_jwt_secret(tmp_path: Path, clean_env: dict[str, str]) -> None:
    result = run_syston("api", "--port", "1", env=clean_env, cwd=tmp_path)
    assert result.returncode == 2
    assert "JWT_SECRET" in result.stderr
    assert "Traceback" not in result.stderr


def test_upstream_timeout_above_the_step_budget_is_refused() -> None:
    from pydantic import ValidationError

    from syston.core.settings import Settings

    with pytest.raises(ValidationError, match="upstream_timeout_seconds"):
        Settings(upstream_timeout_seconds=30)
    assert Settings(upstream_timeout_seconds=2.5).upstream_timeout_seconds == 2.5


async def test_worker_gives_up_on_an_unreachable_temporal_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import logging
    import socket

    from syston.core import temporal_client
    from syston.core.settings import Settings

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setattr(temporal_client, "CONNECT_PATIENCE_SECONDS", 0.3)
    monkeypatch.setattr(temporal_client, "CONNECT_RETRY_SECONDS", 0.1)
    caplog.set_level(logging.WARNING)
    settings = Settings(temporal_address=f"127.0.0.1:{port}")
    with pytest.raises(temporal_client.TemporalUnreachable, match=f"127.0.0.1:{port}"):
        await temporal_client.connect_patiently(settings, None)
    retries = [r for r in caplog.records if getattr(r, "event", None) == "temporal_unreachable"]
    assert retries  # it waited and retried before giving up


def test_syston_worker_turns_an_unreachable_temporal_into_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import worker
    from syston import cli
    from syston.core.temporal_client import TemporalUnreachable

    async def unreachable(_settings: object) -> None:
        raise TemporalUnreachable("cannot reach Temporal at 127.0.0.1:1 after 30 s")

    monkeypatch.setattr(worker, "run_worker", unreachable)
    monkeypatch.setenv("SYSTON_DATA_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        cli.main(["worker"])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.strip() == "syston: cannot reach Temporal at 127.0.0.1:1 after 30 s"


def test_version_is_the_packages_and_the_apis(tmp_path: Path, clean_env: dict[str, str]) -> None:
    from importlib.metadata import version

    from api.app import create_app
    from syston.core.settings import Settings

    result = run_syston("--version", env=clean_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    installed = version("syston-provisioning")
    assert result.stdout.strip() == f"syston {installed}"
    app = create_app(Settings(_env_file=None, jwt_secret="s" * 40))  # type: ignore[call-arg]
    assert app.openapi()["info"]["version"] == installed
