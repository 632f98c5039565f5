"""The two sheet back ends behind `create_sheet`: Google APIs (default) and Apps Script."""

from __future__ import annotations

import asyncio
import logging

import httpx

from integrations.apps_script import AppsScriptClient
from integrations.errors import UpstreamConfigError
from integrations.sheets import SheetsClient, Spreadsheet
from syston.core.logs import log_event
from syston.core.settings import Settings


class GoogleSheetsBackend:
    """google-api-python-client is synchronous: each call runs in a worker thread."""

    def __init__(self, client: SheetsClient) -> None:
        self._client = client

    async def ensure(self, tenant_id: str, club_name: str, owner_email: str) -> Spreadsheet:
        return await asyncio.to_thread(
            self._client.ensure_spreadsheet, tenant_id, club_name, owner_email
        )

    async def transfer_ownership(self, spreadsheet_id: str, email: str) -> bool:
        return await asyncio.to_thread(self._client.transfer_ownership, spreadsheet_id, email)


class AppsScriptBackend:
    """The Apps Script web app creates (or finds) the sheet for the tenant itself."""

    def __init__(self, client: AppsScriptClient) -> None:
        self._client = client

    async def ensure(self, tenant_id: str, club_name: str, owner_email: str) -> Spreadsheet:
        return await self._client.ensure_spreadsheet(tenant_id, club_name)

    async def transfer_ownership(self, spreadsheet_id: str, email: str) -> bool:
        # The web app has no ownership action: the script's owner keeps the file (never
        # deleted); say so rather than stop the offboarding.
        log_event(
            "sheet_ownership_not_transferred",
            logging.WARNING,
            spreadsheet_id=spreadsheet_id,
            reason="the Apps Script back end cannot transfer ownership",
        )
        return False


def build_sheets_backend(
    settings: Settings, http: httpx.AsyncClient
) -> GoogleSheetsBackend | AppsScriptBackend | None:
    """The configured back end, or None when none is configured (create_sheet then fails
    permanently with a message that names the missing setting)."""
    timeout = settings.upstream_timeout_seconds
    if settings.sheets_backend == "apps_script":
        if not settings.gas_webapp_url:
            return None
        return AppsScriptBackend(AppsScriptClient(http, settings.gas_webapp_url, timeout))
    try:
        info = settings.service_account_info()
    except (OSError, ValueError) as exc:
        raise UpstreamConfigError(f"GOOGLE_SERVICE_ACCOUNT_KEY is unreadable: {exc}") from exc
    if info is None:
        return None
    return GoogleSheetsBackend(
        SheetsClient(
            info,
            api_endpoint=settings.google_api_endpoint,
            drive_folder_id=settings.google_drive_folder_id,
            timeout=timeout,
        )
    )
