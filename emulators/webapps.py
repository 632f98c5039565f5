"""Apps Script web app and Make webhook stand-ins.

POST /gas/exec           {"action": "provision", "tenantId", "teamName"} → {"ok": true, …}
POST /make/hooks/{id}    → 200 "Accepted"; the delivery is kept with its headers
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from emulators.gate import gate, state_of
from emulators.state import DEV_DRIVE_FOLDER_ID, Delivery, DriveFile, now_rfc3339

router = APIRouter()


def _gas_error(message: str) -> JSONResponse:
    # A doPost that catches its own errors answers 200 with ok: false, as the real script does.
    return JSONResponse({"ok": False, "error": message})


@router.post("/gas/exec")
async def gas_exec(request: Request) -> Response:
    if (fault := await gate(request, "gas.provision", "gas")) is not None:
        return fault
    try:
        body: Any = json.loads(await request.body() or b"null")
    except ValueError:
        return _gas_error("request body is not JSON")
    if not isinstance(body, dict):
        return _gas_error("request body must be a JSON object")
    if body.get("action") != "provision":
        return _gas_error(f"unknown action: {body.get('action')!r}")
    tenant_id, team_name = body.get("tenantId"), body.get("teamName")
    if not isinstance(tenant_id, str) or not tenant_id:
        return _gas_error("tenantId is required")
    if not isinstance(team_name, str) or not team_name:
        return _gas_error("teamName is required")
    state = state_of(request)
    sheet: DriveFile | None = next(
        (f for f in state.spreadsheets() if f.app_properties.get("tenantId") == tenant_id), None
    )
    if sheet is None:
        sheet = state.create_spreadsheet(f"{team_name} ({tenant_id})", [], str(request.base_url))
        sheet.app_properties["tenantId"] = tenant_id
        sheet.parents = [DEV_DRIVE_FOLDER_ID]
    return JSONResponse({"ok": True, "spreadsheetId": sheet.id, "spreadsheetUrl": sheet.url})


@router.post("/make/hooks/{hook_id}", name="make_hook")
async def make_hook(request: Request, hook_id: str) -> Response:
    if (fault := await gate(request, "make.deliver", "make")) is not None:
        return fault
    raw = await request.body()
    try:
        body: Any = json.loads(raw)
    except ValueError:
        body = raw.decode("utf-8", "replace")
    state_of(request).deliveries.append(
        Delivery(
            hook_id=hook_id,
            headers={name.lower(): value for name, value in request.headers.items()},
            body=body,
            received_at=now_rfc3339(),
            raw_body=raw.decode("utf-8", "replace"),
        )
    )
    return PlainTextResponse("Accepted")
