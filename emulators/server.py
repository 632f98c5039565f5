"""Run the emulators with uvicorn (what `syston emulators --port` calls)."""

from __future__ import annotations

import uvicorn

from emulators.app import create_emulator_app

DEFAULT_PORT = 8099
GRACEFUL_SHUTDOWN_SECONDS = 3


def emulator_base_url(host: str, port: int) -> str:
    """The URL clients use: GOOGLE_API_ENDPOINT, and the base of /token, /gas/exec, /make/hooks."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def run_emulators(host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> None:
    """Serve the emulators until interrupted (blocks)."""
    uvicorn.run(
        create_emulator_app(),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        # A request held by a `hang` fault must not keep Ctrl-C waiting for ever.
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
