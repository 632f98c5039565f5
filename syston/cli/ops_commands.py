"""The ops commands: `syston token|requeue|status|logs|smoke`.

`requeue`, `status` and `smoke` talk to the API (`--url`) with service tokens minted locally
from JWT_SECRET (in dev, the secret `syston dev` generated), so they work the same against
`syston dev` and production.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syston.cli.common import URL_HELP, add_command, fail, jwt_secrets, load_settings

if TYPE_CHECKING:
    from syston.cli.common import Subparsers


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


def ops_client(args: argparse.Namespace) -> Any:
    import httpx

    from syston.cli.ops import api_url

    return httpx.AsyncClient(base_url=api_url(args.url), timeout=httpx.Timeout(10.0))


def _service_token_source() -> Callable[[], str]:
    """Mints a fresh short-lived service token per request (watching may outlast one)."""
    settings = load_settings()
    from syston.tokens import TokenService

    service = TokenService(jwt_secrets(settings), settings.jwt_issuer)
    return lambda: service.issue_service("syston-cli", ttl=120)


def run_ops(main: Callable[[], Coroutine[Any, Any, int]]) -> int:
    from syston.cli.ops import OpsError

    try:
        return asyncio.run(main())
    except OpsError as exc:
        fail(str(exc), code=1)
    except KeyboardInterrupt:
        return 130


def cmd_requeue(args: argparse.Namespace) -> int:
    from syston.cli.ops import requeue

    token = _service_token_source()

    async def main() -> int:
        async with ops_client(args) as client:
            body = await requeue(client, args.tenant_id, token, force=args.force)
        print(
            f"{body['tenantId']}: {body['action']} (status {body['status']}, workflow "
            f"{body['workflowId']}, run {body.get('runId') or '-'})"
        )
        if body["action"] == "already_active":
            print("nothing to do; `--force` re-runs every step idempotently", file=sys.stderr)
        return 0

    return run_ops(main)


def cmd_status(args: argparse.Namespace) -> int:
    from syston.cli.ops import fetch_status, render_status, watch_status

    token = _service_token_source()

    async def main() -> int:
        async with ops_client(args) as client:
            if args.watch:
                return await watch_status(
                    client, args.tenant_id, token, sys.stdout, interval=args.interval
                )
            body = await fetch_status(client, args.tenant_id, token)
        print("\n".join(render_status(body)))
        return 1 if body["status"] == "failed" else 0

    return run_ops(main)


def cmd_logs(args: argparse.Namespace) -> int:
    from syston.cli import logfilter

    words = list(args.words)
    # `all` (what scripts/watch-logs.sh passes when given no filter) is the same as none.
    known = (*logfilter.FILTERS, "all")
    args.filter = words.pop(0) if words and words[0] in known else "all"
    if len(words) > 1:
        fail(f"`syston logs` takes one FILE, not {' '.join(words)}")
    file = words[0] if words else None
    tenant_id = args.tenant or (os.environ.get("TENANT_ID") if args.filter == "tenant" else None)
    if args.filter == "tenant" and not tenant_id:
        fail("`syston logs tenant` needs --tenant TENANT_ID (or $TENANT_ID)")
    lines = _log_lines(file, follow=args.follow, from_start=args.from_start)
    keep = logfilter.matcher(None if args.filter == "all" else args.filter, tenant_id)
    try:
        logfilter.run(lines, keep, sys.stdout, as_pretty=args.pretty)
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:  # `syston logs … | head`
        with contextlib.suppress(OSError):
            sys.stdout.close()
    return 0


def _log_lines(file: str | None, *, follow: bool, from_start: bool) -> Any:
    """The lines to filter: stdin for `-`, a followed file, or the file's current lines."""
    from syston.cli import logfilter

    if file == "-":
        return sys.stdin
    path = Path(file) if file else logfilter.default_log_file()
    if follow:
        return logfilter.follow(path, from_start=from_start)
    if not path.is_file():
        fail(f"no log file at {path} (start `syston dev`, set LOG_FILE, or pass FILE)", code=1)
    return path.open(encoding="utf-8", errors="replace")


def cmd_smoke(args: argparse.Namespace) -> int:
    from syston.cli.smoke import Smoke

    async def main() -> int:
        async with ops_client(args) as client:
            return await Smoke(client, sys.stdout, timeout=args.timeout).run()

    return run_ops(main)


def register(sub: Subparsers) -> None:
    """Add the ops commands to the `syston` parser."""
    _register_token(sub)
    _register_requeue_and_status(sub)
    _register_logs(sub)
    smoke = add_command(
        sub,
        "smoke",
        "the runbook's smoke test: health, both plans to active, whoami, idempotent re-submit",
        cmd_smoke,
        "Check a running API end to end: /health, /ready, a starter and a pro signup that\n"
        "reach `active`, /whoami with the signup token, and idempotent re-submits. Creates two\n"
        "throw-away tenants (slugs smoke-*). Exit status 1 naming what is wrong on any failure.",
    )
    smoke.add_argument("--url", default=None, help=URL_HELP)
    smoke.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds each tenant may take to reach active",
    )


def _register_token(sub: Subparsers) -> None:
    token = add_command(
        sub,
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


def _register_requeue_and_status(sub: Subparsers) -> None:
    requeue = add_command(
        sub,
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
    requeue.add_argument("--url", default=None, help=URL_HELP)

    status = add_command(
        sub,
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
    status.add_argument("--url", default=None, help=URL_HELP)


def _register_logs(sub: Subparsers) -> None:
    logs = add_command(
        sub,
        "logs",
        "filter the JSON log: signup, tenant, provision, deny, errors",
        cmd_logs,
        "Print the matching lines of the JSON log unchanged (pipe them to jq), or readable\n"
        "with --pretty. FILE defaults to $LOG_FILE or <data dir>/logs/syston.log (where\n"
        "`syston dev` writes); `-` reads standard input (e.g. `docker compose logs api`).\n"
        "  signup      signup_accepted / _replayed / _rejected\n"
        "  tenant      every line of one tenant (--tenant ID or $TENANT_ID)\n"
        "  provision   tenant_provision_*, provision_requeue and intake_*\n"
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
