"""Google Sheets/Drive client: one spreadsheet per tenant, exactly once under at-least-once calls.

`SheetsClient.ensure_spreadsheet` is safe to run any number of times, including after a crash
at any point of a previous run:

1. Find: one Drive search for a spreadsheet tagged `appProperties.tenantId = <tenant>` **or**
   named exactly `spreadsheet_title(title, tenant)` = ``"<title> (<tenant id>)"``. The name
   carries the tenant id so a sheet created by a run that crashed before tagging it is still
   found (the title passed must be the same on every run: the club name stored at signup).
2. Create (only if nothing was found): `spreadsheets.create` with that title.
3. Tag: `files.update(appProperties={"tenantId"}, addParents=<folder>)` unless already tagged
   (moves it into the configured folder; an unknown folder → `UpstreamNotFound`, permanent).
4. Share with the owner as `writer` (no notification e-mail) unless already shared.

Synchronous (google-api-python-client is); run it in a worker thread. The discovery services
and their collections are built once per client; each call gets its own `httplib2.Http` (not
thread-safe), while the OAuth token is shared and refreshed under a lock. The client library's
own retries are off: errors are classified (`integrations.errors`) and the caller (Temporal)
retries.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import google.auth.exceptions
import google_auth_httplib2
import httplib2
from google.oauth2 import service_account
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from integrations.errors import (
    UpstreamAuthError,
    UpstreamConfigError,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
    error_for_status,
)

SCOPES = (
    "https://www.googleapis.com/auth/spreadsheets",
    "https://www.googleapis.com/auth/drive",
)
SPREADSHEET_MIME = "application/vnd.google-apps.spreadsheet"
TENANT_PROPERTY = "tenantId"
OWNER_ROLE = "writer"
_FILE_FIELDS = "files(id,name,appProperties,createdTime,webViewLink)"


@dataclass(frozen=True)
class Spreadsheet:
    """A tenant's spreadsheet; `created` is False when an earlier run had made it."""

    spreadsheet_id: str
    spreadsheet_url: str
    created: bool


def spreadsheet_title(title: str, tenant_id: str) -> str:
    """The sheet's name: the club name plus the tenant id, which makes it findable untagged."""
    return f"{title} ({tenant_id})"


def spreadsheet_url(spreadsheet_id: str) -> str:
    return f"https://docs.google.com/spreadsheets/d/{spreadsheet_id}/edit"


