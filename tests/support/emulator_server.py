"""Run the emulator app on a free 127.0.0.1 port in a background thread (for tests).

    with running_emulator() as emulator:
        emulator.url          # "http://127.0.0.1:54321" (GOOGLE_API_ENDPOINT)
        emulator.app          # the FastAPI app; emulator.state is its EmulatorState
        emulator.token_uri    # where a dev service-account key should point

Other test packages reuse `running_emulator()` from their own conftest.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from emulators.app import create_emulator_app
from emulators.dev_key import generate_service_account_key
from emulators.state import EmulatorState

STARTUP_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class RunningEmulator:
    url: str
    app: FastAPI

    @property
    def state(self) -> EmulatorState:
        state: EmulatorState = self.app.state.emulator
        return state

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    def hook_url(self, hook_id: str) -> str:
        return f"{self.url}/make/hooks/{hook_id}"

    @property
    def gas_url(self) -> str:
        return f"{self.url}/gas/exec"

    def reset(self) -> None:
        """Forget state, counts and faults (through the control API, on the server's loop)."""
        httpx.post(f"{self.url}/_emulator/reset", timeout=10).raise_for_status()

    def snapshot(self) -> dict[str, Any]:
        """`GET /_emulator/state`."""
        response = httpx.get(f"{self.url}/_emulator/state", timeout=10)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def add_fault(self, **spec: Any) -> dict[str, Any]:
        """`POST /_emulator/faults` with `spec` (e.g. target="drive", status=503, count=3)."""
        response = httpx.post(f"{self.url}/_emulator/faults", json=spec, timeout=10)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body


@contextmanager
def running_emulator() -> Iterator[RunningEmulator]:
    """Serve a fresh emulator app until the block ends."""
    app = create_emulator_app()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="emulator-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the emulator server did not start")
        time.sleep(0.01)
    try:
        yield RunningEmulator(url=f"http://127.0.0.1:{port}", app=app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


# -- pytest fixtures: re-export them from a conftest.py (see tests/emulators/conftest.py) ------


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[RunningEmulator]:
    """One emulator server for the whole session."""
    with running_emulator() as running:
        yield running


@pytest.fixture
def emulator(emulator_server: RunningEmulator) -> RunningEmulator:
    """The session's emulator, reset (no spreadsheets, deliveries, counts or faults)."""
    emulator_server.reset()
    return emulator_server


@pytest.fixture(scope="session")
def service_account_key(emulator_server: RunningEmulator) -> dict[str, Any]:
    """A real-format service-account key whose token_uri is the emulator's `/token`."""
    return generate_service_account_key(emulator_server.token_uri)
