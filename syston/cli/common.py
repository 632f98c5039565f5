"""What every `syston` command shares: one-line failures, settings loading, the JWT secret,
and the one place a long-running command turns SIGINT/SIGTERM into a clean shutdown."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, NoReturn

from pydantic import ValidationError

if TYPE_CHECKING:
    from syston.core.settings import Settings

EXIT_CONFIG = 2
PROG = "syston"


class ConfigError(Exception):
    """Configuration that cannot work; the message is shown to the user as is."""


def fail(message: str, code: int = EXIT_CONFIG) -> NoReturn:
    """Print `syston: <message>` on stderr and exit."""
    print(f"{PROG}: {message}", file=sys.stderr)
    raise SystemExit(code)


def describe_settings_error(exc: ValidationError) -> str:
    """One line naming the environment variable(s) at fault."""
    parts = []
    for error in exc.errors():
        message = str(error.get("msg", "invalid"))
        message = message.removeprefix("Value error, ")
        loc = [str(item) for item in error.get("loc", ())]
        name = loc[0].upper() if loc else ""
        if name == "DATA_DIR":
            name = "SYSTON_DATA_DIR"
        parts.append(f"{name} {message}" if name else message)
    return "invalid configuration: " + "; ".join(parts)


def load_settings() -> Settings:
    """The settings from the environment and `.env`, or exit 2 with a one-line reason."""
    from syston.core.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        fail(describe_settings_error(exc))


def jwt_secrets(settings: Settings) -> list[bytes]:
    """The signing secrets; in dev, falls back to the one `syston dev` generated."""
    if settings.jwt_secrets:
        return settings.jwt_secrets
    if settings.syston_env == "dev":
        from syston.cli.dev_plan import read_dev_jwt_secret

        secret = read_dev_jwt_secret(settings.data_dir)
        if secret is not None:
            return [secret]
    raise ConfigError(
        "JWT_SECRET is not set (at least 32 bytes; generate one with `openssl rand -base64 32`, "
        "or run `syston dev` once to create a local one in the data dir)"
    )


def run_until_signalled(make_main: Callable[[], Coroutine[Any, Any, object]]) -> int:
    """Run a coroutine until it returns or SIGINT/SIGTERM cancels it (a clean shutdown).

    The one owner of signal handling for in-process commands: the coroutine just runs until
    cancelled and cleans up in its `finally`/`async with` blocks.
    """

    async def _main() -> None:
        task = asyncio.ensure_future(make_main())
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            pass

    asyncio.run(_main())
    return 0


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows defaults and keeps the hand-wrapped descriptions as written."""


if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


def add_command(
    sub: Subparsers,
    name: str,
    help_text: str,
    func: Callable[[argparse.Namespace], int],
    description: str | None = None,
) -> argparse.ArgumentParser:
    """Register one `syston NAME` subcommand that runs `func(args)`."""
    parser = sub.add_parser(
        name, help=help_text, description=description or help_text, formatter_class=HelpFormatter
    )
    parser.set_defaults(func=func)
    return parser


URL_HELP = "the API (default: $SYSTON_API_URL or http://127.0.0.1:8000)"