def _quote(value: str) -> str:
    """A Drive query string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class _TokenRequest(google_auth_httplib2.Request):  # type: ignore[misc]
    """The token-exchange transport: a retryable answer from the token endpoint raises at once.

    google-auth would otherwise retry 5xx itself (three attempts with back-off) inside
    `refresh()`; retries belong to the caller.
    """

    def __call__(self, url: str, method: str = "GET", **kwargs: Any) -> Any:
        response = super().__call__(url, method=method, **kwargs)
        if response.status >= 500 or response.status in (408, 429):
            raise error_for_status(
                response.status,
                f"Google token endpoint answered {response.status}",
                response.headers.get("retry-after"),
            )
        return response


def _translate(exc: BaseException, operation: str) -> UpstreamError | None:
    """The classified error for an exception raised while talking to Google, if it is one."""
    if isinstance(exc, UpstreamError):
        return exc
    if isinstance(exc, HttpError):
        status = int(exc.resp.status)
        return error_for_status(
            status,
            f"Google {operation} answered {status}: {exc.reason}",
            exc.resp.get("retry-after"),
        )
    if isinstance(exc, google.auth.exceptions.RefreshError):
        message = f"Google token exchange failed during {operation}: {exc}"
        if getattr(exc, "retryable", False):
            return UpstreamUnavailable(message)
        return UpstreamAuthError(message)
    if isinstance(exc, google.auth.exceptions.TransportError):
        cause = exc.__cause__ or (exc.args[0] if exc.args else None)
        if isinstance(cause, BaseException):
            translated = _translate(cause, operation)
            if translated is not None:
                return translated
        return UpstreamUnavailable(f"Google token endpoint unreachable during {operation}")
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout(f"Google {operation} timed out")
    if isinstance(exc, httplib2.ServerNotFoundError):
        return UpstreamUnavailable(f"Google {operation}: server not found")
    if isinstance(exc, OSError | httplib2.HttpLib2Error | http.client.HTTPException):
        return UpstreamUnavailable(f"Google {operation}: {type(exc).__name__}")
    return None


class SheetsClient:
    """Creates and shares tenants' spreadsheets through the Sheets v4 and Drive v3 APIs."""

    def __init__(
        self,
        service_account_info: dict[str, Any],
        *,
        api_endpoint: str | None,
        drive_folder_id: str | None,
        timeout: float,
    ) -> None:
        if not service_account_info:
            raise UpstreamConfigError("GOOGLE_SERVICE_ACCOUNT_KEY is not set")
        try:
            credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                service_account_info, scopes=list(SCOPES)
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise UpstreamConfigError(
                f"GOOGLE_SERVICE_ACCOUNT_KEY is not a usable service-account key: "
                f"{type(exc).__name__}"
            ) from None
        self._credentials = credentials
        self._timeout = timeout
        self._folder_id = drive_folder_id or None
        self._token_lock = threading.Lock()
        endpoint = api_endpoint.rstrip("/") if api_endpoint else None
        # Sheets' root is the endpoint itself; Drive's service path is drive/v3.
        sheets = self._build("sheets", "v4", endpoint)
        drive = self._build("drive", "v3", f"{endpoint}/drive/v3" if endpoint else None)
        # The collections are built once: each `drive.files()` call would otherwise build a new
        # Resource from the discovery document, with a docstring for every method (it was a
        # third of the worker's CPU per tenant, bench/README.md). Requests made from them carry
        # their own `http` (execute(http=...)), so sharing them between threads is safe.
        self._spreadsheets = sheets.spreadsheets()
        self._files = drive.files()
        self._permissions = drive.permissions()

    def _build(self, api: str, version: str, endpoint: str | None) -> Any:
        return build(
            api,
            version,
            credentials=self._credentials,
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": endpoint} if endpoint else None,
        )

    # -- transport -------------------------------------------------------------------------

    @contextmanager
    def _session(self, operation: str) -> Iterator[google_auth_httplib2.AuthorizedHttp]:
        """An authorised HTTP object for one call, with errors classified on the way out."""
        http = httplib2.Http(timeout=self._timeout)
        try:
            with self._token_lock:
                if not self._credentials.valid:
                    self._credentials.refresh(_TokenRequest(http))
            yield google_auth_httplib2.AuthorizedHttp(self._credentials, http=http)
        except Exception as exc:
            translated = _translate(exc, operation)
            if translated is None or translated is exc:
                raise
            raise translated from exc
        finally:
            http.close()

    @staticmethod
    def _execute(request: Any, http: Any) -> dict[str, Any]:
        result: dict[str, Any] = request.execute(http=http, num_retries=0)
        return result

    # -- the operation ---------------------------------------------------------------------

    def ensure_spreadsheet(self, tenant_id: str, title: str, owner_email: str) -> Spreadsheet:
        """The tenant's spreadsheet, created, tagged, filed and shared at most once."""
        name = spreadsheet_title(title, tenant_id)
        with self._session("ensure_spreadsheet") as http:
            found = self._find(http, tenant_id, name)
            if found is None:
                sheet = self._execute(
                    self._spreadsheets.create(
                        body={"properties": {"title": name}},
                        fields="spreadsheetId,spreadsheetUrl",
                    ),
                    http,
                )
                spreadsheet_id = str(sheet["spreadsheetId"])
                url = str(sheet.get("spreadsheetUrl") or spreadsheet_url(spreadsheet_id))
                created, tagged = True, False
            else:
                spreadsheet_id = str(found["id"])
                url = str(found.get("webViewLink") or spreadsheet_url(spreadsheet_id))
                created = False
                tagged = (found.get("appProperties") or {}).get(TENANT_PROPERTY) == tenant_id
            if not tagged:
                self._tag(http, spreadsheet_id, tenant_id)
            if created or not self._shared_with(http, spreadsheet_id, owner_email):
                self._execute(
                    self._permissions.create(
                        fileId=spreadsheet_id,
                        body={"type": "user", "role": OWNER_ROLE, "emailAddress": owner_email},
                        sendNotificationEmail=False,
                        supportsAllDrives=True,
                        fields="id",
                    ),
                    http,
                )
        return Spreadsheet(spreadsheet_id=spreadsheet_id, spreadsheet_url=url, created=created)

    def transfer_ownership(self, spreadsheet_id: str, email: str) -> bool:
        """Make `email` the file's owner (Drive permission `role: owner`, with
        `transferOwnership`); the service account keeps write access and the file is never
        deleted. False when `email` already owns it (a repeat transfers nothing)."""
        with self._session("transfer_ownership") as http:
            listing = self._execute(
                self._permissions.list(
                    fileId=spreadsheet_id,
                    fields="permissions(id,type,role,emailAddress)",
                    supportsAllDrives=True,
                ),
                http,
            )
            wanted = email.strip().lower()
            if any(
                (p.get("emailAddress") or "").lower() == wanted and p.get("role") == "owner"
                for p in listing.get("permissions") or []
            ):
                return False
            # Drive always notifies a new owner: sendNotificationEmail cannot be off here.
            self._execute(
                self._permissions.create(
                    fileId=spreadsheet_id,
                    body={"type": "user", "role": "owner", "emailAddress": email},
                    transferOwnership=True,
                    supportsAllDrives=True,
                    fields="id",
                ),
                http,
            )
        return True

    def _find(self, http: Any, tenant_id: str, name: str) -> dict[str, Any] | None:
        query = (
            f"mimeType = {_quote(SPREADSHEET_MIME)} and trashed = false and "
            f"(appProperties has {{ key={_quote(TENANT_PROPERTY)} and "
            f"value={_quote(tenant_id)} }} or name = {_quote(name)})"
        )
        listing = self._execute(
            self._files.list(
                q=query,
                fields=_FILE_FIELDS,
                pageSize=100,
                supportsAllDrives=True,
                includeItemsFromAllDrives=True,
            ),
            http,
        )
        files: list[dict[str, Any]] = listing.get("files") or []
        if not files:
            return None

        # A tagged sheet wins; among equals, the oldest (later ones would be strays).
        def rank(f: dict[str, Any]) -> tuple[bool, str]:
            tagged = (f.get("appProperties") or {}).get(TENANT_PROPERTY) == tenant_id
            return (not tagged, str(f.get("createdTime") or ""))

        return min(files, key=rank)

    def _tag(self, http: Any, spreadsheet_id: str, tenant_id: str) -> None:
        extra: dict[str, Any] = {"addParents": self._folder_id} if self._folder_id else {}
        try:
            self._execute(
                self._files.update(
                    fileId=spreadsheet_id,
                    body={"appProperties": {TENANT_PROPERTY: tenant_id}},
                    fields="id",
                    supportsAllDrives=True,
                    **extra,
                ),
                http,
            )
        except HttpError as exc:
            if int(exc.resp.status) == 404 and self._folder_id:
                raise error_for_status(
                    404,
                    f"Drive folder {self._folder_id!r} (GOOGLE_DRIVE_FOLDER_ID) was not found "
                    "or is not shared with the service account",
                ) from exc
            raise

    def _shared_with(self, http: Any, spreadsheet_id: str, email: str) -> bool:
        listing = self._execute(
            self._permissions.list(
                fileId=spreadsheet_id,
                fields="permissions(id,type,role,emailAddress)",
                supportsAllDrives=True,
            ),
            http,
        )
        wanted = email.strip().lower()
        return any(
            (p.get("emailAddress") or "").lower() == wanted
            and p.get("role") in ("writer", "owner", "organizer", "fileOrganizer")
            for p in listing.get("permissions") or []
        )
