"""The lifecycle commands: `syston plan|suspend|reactivate|offboard` (docs/cli.md).

Like `syston requeue`, they call the API (`--url`) as any client would, with a short-lived
admin token minted from JWT_SECRET (in dev, the secret `syston dev` generated), and print one
line: what changed, or the API's refusal (409 TENANT_NOT_ACTIVE / LIFECYCLE_IN_PROGRESS, …)
with exit status 1.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from syston.cli.common import URL_HELP, add_command, jwt_secrets, load_settings

if TYPE_CHECKING:
    from syston.cli.common import Subparsers


def _admin_token_source() -> Callable[[], str]:
    settings = load_settings()
    from syston.tokens import TokenService

    service = TokenService(jwt_secrets(settings), settings.jwt_issuer)
    return lambda: service.issue_admin("syston-cli", ttl=120)


def _call(args: argparse.Namespace, method: str, path: str, what: str, body: Any) -> int:
    from syston.cli.ops import tenant_call
    from syston.cli.ops_commands import ops_client, run_ops

    token = _admin_token_source()

    async def main() -> int:
        async with ops_client(args) as client:
            answer = await tenant_call(client, args.tenant_id, token, method, path, what, json=body)
        print(describe(answer))
        return 0

    return run_ops(main)


def describe(answer: dict[str, Any]) -> str:
    """One line for the operator from any of the lifecycle routes' answers."""
    parts = [str(answer.get("tenantId", ""))]
    if "action" in answer:
        parts.append(f"plan {answer['previousPlan']} → {answer['plan']}: {answer['action']}")
    elif "deleteAfter" in answer:
        parts.append(f"deprovisioning; deleted after {answer['deleteAfter']}")
    elif "previousStatus" in answer:
        parts.append(f"{answer['previousStatus']} → {answer['status']}")
    else:
        parts.append(f"status {answer.get('status')}")
    if answer.get("workflowId"):
        parts.append(f"(workflow {answer['workflowId']}, run {answer.get('runId') or '-'})")
    return "  ".join(parts)


def cmd_plan(args: argparse.Namespace) -> int:
    path = f"/api/v1/admin/tenants/{args.tenant_id}/plan"
    return _call(args, "POST", path, "plan change", {"plan": args.plan})


def cmd_suspend(args: argparse.Namespace) -> int:
    path = f"/api/v1/admin/tenants/{args.tenant_id}/{args.command}"
    return _call(args, "POST", path, args.command, {"reason": args.reason})


def cmd_offboard(args: argparse.Namespace) -> int:
    base = f"/api/v1/admin/tenants/{args.tenant_id}"
    if args.cancel:
        body = {"reason": args.reason} if args.reason else None
        return _call(args, "POST", f"{base}/offboard/cancel", "cancel offboarding", body)
    offboard: dict[str, Any] = {}
    if args.grace_seconds is not None:
        offboard["graceSeconds"] = args.grace_seconds
    if args.reason:
        offboard["reason"] = args.reason
    return _call(args, "DELETE", base, "offboarding", offboard or None)


def register(sub: Subparsers) -> None:
    """Add the lifecycle commands to the `syston` parser."""
    plan = add_command(
        sub,
        "plan",
        "move an active tenant to another plan (ChangePlan workflow)",
        cmd_plan,
        "Call POST /api/v1/admin/tenants/TENANT_ID/plan with an admin token minted from\n"
        "JWT_SECRET. Prints `started` (follow it with `syston status TENANT_ID`) or\n"
        "`unchanged` when the tenant is already on that plan.",
    )
    plan.add_argument("tenant_id", metavar="TENANT_ID")
    plan.add_argument("plan", choices=["starter", "pro"])
    plan.add_argument("--url", default=None, help=URL_HELP)
    for name, summary in (
        ("suspend", "suspend an active tenant (its own tokens are refused until reactivated)"),
        ("reactivate", "reactivate a suspended tenant"),
    ):
        command = add_command(
            sub, name, summary, cmd_suspend, f"{summary[0].upper()}{summary[1:]}."
        )
        command.add_argument("tenant_id", metavar="TENANT_ID")
        command.add_argument("--reason", required=True, help="recorded in the audit trail")
        command.add_argument("--url", default=None, help=URL_HELP)
    offboard = add_command(
        sub,
        "offboard",
        "offboard a tenant after a grace period, or --cancel it within the grace",
        cmd_offboard,
        "DELETE /api/v1/admin/tenants/TENANT_ID: the tenant is `deprovisioning` now and\n"
        "deleted when the grace period ends (OFFBOARD_GRACE_SECONDS, 30 days, unless\n"
        "--grace-seconds). With --cancel, restore it while the grace period runs.",
    )
    offboard.add_argument("tenant_id", metavar="TENANT_ID")
    offboard.add_argument("--grace-seconds", type=int, default=None, metavar="N")
    offboard.add_argument("--cancel", action="store_true", help="cancel a scheduled offboarding")
    offboard.add_argument("--reason", default=None, help="recorded in the audit trail")
    offboard.add_argument("--url", default=None, help=URL_HELP)
