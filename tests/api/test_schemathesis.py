"""Schemathesis over the app's own OpenAPI document: every operation (routes added later are
picked up by themselves), valid tokens supplied, against the real service (uvicorn in a thread,
a migrated SQLite database, the Temporal dev server). No server error, and every status,
content type, header and body is one the document declares.

`make fuzz` runs the same test longer and stricter: every check Schemathesis has (valid data
accepted, invalid data refused, auth not ignored, 405s with their Allow header, ...), many
more examples, and each route with the token of every audience it admits.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks, not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import text
from temporalio.client import Client

from api.app import create_app, server_config
from syston.core.db import Base
from syston.core.engine import create_engine
from syston.core.settings import Settings
from syston.migrations import run_migrations_in_thread
from syston.tokens import TokenService
from tests.support.emulator_server import RunningEmulator
from tests.support.stack import TEST_SECRET, make_settings

SUITE_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Set by `make fuzz` (FUZZ_EXAMPLES and FUZZ_DATABASE there); the suite runs on SQLite.
FUZZ_EXAMPLES = int(os.environ.get("SYSTON_FUZZ_EXAMPLES") or 0)
FUZZ_DATABASE = os.environ.get("SYSTON_FUZZ_DATABASE") or "sqlite"


# Fields whose validity no JSON Schema can state: a VALIDATION error on them is no sign that
# the document promises more than the API accepts.
BEYOND_THE_SCHEMA = {
    ("POST", "/public/signup/start"): {"email"},  # not at a reserved domain (.test, .invalid)
    ("GET", "/api/v1/admin/tenants"): {"cursor"},  # only one this API returned
    ("POST", "/api/v1/admin/tokens/cutoff"): {"notBefore"},  # not in the future
    ("POST", "/api/v1/admin/tenant/webhook"): {"make_webhook_url"},  # a URL with a host
}


def schema_valid_data_is_not_a_validation_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """The fuzz lets positive_data_acceptance admit a 422: it is also how the API answers the
    business rules a schema cannot state (an unknown promo code, an Idempotency-Key reused with
    another body, a webhook host not allowed). But a schema-valid request may be a VALIDATION
    error only on a field of BEYOND_THE_SCHEMA."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return None
    if response.status_code != 422 or response.json().get("code") != "VALIDATION":
        return None
    fields = {error["field"] for error in response.json().get("errors") or []}
    if not fields or fields - BEYOND_THE_SCHEMA.get((case.method, case.operation.path), set()):
        raise AssertionError(f"a schema-valid request was refused as VALIDATION: {response.text}")
    return None


def checks() -> list[Any]:
    if not FUZZ_EXAMPLES:
        return SUITE_CHECKS
    load_all_checks()
    return [*CHECKS.get_all(), schema_valid_data_is_not_a_validation_error]


def run_sql(database_url: str, *statements: str) -> None:
    """Statements on the live API's database, from synchronous test code (their own loop, in a
    thread: the session's loop belongs to the async fixtures)."""

    async def run() -> None:
        engine = create_engine(database_url)
        try:
            async with engine.begin() as conn:
                for statement in statements:
                    await conn.execute(text(statement))
        finally:
            await engine.dispose()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


@dataclass
class LiveApi:
    url: str
    database_url: str
    tokens: TokenService
    tenant_id: str
    tenant_jwt: str

    def authorization(self, path: str, pick: int = 0) -> dict[str, str]:
        """A valid token of an audience the route admits; `pick` chooses among them when
        there are several (provision-status admits tenant, admin and service tokens)."""
        if path.startswith("/api/v1/tenants/"):
            tokens = [self.tenant_jwt, self.tokens.issue_admin(), self.tokens.issue_service()]
        elif path.startswith("/internal/"):
            tokens = [self.tokens.issue_service()]
        else:
            tokens = [self.tokens.issue_admin()]
        return {"Authorization": f"Bearer {tokens[pick % len(tokens)]}"}

    def forget_cutoffs(self) -> None:
        """A generated cut-off may lie in the future and refuse every later token: undo it."""
        run_sql(self.database_url, "DELETE FROM token_cutoffs")


@pytest.fixture(scope="module")
def live_api(
    request: pytest.FixtureRequest,
    temporal_client: Client,
    emulator_server: RunningEmulator,
    service_account_key: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveApi]:
    if FUZZ_DATABASE == "postgresql":
        database_url: str = request.getfixturevalue("postgres_server")
    else:
        database_url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('fuzz') / 'syston.db'}"
    config = make_settings(
        database_url,
        emulator_server,
        service_account_key,
        temporal_client.service_client.config.target_host,
    )
    run_migrations_in_thread(config)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    if FUZZ_DATABASE == "postgresql":  # the session's database: other tests may have used it
        run_sql(database_url, f"TRUNCATE {tables} CASCADE")
    # its own Temporal client, on the server thread's loop; served as `syston api` serves it
    app = create_app(config)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server_settings = server_config(app, config, host="127.0.0.1", port=port)
    server_settings.timeout_graceful_shutdown = 1
    server = uvicorn.Server(server_settings)
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
            database_url=database_url,
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
if FUZZ_EXAMPLES:
    acceptance = schema.config.checks.positive_data_acceptance
    acceptance.expected_statuses = [*acceptance.expected_statuses, "422"]


def about_authorization(case: Any) -> bool:
    """A case generated to probe the Authorization header itself (missing or malformed): it is
    sent as generated, without a valid token."""
    data = case.meta.phase.data if case.meta is not None else None
    return str(getattr(data, "parameter", None) or "").lower() == "authorization"


@schema.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES or 30,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    print_blob=True,
)
def test_the_api_keeps_to_its_openapi_document(case: Any, live_api: LiveApi) -> None:
    path: str = case.operation.path
    generated = str((case.path_parameters or {}).get("tenantId", ""))
    if "{tenantId}" in path and path.startswith("/api/v1/tenants/"):
        # the tenant token's own tenant for some cases, a generated id (→ 403/404) for others
        if len(generated) % 2 == 0:
            case.path_parameters["tenantId"] = live_api.tenant_id
    # the suite keeps to each route's first audience; `make fuzz` varies it per case
    pick = len(generated) // 2 if FUZZ_EXAMPLES else 0
    headers = {}
    if case.operation.definition.raw.get("security") and not about_authorization(case):
        headers = live_api.authorization(path, pick)
        # On the case as well, so Schemathesis judges the request actually sent (a case made
        # without a token is no longer negative for its headers); passed explicitly, so it
        # knows the token is a real one and probes the route without it (ignored_auth).
        case.headers = {**(case.headers or {}), **headers}
    try:
        case.call_and_validate(base_url=live_api.url, headers=headers, checks=checks(), timeout=30)
    finally:
        if path.endswith("/tokens/cutoff"):
            live_api.forget_cutoffs()
