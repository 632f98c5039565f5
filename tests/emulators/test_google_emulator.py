"""The Google stand-ins over plain HTTP: token endpoint, Sheets v4 and Drive v3 shapes."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from emulators.state import DEV_DRIVE_FOLDER_ID
from tests.support.emulator_auth import JWT_BEARER, assertion, authed_client
from tests.support.emulator_server import RunningEmulator


@pytest.fixture
def google(emulator: RunningEmulator) -> Iterator[httpx.Client]:
    client = authed_client(emulator.url)
    yield client
    client.close()


def create_sheet(client: httpx.Client, title: str) -> str:
    response = client.post("/v4/spreadsheets", json={"properties": {"title": title}})
    assert response.status_code == 200, response.text
    spreadsheet_id: str = response.json()["spreadsheetId"]
    return spreadsheet_id


def test_token_endpoint_exchanges_a_well_formed_assertion(emulator: RunningEmulator) -> None:
    response = httpx.post(
        emulator.token_uri, data={"grant_type": JWT_BEARER, "assertion": assertion()}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["access_token"]


@pytest.mark.parametrize(
    "form",
    [
        {"grant_type": JWT_BEARER, "assertion": "not-a-jwt"},
        {"grant_type": JWT_BEARER, "assertion": "e30.e30.sig"},  # no alg, no claims
        {"grant_type": JWT_BEARER},
        {"grant_type": "client_credentials", "assertion": assertion()},
        {"grant_type": JWT_BEARER, "assertion": assertion(iss=None)},
    ],
)
def test_token_endpoint_refuses_malformed_grants(
    emulator: RunningEmulator, form: dict[str, str]
) -> None:
    response = httpx.post(emulator.token_uri, data=form)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_sheets_requires_a_token_issued_by_the_emulator(emulator: RunningEmulator) -> None:
    for headers in ({}, {"Authorization": "Bearer made-up"}):
        response = httpx.post(
            f"{emulator.url}/v4/spreadsheets", json={"properties": {"title": "x"}}, headers=headers
        )
        assert response.status_code == 401
        error = response.json()["error"]
        assert error["code"] == 401
        assert error["status"] == "UNAUTHENTICATED"
    assert emulator.snapshot()["spreadsheets"] == []


def test_created_spreadsheet_is_a_drive_file(
    emulator: RunningEmulator, google: httpx.Client
) -> None:
    response = google.post(
        "/v4/spreadsheets",
        json={"properties": {"title": "Club"}, "sheets": [{"properties": {"title": "Players"}}]},
    )
    sheet = response.json()
    assert sheet["properties"]["title"] == "Club"
    assert sheet["sheets"][0]["properties"]["title"] == "Players"
    assert sheet["spreadsheetId"] in sheet["spreadsheetUrl"]

    fetched = google.get(f"/v4/spreadsheets/{sheet['spreadsheetId']}").json()
    assert fetched["spreadsheetId"] == sheet["spreadsheetId"]
    file = google.get(f"/drive/v3/files/{sheet['spreadsheetId']}").json()
    assert file["mimeType"] == "application/vnd.google-apps.spreadsheet"
    assert file["name"] == "Club"


def test_unknown_ids_answer_googles_404(google: httpx.Client) -> None:
    for path in ("/v4/spreadsheets/nope", "/drive/v3/files/nope"):
        response = google.get(path)
        assert response.status_code == 404
        error = response.json()["error"]
        assert error["code"] == 404
        assert error["status"] == "NOT_FOUND"
        assert error["errors"][0]["reason"] == "notFound"


def test_drive_query_by_app_properties_name_and_trashed(google: httpx.Client) -> None:
    tagged = create_sheet(google, "Alpha (t1)")
    create_sheet(google, "Beta (t2)")
    google.patch(
        f"/drive/v3/files/{tagged}",
        params={"addParents": DEV_DRIVE_FOLDER_ID},
        json={"appProperties": {"tenantId": "t1"}},
    )

    def names(q: str) -> list[str]:
        response = google.get("/drive/v3/files", params={"q": q, "fields": "files(id,name)"})
        assert response.status_code == 200, response.text
        return sorted(f["name"] for f in response.json()["files"])

    assert names("appProperties has { key='tenantId' and value='t1' }") == ["Alpha (t1)"]
    assert names("appProperties has { key='tenantId' and value='t2' }") == []
    assert names("name = 'Beta (t2)' and trashed = false") == ["Beta (t2)"]
    assert names("name contains 't2'") == ["Beta (t2)"]
    assert names(
        "mimeType = 'application/vnd.google-apps.spreadsheet' and trashed = false and "
        "(appProperties has { key='tenantId' and value='t2' } or name = 'Beta (t2)')"
    ) == ["Beta (t2)"]
    assert names(f"'{DEV_DRIVE_FOLDER_ID}' in parents") == ["Alpha (t1)"]


def test_drive_refuses_queries_it_does_not_understand(google: httpx.Client) -> None:
    response = google.get("/drive/v3/files", params={"q": "fullText ~~ 'x'"})
    assert response.status_code == 400
    assert response.json()["error"]["errors"][0]["location"] == "q"


def test_update_into_an_unknown_folder_is_file_not_found(google: httpx.Client) -> None:
    sheet = create_sheet(google, "Club")
    response = google.patch(
        f"/drive/v3/files/{sheet}",
        params={"addParents": "missing-folder"},
        json={"appProperties": {"tenantId": "t1"}},
    )
    assert response.status_code == 404
    assert "File not found: missing-folder" in response.json()["error"]["message"]
    # Nothing was applied.
    assert google.get(f"/drive/v3/files/{sheet}").json()["appProperties"] == {}


def test_update_moves_into_the_dev_folder_and_tags(google: httpx.Client) -> None:
    sheet = create_sheet(google, "Club")
    response = google.patch(
        f"/drive/v3/files/{sheet}",
        params={"addParents": DEV_DRIVE_FOLDER_ID},
        json={"appProperties": {"tenantId": "t1"}, "name": "Renamed"},
    )
    assert response.status_code == 200
    file = google.get(f"/drive/v3/files/{sheet}").json()
    assert file["parents"] == [DEV_DRIVE_FOLDER_ID]
    assert file["appProperties"] == {"tenantId": "t1"}
    assert file["name"] == "Renamed"


def test_sharing_the_same_email_twice_keeps_one_permission(
    emulator: RunningEmulator, google: httpx.Client
) -> None:
    sheet = create_sheet(google, "Club")
    grant = {"type": "user", "role": "writer", "emailAddress": "owner@example.com"}
    first = google.post(f"/drive/v3/files/{sheet}/permissions", json=grant).json()
    second = google.post(f"/drive/v3/files/{sheet}/permissions", json=grant).json()
    assert first["id"] == second["id"]
    listed = google.get(f"/drive/v3/files/{sheet}/permissions").json()["permissions"]
    assert [(p["emailAddress"], p["role"]) for p in listed] == [("owner@example.com", "writer")]
    state = emulator.snapshot()["spreadsheets"][0]
    assert state["permissions"][0]["emailAddress"] == "owner@example.com"


def test_permission_needs_type_role_and_email(google: httpx.Client) -> None:
    sheet = create_sheet(google, "Club")
    for grant in (
        {"role": "writer", "emailAddress": "a@example.com"},
        {"type": "user", "role": "boss", "emailAddress": "a@example.com"},
        {"type": "user", "role": "writer"},
    ):
        response = google.post(f"/drive/v3/files/{sheet}/permissions", json=grant)
        assert response.status_code == 400
