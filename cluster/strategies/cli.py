"""``elson strategies ...``: create, list, show, promote, rollback, start, stop and check
the drift of strategy instances, printing JSON.

With ``ELSON_RAY_ADDRESS`` (or ``RAY_ADDRESS``) set, the command joins that cluster and
goes through the ``AdaptiveParams`` actor, so the actor's memory (what runners read) sees
the change at once. Without it the command hosts the engine itself on the configured
database: for a platform that is not running (a change made so would reach a running
actor's memory only at its next restart or write).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from typing import Any

from cluster import cli as elson_cli
from cluster.settings import Settings


def _params(raw: str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("--params must be a JSON object")
    return value


async def _run(args: argparse.Namespace, settings: Settings) -> Any:
    from cluster.db import Database
    from cluster.strategies.client import StrategyAdmin

    address = settings.ray_address or os.environ.get("RAY_ADDRESS")
    if address:
        from cluster.ray_runtime import init_ray

        settings = settings.with_overrides(ray_address=address)
        init_ray(settings)
    db = Database.from_settings(settings, "strategies-cli")
    try:
        admin = StrategyAdmin(settings, db, in_ray=bool(address))
        by = args.by
        c = args.strategies_command
        if c == "create":
            spec: dict[str, Any] = json.loads(args.config) if args.config else {}
            spec.update(
                strategy=args.strategy,
                symbols=[s.strip() for s in args.symbols.split(",") if s.strip()],
                bar_interval=args.interval,
                account_id=args.account,
                params=_params(args.params),
            )
            return await admin.call("create", spec, args.owner, by or args.owner)
        if c == "list":
            return await admin.call("instances", args.owner)
        if c == "show":
            return await admin.call("details", args.id)
        if c == "promote":
            return await admin.promote(
                args.id,
                by=by or "cli",
                job_id=args.job,
                params=_params(args.params),
                proposal_id=args.proposal,
            )
        if c == "rollback":
            return await admin.call("rollback", args.id, by or "cli", args.reason)
        if c in ("start", "stop"):
            status = "running" if c == "start" else "stopped"
            return await admin.call("set_status", args.id, status, by or "cli")
        return await admin.call("check_drift", args.id, by or "cli")
    finally:
        db.dispose()


def cmd_strategies(args: argparse.Namespace, settings: Settings) -> int:
    from domain.strategy.guardrails import GuardrailRefused

    try:
        out = asyncio.run(_run(args, settings))
    except GuardrailRefused as exc:
        print(json.dumps({"refused": exc.guardrails, "proposal_id": exc.proposal_id}))
        return 3
    print(json.dumps(out, indent=1, default=str))
    return 0


def add_strategies(sub: Any) -> None:
    p = sub.add_parser(
        "strategies",
        help="strategy instances and their versioned parameters",
        description="Create and steer strategy instances; promotions pass the guardrails "
        "(exit 3 and the refusing guardrails when refused).",
    )
    p.add_argument("--by", help="who acts (recorded in the audit; default cli)")
    s = p.add_subparsers(dest="strategies_command", required=True)
    c = s.add_parser("create", help="create an instance (stopped, version 1)")
    c.add_argument("--owner", required=True, help="owner user id")
    c.add_argument("--account", required=True, help="the owner's paper account id")
    c.add_argument("--strategy", required=True, help="strategy kind, e.g. sma_cross")
    c.add_argument("--symbols", required=True, help="comma-separated symbols")
    c.add_argument("--interval", default="1d", help="bar interval (1m 5m 15m 1h 1d)")
    c.add_argument("--params", required=True, help='JSON object, e.g. {"n1": 10, "n2": 30}')
    c.add_argument(
        "--config",
        help="JSON object of sizing, objective, auto_promote, auto_reoptimize, guardrails, "
        "drift, reoptimize",
    )
    ls = s.add_parser("list", help="list instances")
    ls.add_argument("--owner", help="only this owner's")
    for name, text in (
        ("show", "an instance with versions, proposals and performance"),
        ("start", "set running"),
        ("stop", "set stopped"),
        ("drift", "check the drift rule now"),
    ):
        s.add_parser(name, help=text).add_argument("id")
    pr = s.add_parser("promote", help="promote a job's result, params or a proposal")
    pr.add_argument("id")
    g = pr.add_mutually_exclusive_group(required=True)
    g.add_argument("--job", help="a succeeded optimization job id")
    g.add_argument("--params", help="explicit parameters as JSON")
    g.add_argument("--proposal", type=int, help="a waiting proposal id")
    rb = s.add_parser("rollback", help="restore the parameters before the current ones")
    rb.add_argument("id")
    rb.add_argument("--reason", default="", help="why (recorded in the audit)")
    p.set_defaults(func=cmd_strategies)


if add_strategies not in elson_cli.EXTRA_COMMANDS:
    elson_cli.EXTRA_COMMANDS.append(add_strategies)
