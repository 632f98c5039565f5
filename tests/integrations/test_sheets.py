"""SheetsClient through the real google-api-python-client and google-auth, against the emulator
(real service-account key, real JWT-bearer token exchange over http to 127.0.0.1)."""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from emulators.state import DEV_DRIVE_FOLDER_ID
from integrations.errors import (
    UpstreamAuthError,
    UpstreamConfigError,
    UpstreamNotFound,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from integrations.sheets import SheetsClient, Spreadsheet, spreadsheet_title
from tests.support.emulator_server import RunningEmulator

OWNER = "owner@example.com"


def client_for(
    emulator: RunningEmulator,
    key: dict[str, Any],
    *,
    folder: str | None = DEV_DRIVE_FOLDER_ID,
    timeout: float = 10.0,
) -> SheetsClient:
    return SheetsClient(key, api_endpoint=emulator.url, drive_folder_id=folder, timeout=timeout)


def ensure(client: SheetsClient, tenant: str = "tenant_abc") -> Spreadsheet:
    return client.ensure_spreadsheet(tenant, "Syston Town", OWNER)


def test_creates_once_then_finds_it(
    emulator: RunningEmulator, service_account_key: dict[str, Any]
) -> None:
    client = client_for(emulator, service_account_key)
    first = ensure(client)
    second = ensure(client)

    assert first.created is True
    assert second.created is False
    assert second.spreadsheet_id == first.spreadsheet_id
    assert second.spreadsheet_url == first.spreadsheet_url
    state = emulator.snapshot()
    (sheet,) = state["spreadsheets"]
    assert sheet["spreadsheetId"] == first.spreadsheet_id
    assert sheet["title"] == spreadsheet_title("Syston Town", "tenant_abc")
    assert sheet["appProperties"] == {"tenantId": "tenant_abc"}
    assert sheet["parents"] == [DEV_DRIVE_FOLDER_ID]
    assert {"emailAddress": OWNER, "role": "writer"} in [
        {k: p[k] for k in ("emailAddress", "role")} for p in sheet["permissions"]
    ]
    assert len(sheet["permissions"]) == 1
    # The token exchange happened once, and was reused for the second call.
    assert state["requests"]["token"] == 1
    assert state["requests"]["sheets.create"] == 1


def test_tenants_get_their_own_sheets(
    emulator: RunningEmulator, service_account_key: dict[str, Any]
) -> None:
    client = client_for(emulator, service_account_key)
    a, b = ensure(client, "tenant_a"), ensure(client, "tenant_b")
    assert a.spreadsheet_id != b.spreadsheet_id
    assert len(emulator.snapshot()["spreadsheets"]) == 2


def test_tags_and_shares_without_a_folder(
    emulator: RunningEmulator, service_account_key: dict[str, Any]
) -> None:
    client = client_for(emulator, service_account_key, folder=None)
    ensure(client)
    assert ensure(client).created is False
    (sheet,) = emulator.snapshot()["spreadsheets"]
    assert sheet["appProperties"] == {"tenantId": "tenant_abc"}
    assert sheet["parents"] == ["root"]


def test_crash_between_create_and_tag_is_recovered_without_a_second_sheet(
    emulator: RunningEmulator, service_account_key: dict[str, Any]
) -> None:
    client = client_for(emulator, service_account_key)
    # Let the Drive search through, then fail the tagging update: a sheet exists untagged,
    # as after a worker crash right after spreadsheets.create.
    emulator.add_fault(target="drive", mode="latency", latencyMs=0, count=1)
    emulator.add_fault(target="drive", mode="error", status=503, count=1)
    with pytest.raises(UpstreamUnavailable):
        ensure(client)
    (untagged,) = emulator.snapshot()["spreadsheets"]
    assert untagged["appProperties"] == {}
    assert untagged["permissions"] == []

    recovered = ensure(client)

    assert recovered.created is False
    assert recovered.spreadsheet_id == untagged["spreadsheetId"]
    (sheet,) = emulator.snapshot()["spreadsheets"]
    assert sheet["appProperties"] == {"tenantId": "tenant_abc"}
    assert sheet["parents"] == [DEV_DRIVE_FOLDER_ID]
    assert [p["emailAddress"] for p in sheet["permissions"]] == [OWNER]


def test_missing_folder_is_a_permanent_not_found(
    emulator: RunningEmulator, service_account_key: dict[str, Any]
) -> None:
    client = client_for(emulator, service_account_key, folder="no-such-folder")
    with pytest.raises(UpstreamNotFound) as caught:
        ensure(client)
    assert caught.value.retryable is False
    assert "GOOGLE_DRIVE_FOLDER_ID" in caught.value.message


def test_permission_denied_is_a_permanent_auth_error(
    emulator: RunningEmulator, service_account_key: dict[str, Any]
) -> None:
    emulator.add_fault(target="drive", mode="error", status=403, count=1)
    with pytest.raises(UpstreamAuthError) as caught:
        ensure(client_for(emulator, service_account_key))
    assert caught.value.retryable is False
    assert caught.value.status == 403


def test_unavailable_three_times_then_succeeds_with_one_sheet(
    emulator: RunningEmulator, service_account_key: dict[str, Any]
) -> None:
    emulator.add_fault(target="drive", mode="error", status=503, count=3)
    client = client_for(emulator, service_account_key)
    for _ in range(3):
        with pytest.raises(UpstreamUnavailable) as caught:
            ensure(client)
        assert caught.value.retryable is True
        assert caught.value.status == 503
    assert ensure(client).created is True
    state = emulator.snapshot()
    assert len(state["spreadsheets"]) == 1
    # No hidden retries inside the client library: one request per attempt.
    assert state["requests"]["drive.list"] == 4


def test_rate_limit_carries_retry_after(
    emulator: RunningEmulator, service_account_key: dict[str, Any]
) -> None:
    emulator.add_fault(target="sheets", mode="error", status=429, count=1, retryAfter=7)
    with pytest.raises(UpstreamRateLimited) as caught:
        ensure(client_for(emulator, service_account_key))
    assert caught.value.retryable is True
    assert caught.value.retry_after == 7.0
    assert emulator.snapshot()["spreadsheets"] == []


def test_a_hanging_google_is_a_timeout(
    emulator: RunningEmulator, service_account_key: dict[str, Any]
) -> None:
    client = client_for(emulator, service_account_key, timeout=0.5)
    ensure(client, "tenant_warm")  # token fetched; the hang hits the API call itself
    emulator.add_fault(target="drive", mode="hang", count=1)
    with pytest.raises(UpstreamTimeout) as caught:
        ensure(client)
    assert caught.value.retryable is True
    assert ensure(client).created is True


def test_a_hanging_token_endpoint_is_a_timeout(
    emulator: RunningEmulator, service_account_key: dict[str, Any]
) -> None:
    emulator.add_fault(target="token", mode="hang", count=1)
    with pytest.raises(UpstreamTimeout):
        ensure(client_for(emulator, service_account_key, timeout=0.5))


def test_token_endpoint_5xx_is_retryable_and_not_retried_inside(
    emulator: RunningEmulator, service_account_key: dict[str, Any]
) -> None:
    emulator.add_fault(target="token", mode="error", status=503, count=1)
    client = client_for(emulator, service_account_key)
    with pytest.raises(UpstreamUnavailable) as caught:
        ensure(client)
    assert caught.value.retryable is True
    assert emulator.snapshot()["requests"]["token"] == 1
    assert ensure(client).created is True


def test_token_endpoint_refusal_is_a_permanent_auth_error(
    emulator: RunningEmulator, service_account_key: dict[str, Any]
) -> None:
    emulator.add_fault(target="token", mode="error", status=400, count=1)
    with pytest.raises(UpstreamAuthError) as caught:
        ensure(client_for(emulator, service_account_key))
    assert caught.value.retryable is False


def test_unreachable_endpoint_is_unavailable(service_account_key: dict[str, Any]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    client = SheetsClient(
        service_account_key,
        api_endpoint=f"http://127.0.0.1:{closed_port}",
        drive_folder_id=None,
        timeout=5,
    )
    with pytest.raises(UpstreamUnavailable):
        ensure(client)


@pytest.mark.parametrize("info", [{}, {"type": "service_account"}, {"private_key": "nope"}])
def test_unusable_key_is_a_config_error(info: dict[str, Any]) -> None:
    with pytest.raises(UpstreamConfigError):
        SheetsClient(info, api_endpoint=None, drive_folder_id=None, timeout=5)


def test_one_client_serves_concurrent_threads_with_one_token(
    emulator: RunningEmulator, service_account_key: dict[str, Any]
) -> None:
    client = client_for(emulator, service_account_key)
    tenants = [f"tenant_{n}" for n in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        sheets = list(pool.map(lambda t: ensure(client, t), tenants))
    assert len({s.spreadsheet_id for s in sheets}) == 8
    state = emulator.snapshot()
    assert sorted(s["appProperties"]["tenantId"] for s in state["spreadsheets"]) == tenants
    assert state["requests"]["token"] == 1


def test_ownership_is_transferred_once_and_the_file_stays(
    emulator: RunningEmulator, service_account_key: dict[str, Any]
) -> None:
    client = client_for(emulator, service_account_key)
    sheet = ensure(client)
    assert client.transfer_ownership(sheet.spreadsheet_id, OWNER) is True
    assert client.transfer_ownership(sheet.spreadsheet_id, OWNER.upper()) is False  # a repeat
    state = emulator.snapshot()
    (stored,) = state["spreadsheets"]
    assert stored["spreadsheetId"] == sheet.spreadsheet_id
    assert [(p["emailAddress"], p["role"]) for p in stored["permissions"]] == [(OWNER, "owner")]
    assert state["requests"]["drive.ownership.transfer"] == 1


def test_the_emulator_wants_consent_for_an_ownership_transfer(
    emulator: RunningEmulator, service_account_key: dict[str, Any]
) -> None:
    client = client_for(emulator, service_account_key)
    sheet = ensure(client)
    with pytest.raises(UpstreamAuthError):
        with client._session("transfer_without_consent") as http:
            client._execute(
                client._permissions.create(
                    fileId=sheet.spreadsheet_id,
                    body={"type": "user", "role": "owner", "emailAddress": OWNER},
                ),
                http,
            )
    roles = [p["role"] for p in emulator.snapshot()["spreadsheets"][0]["permissions"]]
    assert roles == ["writer"]
