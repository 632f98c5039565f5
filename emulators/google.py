"""Google stand-ins: the OAuth token endpoint, Sheets v4 and Drive v3, on the wire paths the
real google-api-python-client uses when `client_options={"api_endpoint": base}` points here:

    POST  /token                                 service-account JWT-bearer grant
    POST  /v4/spreadsheets                       GET /v4/spreadsheets/{id}
    GET   /drive/v3/files?q=…                    GET/PATCH /drive/v3/files/{id}
    POST  /drive/v3/files/{id}/permissions       GET /drive/v3/files/{id}/permissions
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from emulators.drive_query import QueryError, compile_query
from emulators.gate import gate, google_error, require_google_auth, state_of
from emulators.state import FOLDER_MIME, DriveFile, FaultTarget

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_LIFETIME_SECONDS = 3600

router = APIRouter()


# -- OAuth ---------------------------------------------------------------------------------


def _b64url_json(segment: str) -> dict[str, Any] | None:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _assertion_claims(assertion: str) -> dict[str, Any] | None:
    """The claims of a well-formed JWT-bearer assertion (form is checked, not the signature)."""
    parts = assertion.split(".")
    if len(parts) != 3 or not all(parts):
        return None
    header, claims = _b64url_json(parts[0]), _b64url_json(parts[1])
    if header is None or claims is None or "alg" not in header:
        return None
    if not all(isinstance(claims.get(k), str) for k in ("iss", "aud")):
        return None
    if not all(isinstance(claims.get(k), int) for k in ("iat", "exp")):
        return None
    if not isinstance(claims.get("scope") or claims.get("target_audience"), str):
        return None
    return claims


def _invalid_grant(description: str) -> JSONResponse:
    return JSONResponse(
        {"error": "invalid_grant", "error_description": description}, status_code=400
    )


@router.post("/token")
async def token(request: Request) -> Response:
    if (fault := await gate(request, "token", "token")) is not None:
        return fault
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    if form.get("grant_type") != [JWT_BEARER_GRANT]:
        return _invalid_grant("grant_type must be the JWT-bearer grant")
    assertion = form.get("assertion", [""])
    claims = _assertion_claims(assertion[0]) if len(assertion) == 1 else None
    if claims is None:
        return _invalid_grant("Invalid JWT: malformed assertion")
    access_token = "ya29.emulator-" + secrets.token_urlsafe(32)
    state_of(request).tokens[access_token] = {
        "client_email": claims["iss"],
        "scope": claims.get("scope", ""),
        "expiresAt": time.time() + TOKEN_LIFETIME_SECONDS,
    }
    return JSONResponse(
        {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME_SECONDS,
        }
    )


# -- Sheets v4 -----------------------------------------------------------------------------


async def _json_body(request: Request) -> dict[str, Any] | None:
    raw = await request.body()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


async def _admit(request: Request, counter: str, target: FaultTarget) -> Response | None:
    """Count the request, apply an injected fault, then require a token from `/token`."""
    if (fault := await gate(request, counter, target)) is not None:
        return fault
    return require_google_auth(request)


async def _drive_file(request: Request, counter: str, file_id: str) -> DriveFile | Response:
    """`_admit`, then the Drive file (or Drive's 404)."""
    if (refused := await _admit(request, counter, "drive")) is not None:
        return refused
    file = state_of(request).files.get(file_id)
    return file if file is not None else _file_not_found(file_id)


def _invalid_json() -> JSONResponse:
    return google_error(400, "Invalid JSON payload received.", reason="parseError")


@router.post("/v4/spreadsheets")
async def create_spreadsheet(request: Request) -> Response:
    if (refused := await _admit(request, "sheets.create", "sheets")) is not None:
        return refused
    body = await _json_body(request)
    if body is None:
        return _invalid_json()
    properties = body.get("properties") or {}
    sheets = body.get("sheets") or []
    if not isinstance(properties, dict) or not isinstance(sheets, list):
        return google_error(400, "Invalid value for Spreadsheet.", reason="badRequest")
    title = str(properties.get("title") or "Untitled spreadsheet")
    file = state_of(request).create_spreadsheet(title, sheets, str(request.base_url))
    return JSONResponse(file.as_spreadsheet())


def _spreadsheet(request: Request, spreadsheet_id: str) -> DriveFile | None:
    file = state_of(request).files.get(spreadsheet_id)
    return file if file is not None and file.mime_type != FOLDER_MIME else None


@router.get("/v4/spreadsheets/{spreadsheet_id}")
async def get_spreadsheet(request: Request, spreadsheet_id: str) -> Response:
    if (refused := await _admit(request, "sheets.get", "sheets")) is not None:
        return refused
    file = _spreadsheet(request, spreadsheet_id)
    if file is None:
        return google_error(404, "Requested entity was not found.")
    return JSONResponse(file.as_spreadsheet())


@router.get("/spreadsheets/d/{spreadsheet_id}/edit")
async def view_spreadsheet(request: Request, spreadsheet_id: str) -> Response:
    """What a spreadsheetUrl from the emulator opens: the sheet's metadata, for humans."""
    file = _spreadsheet(request, spreadsheet_id)
    if file is None:
        return JSONResponse({"error": "no such spreadsheet"}, status_code=404)
    return JSONResponse({**file.as_spreadsheet(), "drive": file.as_drive_resource()})


# -- Drive v3 ------------------------------------------------------------------------------


def _file_not_found(file_id: str) -> JSONResponse:
    return google_error(404, f"File not found: {file_id}.", location="fileId")


@router.get("/drive/v3/files")
async def list_files(request: Request, q: str | None = None) -> Response:
    if (refused := await _admit(request, "drive.list", "drive")) is not None:
        return refused
    try:
        matches = compile_query(q)
    except QueryError:
        return google_error(400, "Invalid Value", reason="invalid", location="q")
    files = [f.as_drive_resource() for f in state_of(request).files.values() if matches(f)]
    return JSONResponse({"kind": "drive#fileList", "incompleteSearch": False, "files": files})


@router.get("/drive/v3/files/{file_id}")
async def get_file(request: Request, file_id: str) -> Response:
    file = await _drive_file(request, "drive.get", file_id)
    if isinstance(file, Response):
        return file
    return JSONResponse(file.as_drive_resource())


def _ids(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


@router.patch("/drive/v3/files/{file_id}")
async def update_file(
    request: Request,
    file_id: str,
    addParents: str | None = None,  # Drive's parameter names
    removeParents: str | None = None,
) -> Response:
    file = await _drive_file(request, "drive.update", file_id)
    if isinstance(file, Response):
        return file
    state = state_of(request)
    body = await _json_body(request)
    if body is None:
        return _invalid_json()
    add, remove = _ids(addParents), _ids(removeParents)
    for parent in add:
        folder = state.files.get(parent)
        if folder is None or folder.mime_type != FOLDER_MIME:
            return _file_not_found(parent)
    app_properties = body.get("appProperties")
    if app_properties is not None and not isinstance(app_properties, dict):
        return google_error(400, "Invalid Value", reason="invalid", location="appProperties")
    # Validated everything: now apply, all or nothing.
    if "name" in body and isinstance(body["name"], str):
        file.name = body["name"]
    for key, value in (app_properties or {}).items():
        if value is None:
            file.app_properties.pop(str(key), None)
        else:
            file.app_properties[str(key)] = str(value)
    parents = [p for p in file.parents if p not in remove]
    if add:
        # Single-parent model: the owner adding a parent moves the file there.
        parents = add[:1]
    file.parents = parents
    return JSONResponse(file.as_drive_resource())


@router.post("/drive/v3/files/{file_id}/permissions")
async def create_permission(request: Request, file_id: str) -> Response:
    file = await _drive_file(request, "drive.permissions.create", file_id)
    if isinstance(file, Response):
        return file
    body = await _json_body(request)
    if body is None:
        return _invalid_json()
    type_, role, email = body.get("type"), body.get("role"), body.get("emailAddress")
    if type_ not in ("user", "group", "domain", "anyone"):
        return google_error(400, "The permission type field is required.", reason="required")
    if role not in ("owner", "organizer", "fileOrganizer", "writer", "commenter", "reader"):
        return google_error(400, "The permission role field is required.", reason="required")
    if type_ in ("user", "group") and (not isinstance(email, str) or "@" not in email):
        return google_error(
            400, "The permission emailAddress field is required.", reason="required"
        )
    if role == "owner":
        if request.query_params.get("transferOwnership") != "true":
            return google_error(
                403,
                'Bad Request. User message: "You must consent to ownership transfer."',
                reason="consentRequiredForOwnershipTransfer",
            )
        # The previous owner becomes a writer; the file itself never moves or goes away.
        for other in file.permissions:
            if other.role == "owner":
                other.role = "writer"
        state_of(request).requests["drive.ownership.transfer"] += 1
    permission = file.add_permission(type_, role, email if isinstance(email, str) else None)
    return JSONResponse(permission.as_resource())


@router.get("/drive/v3/files/{file_id}/permissions")
async def list_permissions(request: Request, file_id: str) -> Response:
    file = await _drive_file(request, "drive.permissions.list", file_id)
    if isinstance(file, Response):
        return file
    return JSONResponse(
        {"kind": "drive#permissionList", "permissions": [p.as_resource() for p in file.permissions]}
    )
