"""Apps Script and Make stand-ins over plain HTTP."""

from __future__ import annotations

import httpx

from tests.support.emulator_server import RunningEmulator


def provision(emulator: RunningEmulator, **body: object) -> httpx.Response:
    return httpx.post(emulator.gas_url, json=body)


def test_gas_provision_is_idempotent_per_tenant(emulator: RunningEmulator) -> None:
    first = provision(emulator, action="provision", tenantId="tenant_a", teamName="Alpha")
    again = provision(emulator, action="provision", tenantId="tenant_a", teamName="Alpha")
    other = provision(emulator, action="provision", tenantId="tenant_b", teamName="Beta")
    assert first.status_code == again.status_code == 200
    assert first.json()["ok"] is True
    assert first.json()["spreadsheetId"] == again.json()["spreadsheetId"]
    assert other.json()["spreadsheetId"] != first.json()["spreadsheetId"]
    sheets = emulator.snapshot()["spreadsheets"]
    assert sorted(s["appProperties"]["tenantId"] for s in sheets) == ["tenant_a", "tenant_b"]


def test_gas_refuses_bad_requests_like_a_script_does(emulator: RunningEmulator) -> None:
    for body in (
        {"action": "delete", "tenantId": "t", "teamName": "x"},
        {"action": "provision", "teamName": "x"},
        {"action": "provision", "tenantId": "t"},
    ):
        response = provision(emulator, **body)
        assert response.status_code == 200
        assert response.json()["ok"] is False
        assert response.json()["error"]
    assert emulator.snapshot()["spreadsheets"] == []


def test_make_keeps_deliveries_with_lower_cased_headers(emulator: RunningEmulator) -> None:
    response = httpx.post(
        emulator.hook_url("abc123"),
        json={"event": "tenant.registered", "tenantId": "t1"},
        headers={"Idempotency-Key": "key-1", "X-Custom": "yes"},
    )
    assert response.status_code == 200
    assert response.text == "Accepted"
    (delivery,) = emulator.snapshot()["deliveries"]
    assert delivery["hookId"] == "abc123"
    assert delivery["body"] == {"event": "tenant.registered", "tenantId": "t1"}
    assert delivery["headers"]["idempotency-key"] == "key-1"
    assert delivery["headers"]["x-custom"] == "yes"
    assert delivery["receivedAt"].endswith("Z")
    assert emulator.snapshot()["requests"]["make.deliver"] == 1
