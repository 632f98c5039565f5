"""With PostgreSQL unreachable the API answers 503 UNAVAILABLE (problem+json, Retry-After) —
never a 500 — and serves again by itself once the database is back; /ready says which."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.stack import StackBuilder, migrate


class TcpProxy:
    """127.0.0.1:port → PostgreSQL; `stop()` closes the port and cuts every connection."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.close()
        await self.server.wait_closed()
        self.server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.writers -= {writer, up_writer}


@pytest.fixture
async def proxied_api(
    postgres_server: str, stack_builder: StackBuilder
) -> AsyncIterator[tuple[httpx.AsyncClient, TcpProxy, Any]]:
    await migrate(postgres_server)
    host_port = postgres_server.split("@", 1)[1].split("/", 1)[0]
    host, _, port = host_port.partition(":")
    proxy = TcpProxy(host, int(port or 5432))
    await proxy.start()
    url = postgres_server.replace(f"@{host_port}/", f"@127.0.0.1:{proxy.port}/")
    try:
        async with stack_builder.open(url, worker=False) as stack:
            yield stack.api, proxy, stack.settings
    finally:
        if proxy.server is None:
            await proxy.start()


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "UNAVAILABLE"
    assert int(response.headers["Retry-After"]) > 0


async def test_database_down_is_503_and_the_api_recovers_by_itself(
    proxied_api: tuple[httpx.AsyncClient, TcpProxy, Any],
) -> None:
    api, proxy, _settings = proxied_api
    body = {"clubName": "Down FC", "clubSlug": "down-fc", "email": "o@down.org", "plan": "pro"}
    first = await api.post("/public/signup/start", json=body)
    assert first.status_code == 202, first.text
    tenant_id, tenant_jwt = first.json()["tenantId"], first.json()["jwt"]
    auth = {"Authorization": f"Bearer {tenant_jwt}"}
    status_path = f"/api/v1/tenants/{tenant_id}/provision-status"
    assert (await api.get(status_path, headers=auth)).status_code == 200
    ready = await api.get("/ready")
    assert ready.json() == {"ok": True, "checks": {"database": "ok", "temporal": "ok"}}

    await proxy.stop()  # the database is gone: open connections cut, new ones refused
    for _ in range(2):  # the first request meets dead pooled connections, the next none
        assert_unavailable(await api.get(status_path, headers=auth))
        assert_unavailable(await api.get("/whoami", headers=auth))
        again = body | {"clubSlug": "down-fc-2", "email": "o2@down.org"}
        assert_unavailable(await api.post("/public/signup/start", json=again))
    ready = await api.get("/ready")
    assert ready.status_code == 503
    assert ready.json() == {"ok": False, "checks": {"database": "down", "temporal": "ok"}}
    assert ready.headers["Retry-After"]
    assert (await api.get("/health")).json() == {"ok": True}  # liveness touches nothing
    metrics = await api.get("/metrics")
    assert metrics.status_code == 200
    assert "syston_tenants_read_ok 0.0" in metrics.text

    await proxy.start()  # the database is back, same address: no restart of the API
    assert (await api.get(status_path, headers=auth)).status_code == 200
    assert (await api.get("/whoami", headers=auth)).status_code == 200
    assert (await api.get("/ready")).status_code == 200
    replay = await api.post("/public/signup/start", json=body)
    assert replay.status_code == 200 and replay.json()["replayed"] is True
