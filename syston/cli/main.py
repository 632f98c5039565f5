"""The `syston` command's parser and entry point (docs/cli.md).

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
    syston plan         move a tenant to another plan (over the API)
    syston suspend      suspend a tenant · syston reactivate: back to active
    syston offboard     offboard a tenant after a grace period; --cancel within it

Configuration problems end in one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from syston import __version__
from syston.cli import lifecycle_commands, ops_commands, stack_commands, temporal_server
from syston.cli.common import PROG, ConfigError, HelpFormatter, fail


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        formatter_class=HelpFormatter,
        description="Syston provisioning: durable tenant sign-up and provisioning on Temporal.",
        epilog="Configuration comes from the environment or .env (see .env.example).\n"
        "Start here: `syston dev`, then open the printed URLs.",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"{PROG} {__version__}",
        help="the version (the same as the API's OpenAPI document shows)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    stack_commands.register(sub)
    ops_commands.register(sub)
    lifecycle_commands.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `syston` console script."""
    if "SYSTON_SUPERVISOR_PID" in os.environ:
        from syston.cli.devstack import follow_supervisor

        follow_supervisor()
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        # `syston logs deny --follow FILE`: argparse leaves a positional after an option over.
        if args.command != "logs" or any(e.startswith("-") for e in extras):
            parser.error(f"unrecognized arguments: {' '.join(extras)}")
        args.words += extras
    from syston.core.logs import set_component

    set_component(args.command)  # every JSON line names the component: api, worker, …
    try:
        result: int = args.func(args)
    except ConfigError as exc:
        fail(str(exc))
    except temporal_server.TemporalBinaryMissing as exc:
        fail(str(exc), code=1)
    return result
