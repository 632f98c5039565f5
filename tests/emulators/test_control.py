"""The control API: state, fault injection (validated, counted, queued) and reset."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from emulators.state import DEV_DRIVE_FOLDER_ID
from tests.support.emulator_auth import authed_client
from tests.support.emulator_server import RunningEmulator


def post_fault(emulator: RunningEmulator, **spec: Any) -> httpx.Response:
    return httpx.post(f"{emulator.url}/_emulator/faults", json=spec)


def deliver(emulator: RunningEmulator, body: dict[str, Any] | None = None) -> httpx.Response:
    return httpx.post(emulator.hook_url("h1"), json=body or {"event": "x"})


@pytest.mark.parametrize(
    "spec",
    [
        {"target": "dropbox", "mode": "error"},
        {"target": "make", "mode": "explode"},
        {"target": "make", "mode": "error", "status": 42},
        {"target": "make", "mode": "error", "count": 0},
        {"target": "make", "mode": "latency", "latencyMs": -1},
        {"target": "make", "mode": "error", "unknownField": 1},
        {"mode": "error"},
    ],
)
def test_bad_fault_bodies_are_422(emulator: RunningEmulator, spec: dict[str, Any]) -> None:
    response = post_fault(emulator, **spec)
    assert response.status_code == 422
    assert emulator.snapshot()["faults"] == []


def test_error_fault_answers_count_times_then_clears_itself(emulator: RunningEmulator) -> None:
    assert post_fault(emulator, target="make", mode="error", status=503, count=2).status_code == 201
    assert [deliver(emulator).status_code for _ in range(3)] == [503, 503, 200]
    state = emulator.snapshot()
    assert state["requests"]["make.deliver"] == 3  # faulted requests are counted…
    assert len(state["deliveries"]) == 1  # …but never stored
    assert state["faults"] == []


def test_error_fault_carries_retry_after(emulator: RunningEmulator) -> None:
    post_fault(emulator, target="make", mode="error", status=429, count=1, retryAfter=7)
    response = deliver(emulator)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"


def test_google_fault_answers_in_googles_error_shape(emulator: RunningEmulator) -> None:
    post_fault(emulator, target="sheets", mode="error", status=403, count=1)
    client = authed_client(emulator.url)
    try:
        response = client.post("/v4/spreadsheets", json={"properties": {"title": "x"}})
    finally:
        client.close()
    assert response.status_code == 403
    assert response.json()["error"]["status"] == "PERMISSION_DENIED"
    state = emulator.snapshot()
    assert state["spreadsheets"] == []
    assert state["requests"]["sheets.create"] == 1


def test_faults_apply_in_queue_order_and_only_to_their_target(
    emulator: RunningEmulator,
) -> None:
    post_fault(emulator, target="gas", mode="error", status=500, count=1)
    post_fault(emulator, target="make", mode="error", status=502, count=1)
    post_fault(emulator, target="make", mode="error", status=504, count=1)
    assert [deliver(emulator).status_code for _ in range(3)] == [502, 504, 200]
    assert len(emulator.snapshot()["faults"]) == 1  # the gas fault is still queued


def test_fault_without_count_lasts_until_cleared(emulator: RunningEmulator) -> None:
    post_fault(emulator, target="make", mode="error", status=500, count=None)
    assert [deliver(emulator).status_code for _ in range(4)] == [500] * 4
    assert httpx.delete(f"{emulator.url}/_emulator/faults").status_code == 200
    assert deliver(emulator).status_code == 200


def test_latency_fault_then_answers_normally(emulator: RunningEmulator) -> None:
    post_fault(emulator, target="make", mode="latency", latencyMs=50, count=1)
    response = deliver(emulator)
    assert response.status_code == 200
    assert response.text == "Accepted"
    assert len(emulator.snapshot()["deliveries"]) == 1


async def test_hang_holds_one_request_without_blocking_others(
    emulator: RunningEmulator,
) -> None:
    post_fault(emulator, target="make", mode="hang", count=1)
    async with httpx.AsyncClient(base_url=emulator.url) as client:
        hanging = asyncio.create_task(
            client.post("/make/hooks/slow", json={"n": 1}, timeout=httpx.Timeout(5.0, read=2.0))
        )
        await asyncio.sleep(0.2)  # let the hanging request reach the server first
        normal = await client.post("/make/hooks/fast", json={"n": 2}, timeout=5.0)
        assert normal.status_code == 200
        assert not hanging.done()
        with pytest.raises(httpx.ReadTimeout):
            await hanging
    deliveries = emulator.snapshot()["deliveries"]
    assert [d["hookId"] for d in deliveries] == ["fast"]


def test_reset_forgets_state_counts_and_faults_but_keeps_the_dev_folder(
    emulator: RunningEmulator,
) -> None:
    client = authed_client(emulator.url)
    try:
        sheet = client.post("/v4/spreadsheets", json={"properties": {"title": "x"}}).json()
        deliver(emulator)
        post_fault(emulator, target="drive", mode="error", count=None)

        assert httpx.post(f"{emulator.url}/_emulator/reset").status_code == 200

        assert emulator.snapshot() == {
            "spreadsheets": [],
            "deliveries": [],
            "requests": {},
            "faults": [],
        }
        assert client.get(f"/drive/v3/files/{sheet['spreadsheetId']}").status_code == 404
        fresh = client.post("/v4/spreadsheets", json={"properties": {"title": "y"}}).json()
        moved = client.patch(
            f"/drive/v3/files/{fresh['spreadsheetId']}",
            params={"addParents": DEV_DRIVE_FOLDER_ID},
            json={},
        )
        assert moved.status_code == 200
    finally:
        client.close()
