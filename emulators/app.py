"""The emulator app: Google OAuth/Sheets/Drive, Apps Script and Make stand-ins on one port.

`create_emulator_app()` returns a fresh app with its own in-memory `EmulatorState` on
`app.state.emulator`; nothing is shared between apps. See docs/emulators.md for the wire contract.
"""

from __future__ import annotations

from fastapi import FastAPI

from emulators import control, google, webapps
from emulators.state import DEV_DRIVE_FOLDER_ID, EmulatorState

__all__ = ["DEV_DRIVE_FOLDER_ID", "create_emulator_app"]


def create_emulator_app() -> FastAPI:
    """A new emulator app with empty state (plus the dev Drive folder)."""
    app = FastAPI(
        title="Syston emulators",
        description="Local Google Sheets/Drive/OAuth, Apps Script and Make stand-ins.",
        version="1",
    )
    app.state.emulator = EmulatorState()
    app.include_router(google.router)
    app.include_router(webapps.router)
    app.include_router(control.router)

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, bool]:
        return {"ok": True}

    return app
