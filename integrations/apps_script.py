"""Apps Script back end: a deployed web app creates (or finds) the tenant's spreadsheet.

The script's `doPost` answers `{"ok": true, "spreadsheetId", "spreadsheetUrl"}`, or
`{"ok": false, "error"}` when it refuses. Real Apps Script answers a POST with a 302 to
script.googleusercontent.com where the output waits, so redirects are followed here:
`GAS_WEBAPP_URL` is operator configuration, not tenant input.
"""

from __future__ import annotations

from typing import Any

import httpx

from integrations.errors import (
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
    error_for_status,
)
from integrations.sheets import Spreadsheet


class AppsScriptClient:
    """Calls the provisioning Apps Script web app; the script is idempotent per tenant."""

    def __init__(self, http: httpx.AsyncClient, webapp_url: str, timeout: float) -> None:
        self._http = http
        self._url = webapp_url
        self._timeout = timeout

    async def ensure_spreadsheet(self, tenant_id: str, team_name: str) -> Spreadsheet:
        """The tenant's spreadsheet; `created` is always False (the script does not say)."""
        payload = {"action": "provision", "tenantId": tenant_id, "teamName": team_name}
        try:
            response = await self._http.post(
                self._url, json=payload, timeout=self._timeout, follow_redirects=True
            )
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout("Apps Script web app timed out") from exc
        except httpx.TransportError as exc:
            raise UpstreamUnavailable(
                f"Apps Script web app unreachable: {type(exc).__name__}"
            ) from exc
        if not response.is_success:
            raise error_for_status(
                response.status_code,
                f"Apps Script web app answered {response.status_code}",
                response.headers.get("retry-after"),
            )
        try:
            body: Any = response.json()
        except ValueError:
            # An HTML page with 200 is what Apps Script sends when the script itself crashed.
            raise UpstreamUnavailable("Apps Script web app answered something not JSON") from None
        if not isinstance(body, dict):
            raise UpstreamUnavailable("Apps Script web app answered an unexpected JSON value")
        if body.get("ok") is not True:
            raise UpstreamRejected(f"Apps Script refused: {str(body.get('error'))[:200]}")
        spreadsheet_id, url = body.get("spreadsheetId"), body.get("spreadsheetUrl")
        if not isinstance(spreadsheet_id, str) or not spreadsheet_id:
            raise UpstreamUnavailable("Apps Script answered ok without a spreadsheetId")
        if not isinstance(url, str) or not url:
            url = f"https://docs.google.com/spreadsheets/d/{spreadsheet_id}/edit"
        return Spreadsheet(spreadsheet_id=spreadsheet_id, spreadsheet_url=url, created=False)
