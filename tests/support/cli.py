"""Running the `syston` command as a user would: a subprocess with a clean environment, on
free ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from pydantic import AliasChoices

from syston.core.settings import Settings


def field_env_names(name: str) -> list[str]:
    """The environment variables one Settings field reads: its name, alias, or alias choices."""
    info = Settings.model_fields[name]
    if isinstance(info.validation_alias, AliasChoices):
        return [str(choice).upper() for choice in info.validation_alias.choices]
    return [(info.alias or name).upper()]


def setting_env_names() -> set[str]:
    """Every environment variable Settings reads (plus the supervisor's private one)."""
    names = {"SYSTON_SUPERVISOR_PID"}
    for name in Settings.model_fields:
        names.update(field_env_names(name))
    return names


def clean_environ(data_dir: Path) -> dict[str, str]:
    """The current environment without any Syston setting, with the given data dir."""
    drop = setting_env_names()
    env = {k: v for k, v in os.environ.items() if k.upper() not in drop}
    env["SYSTON_DATA_DIR"] = str(data_dir)
    return env


def run_syston(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`syston ARGS…` run in `cwd`, where no stray .env can be read."""
    return subprocess.run(
        [sys.executable, "-m", "syston.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
