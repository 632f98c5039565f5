"""The API as `syston api` serves it (uvicorn, configured by `api.app.server_config`), over real
sockets: what the service itself promises about oversized, malformed and streamed requests and
about proxy headers. What it leaves to a fronting proxy is in the README's deployment section."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn

from api.app import MAX_REQUEST_HEAD_BYTES, create_app, server_config
from syston.core.settings import Settings
from syston.migrations import run_migrations_in_thread
from tests.support.stack import StackBuilder


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """`syston api`'s server on a free port, in a thread; its base URL."""
    run_migrations_in_thread(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # its own Temporal client, on the server thread's loop
    config = server_config(create_app(settings), settings, host="127.0.0.1", port=port)
    config.timeout_graceful_shutdown = 1
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def settings(stack_builder: StackBuilder) -> Settings:
    """A SQLite file of the test's own, the emulators and the session's Temporal server."""
    return stack_builder.settings()


def exchange(url: str, raw: bytes) -> bytes:
    """Send raw bytes on a fresh connection; everything the server answers until it closes."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(raw)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
        return received


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def test_a_request_head_growing_past_the_limit_is_a_4xx_and_the_server_keeps_serving(
    settings: Settings,
) -> None:
    with serving(settings) as url:
        fits = httpx.get(f"{url}/health", headers={"X-Pad": "a" * (MAX_REQUEST_HEAD_BYTES // 2)})
        assert fits.status_code == 200

        # a head that never ends: the server stops buffering it at the limit
        endless = b"GET /health HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"x" * 2 * MAX_REQUEST_HEAD_BYTES
        answer = exchange(url, endless)

        assert 400 <= status_of(answer) < 500, answer[:200]
        assert httpx.get(f"{url}/health").json() == {"ok": True}


@pytest.mark.parametrize("length", [b"abc", b"-1", b"1, 2"])
def test_a_malformed_content_length_is_a_400_and_the_server_keeps_serving(
    settings: Settings, length: bytes
) -> None:
    with serving(settings) as url:
        answer = exchange(
            url,
            b"POST /public/signup/start HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + length + b"\r\n\r\n{}",
        )

        assert status_of(answer) == 400, answer[:200]
        assert httpx.get(f"{url}/health").json() == {"ok": True}


def test_a_body_streamed_past_64_kib_without_a_length_is_a_413_problem(
    settings: Settings,
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"clubName": "'
        for _ in range(80):
            yield b"a" * 1024
        yield b'"}'

    with serving(settings) as url:
        response = httpx.post(
            f"{url}/public/signup/start",
            content=chunks(),
            headers={"Content-Type": "application/json"},
            timeout=10,
        )

        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "PAYLOAD_TOO_LARGE"
        assert httpx.get(f"{url}/health").json() == {"ok": True}


def test_the_server_does_not_name_its_software(settings: Settings) -> None:
    with serving(settings) as url:
        assert "server" not in httpx.get(f"{url}/health").headers


def signup(url: str, slug: str, forwarded_for: str) -> httpx.Response:
    body = {"clubName": slug, "clubSlug": slug, "email": f"{slug}@example.org", "plan": "starter"}
    return httpx.post(
        f"{url}/public/signup/start",
        content=json.dumps(body),
        headers={"Content-Type": "application/json", "X-Forwarded-For": forwarded_for},
        timeout=30,
    )


def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(
    settings: Settings,
) -> None:
    limited = settings.model_copy(update={"signup_rate_limit": "1/minute"})
    with serving(limited) as url:
        assert signup(url, "xff-one", "198.51.100.1").status_code == 202
        # a spoofed header does not move the client to another bucket
        assert signup(url, "xff-two", "198.51.100.2").status_code == 429

    behind_proxy = limited.model_copy(update={"forwarded_allow_ips": "127.0.0.1"})
    with serving(behind_proxy) as url:
        # the trusted proxy names the client: each one has its own bucket
        assert signup(url, "xff-three", "198.51.100.3").status_code == 202
        assert signup(url, "xff-four", "198.51.100.4").status_code == 202
