"""The emulators' in-memory world: Drive files (spreadsheets and folders), issued access tokens,
Make deliveries, request counters and queued faults. One `EmulatorState` per app instance.

Handlers are all `async def` on one event loop and never await while mutating, so no lock.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SPREADSHEET_MIME = "application/vnd.google-apps.spreadsheet"
FOLDER_MIME = "application/vnd.google-apps.folder"
DEV_DRIVE_FOLDER_ID = "dev-folder"
"""A Drive folder that always exists in the emulator (survives `POST /_emulator/reset`)."""

FaultTarget = Literal["sheets", "drive", "token", "gas", "make"]
FaultMode = Literal["error", "latency", "hang"]


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FaultSpec(BaseModel):
    """Body of `POST /_emulator/faults`. `count: null` keeps the fault until it is cleared."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    target: FaultTarget
    mode: FaultMode = "error"
    status: int = Field(default=503, ge=100, le=599)
    count: int | None = Field(default=None, ge=1)
    latency_ms: int = Field(default=0, ge=0, le=600_000, alias="latencyMs")
    retry_after: int | None = Field(default=None, ge=0, alias="retryAfter")


@dataclass
class Fault:
    spec: FaultSpec
    remaining: int | None
    id: str = field(default_factory=lambda: secrets.token_hex(4))

    def as_json(self) -> dict[str, Any]:
        body = self.spec.model_dump(by_alias=True)
        body["id"] = self.id
        body["remaining"] = self.remaining
        return body


@dataclass
class Permission:
    id: str
    type: str
    role: str
    email_address: str | None

    def as_resource(self) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "kind": "drive#permission",
            "id": self.id,
            "type": self.type,
            "role": self.role,
        }
        if self.email_address is not None:
            resource["emailAddress"] = self.email_address
        return resource


@dataclass
class DriveFile:
    id: str
    name: str
    mime_type: str
    url: str = ""
    app_properties: dict[str, str] = field(default_factory=dict)
    parents: list[str] = field(default_factory=lambda: ["root"])
    permissions: list[Permission] = field(default_factory=list)
    created_time: str = field(default_factory=now_rfc3339)
    trashed: bool = False
    sheets: list[dict[str, Any]] = field(default_factory=list)

    def as_drive_resource(self) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "kind": "drive#file",
            "id": self.id,
            "name": self.name,
            "mimeType": self.mime_type,
            "appProperties": dict(self.app_properties),
            "parents": list(self.parents),
            "createdTime": self.created_time,
            "trashed": self.trashed,
        }
        if self.url:
            resource["webViewLink"] = self.url
        return resource

    def as_spreadsheet(self) -> dict[str, Any]:
        return {
            "spreadsheetId": self.id,
            "properties": {
                "title": self.name,
                "locale": "en_GB",
                "autoRecalc": "ON_CHANGE",
                "timeZone": "Europe/London",
                "defaultFormat": {"wrapStrategy": "OVERFLOW_CELL"},
            },
            "sheets": [dict(s) for s in self.sheets],
            "spreadsheetUrl": self.url,
        }

    def add_permission(self, type_: str, role: str, email: str | None) -> Permission:
        """Drive keeps one permission per grantee: granting again updates the role."""
        for permission in self.permissions:
            same = email is not None and (permission.email_address or "").lower() == email.lower()
            if same or (email is None and permission.type == type_):
                permission.role = role
                return permission
        digest = hashlib.sha256(f"{type_}:{email}".encode()).hexdigest()
        permission = Permission(
            id=str(int(digest[:15], 16)), type=type_, role=role, email_address=email
        )
        self.permissions.append(permission)
        return permission


@dataclass
class Delivery:
    hook_id: str
    headers: dict[str, str]
    body: Any
    received_at: str
    raw_body: str = ""  # the exact request body, for signature checks

    def as_json(self) -> dict[str, Any]:
        return {
            "hookId": self.hook_id,
            "headers": dict(self.headers),
            "body": self.body,
            "rawBody": self.raw_body,
            "receivedAt": self.received_at,
        }


def new_spreadsheet_id() -> str:
    # Real ids are 44 url-safe characters.
    return secrets.token_urlsafe(33)


class EmulatorState:
    """Everything the emulators remember; `reset()` forgets it all but the dev folder and the
    access tokens already issued (a running worker keeps its token across a test's reset)."""

    def __init__(self) -> None:
        self.files: dict[str, DriveFile] = {}
        self.tokens: dict[str, dict[str, Any]] = {}
        self.deliveries: list[Delivery] = []
        self.requests: Counter[str] = Counter()
        self.faults: list[Fault] = []
        self.reset()

    def reset(self) -> None:
        self.files.clear()
        self.deliveries.clear()
        self.requests.clear()
        self.faults.clear()
        self.files[DEV_DRIVE_FOLDER_ID] = DriveFile(
            id=DEV_DRIVE_FOLDER_ID, name="Syston dev tenants", mime_type=FOLDER_MIME
        )

    # -- faults ------------------------------------------------------------------------

    def take_fault(self, target: FaultTarget) -> FaultSpec | None:
        """The first queued fault for `target`, consuming one of its uses."""
        for fault in self.faults:
            if fault.spec.target != target:
                continue
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.faults.remove(fault)
            return fault.spec
        return None

    def add_fault(self, spec: FaultSpec) -> Fault:
        fault = Fault(spec=spec, remaining=spec.count)
        self.faults.append(fault)
        return fault

    # -- spreadsheets ------------------------------------------------------------------

    def create_spreadsheet(
        self, title: str, sheets: list[dict[str, Any]], base_url: str
    ) -> DriveFile:
        spreadsheet_id = new_spreadsheet_id()
        if not sheets:
            sheets = [{"properties": {"title": "Sheet1"}}]
        normalised = []
        for index, sheet in enumerate(sheets):
            given = dict(sheet.get("properties") or {})
            properties = {
                "sheetId": given.get("sheetId", index),
                "title": given.get("title", f"Sheet{index + 1}"),
                "index": index,
                "sheetType": "GRID",
                "gridProperties": given.get(
                    "gridProperties", {"rowCount": 1000, "columnCount": 26}
                ),
            }
            normalised.append({"properties": properties})
        file = DriveFile(
            id=spreadsheet_id,
            name=title,
            mime_type=SPREADSHEET_MIME,
            url=f"{base_url.rstrip('/')}/spreadsheets/d/{spreadsheet_id}/edit",
            sheets=normalised,
        )
        self.files[spreadsheet_id] = file
        return file

    def spreadsheets(self) -> list[DriveFile]:
        return [f for f in self.files.values() if f.mime_type == SPREADSHEET_MIME]

    def snapshot(self) -> dict[str, Any]:
        return {
            "spreadsheets": [
                {
                    "spreadsheetId": f.id,
                    "title": f.name,
                    "spreadsheetUrl": f.url,
                    "appProperties": dict(f.app_properties),
                    "parents": list(f.parents),
                    "permissions": [
                        {"emailAddress": p.email_address, "role": p.role, "type": p.type}
                        for p in f.permissions
                    ],
                    "createdTime": f.created_time,
                }
                for f in self.spreadsheets()
            ],
            "deliveries": [d.as_json() for d in self.deliveries],
            "requests": dict(self.requests),
            "faults": [f.as_json() for f in self.faults],
        }
