"""AppsScriptClient over httpx against the Apps Script stand-in."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from integrations.apps_script import AppsScriptClient
from integrations.errors import UpstreamRejected, UpstreamTimeout, UpstreamUnavailable
from tests.support.emulator_server import RunningEmulator


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


async def test_same_tenant_twice_gets_the_same_sheet(
    emulator: RunningEmulator, http: httpx.AsyncClient
) -> None:
    client = AppsScriptClient(http, emulator.gas_url, timeout=5)
    first = await client.ensure_spreadsheet("tenant_a", "Alpha FC")
    again = await client.ensure_spreadsheet("tenant_a", "Alpha FC")
    assert first.spreadsheet_id == again.spreadsheet_id
    assert first.spreadsheet_url == again.spreadsheet_url
    (sheet,) = emulator.snapshot()["spreadsheets"]
    assert sheet["appProperties"] == {"tenantId": "tenant_a"}
    assert emulator.snapshot()["requests"]["gas.provision"] == 2


async def test_script_refusal_is_rejected(
    emulator: RunningEmulator, http: httpx.AsyncClient
) -> None:
    client = AppsScriptClient(http, emulator.gas_url, timeout=5)
    with pytest.raises(UpstreamRejected) as caught:
        await client.ensure_spreadsheet("tenant_a", "")  # the script requires a team name
    assert caught.value.retryable is False


async def test_server_errors_are_retryable(
    emulator: RunningEmulator, http: httpx.AsyncClient
) -> None:
    emulator.add_fault(target="gas", mode="error", status=503, count=1, retryAfter=3)
    client = AppsScriptClient(http, emulator.gas_url, timeout=5)
    with pytest.raises(UpstreamUnavailable) as caught:
        await client.ensure_spreadsheet("tenant_a", "Alpha FC")
    assert caught.value.retry_after == 3.0
    assert emulator.snapshot()["spreadsheets"] == []
    await client.ensure_spreadsheet("tenant_a", "Alpha FC")


async def test_hang_is_a_timeout(emulator: RunningEmulator, http: httpx.AsyncClient) -> None:
    emulator.add_fault(target="gas", mode="hang", count=1)
    client = AppsScriptClient(http, emulator.gas_url, timeout=0.5)
    with pytest.raises(UpstreamTimeout):
        await client.ensure_spreadsheet("tenant_a", "Alpha FC")


async def test_follows_apps_scripts_redirect_to_the_output() -> None:
    # Real Apps Script answers POST with a 302 to googleusercontent.com; no emulator route
    # plays that hop, so a transport stands in for Google here.
    seen: list[tuple[str, str]] = []

    def google(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.host))
        if request.url.host == "script.google.com":
            return httpx.Response(
                302, headers={"Location": "https://script.googleusercontent.com/echo?k=1"}
            )
        return httpx.Response(200, json={"ok": True, "spreadsheetId": "s1", "spreadsheetUrl": "u"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(google)) as http:
        client = AppsScriptClient(http, "https://script.google.com/macros/s/X/exec", timeout=5)
        sheet = await client.ensure_spreadsheet("tenant_a", "Alpha FC")
    assert sheet.spreadsheet_id == "s1"
    assert seen == [("POST", "script.google.com"), ("GET", "script.googleusercontent.com")]


async def test_html_instead_of_json_is_unavailable() -> None:
    def crashed_script(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, html="<html>TypeError: cannot read property</html>")

    async with httpx.AsyncClient(transport=httpx.MockTransport(crashed_script)) as http:
        client = AppsScriptClient(http, "https://script.google.com/macros/s/X/exec", timeout=5)
        with pytest.raises(UpstreamUnavailable):
            await client.ensure_spreadsheet("tenant_a", "Alpha FC")
