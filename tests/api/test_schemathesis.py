"""Schemathesis over the app's own OpenAPI document: every operation (routes added later are
picked up by themselves), valid tokens supplied, against the real service (uvicorn in a thread,
a migrated SQLite database, the Temporal dev server). No server error, and every status,
content type, header and body is one the document declares."""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from temporalio.client import Client

from api.app import create_app
from syston.core.settings import Settings
from syston.migrations import run_migrations_in_thread
from syston.tokens import TokenService
from tests.support.emulator_server import RunningEmulator
from tests.support.stack import TEST_SECRET, make_settings

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@dataclass
class LiveApi:
    url: str
    database: Path
    tokens: TokenService
    tenant_id: str
    tenant_jwt: str

    def authorization(self, path: str) -> dict[str, str]:
        """A valid token of the kind the route is for."""
        if path.startswith("/api/v1/tenants/"):
            token = self.tenant_jwt
        elif path.startswith("/internal/"):
            token = self.tokens.issue_service()
        else:
            token = self.tokens.issue_admin()
        return {"Authorization": f"Bearer {token}"}

    def forget_cutoffs(self) -> None:
        """A generated cut-off may lie in the future and refuse every later token: undo it."""
        with sqlite3.connect(self.database) as conn:
            conn.execute("DELETE FROM token_cutoffs")


@pytest.fixture(scope="module")
def live_api(
    temporal_client: Client,
    emulator_server: RunningEmulator,
    service_account_key: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveApi]:
    database = tmp_path_factory.mktemp("schemathesis") / "syston.db"
    config = make_settings(
        f"sqlite+aiosqlite:///{database}",
        emulator_server,
        service_account_key,
        temporal_client.service_client.config.target_host,
    )
    run_migrations_in_thread(config)
    # its own Temporal client, on the server thread's loop
    app = create_app(config)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=1)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
        time.sleep(0.01)
    url = f"http://127.0.0.1:{port}"
    try:
        served = httpx.get(f"{url}/openapi.json", timeout=10).json()
        assert served == schema.raw_schema, "the fuzzed document is not the one the app serves"
        signup = httpx.post(
            f"{url}/public/signup/start",
            json={
                "clubName": "Fuzz FC",
                "clubSlug": "fuzz-fc",
                "email": "fuzz@example.org",
                "plan": "pro",
            },
            timeout=30,
        )
        assert signup.status_code == 202, signup.text
        yield LiveApi(
            url=url,
            database=database,
            tokens=TokenService(config.jwt_secrets, config.jwt_issuer),
            tenant_id=signup.json()["tenantId"],
            tenant_jwt=signup.json()["jwt"],
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


# The document the app serves at /openapi.json, built without starting it (no I/O) so the
# operations are known at collection; `live_api` serves the same app.
schema = schemathesis.openapi.from_dict(
    create_app(Settings(jwt_secret=TEST_SECRET, _env_file=None)).openapi()  # type: ignore[call-arg]
)


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    print_blob=True,
)
def test_the_api_keeps_to_its_openapi_document(case: Any, live_api: LiveApi) -> None:
    path: str = case.operation.path
    if "{tenantId}" in path and path.startswith("/api/v1/tenants/"):
        # the tenant token's own tenant for some cases, a generated id (→ 403/404) for others
        if len(str(case.path_parameters.get("tenantId", ""))) % 2 == 0:
            case.path_parameters["tenantId"] = live_api.tenant_id
    headers = live_api.authorization(path) if case.operation.definition.raw.get("security") else {}
    try:
        case.call_and_validate(base_url=live_api.url, headers=headers, checks=CHECKS, timeout=30)
    finally:
        if path.endswith("/tokens/cutoff"):
            live_api.forget_cutoffs()
