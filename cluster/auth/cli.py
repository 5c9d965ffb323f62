"""``elson users set-role EMAIL ROLE``: the bootstrap path to the first admin.

Registered through ``cluster.cli.EXTRA_COMMANDS``; runs against the configured database
(or the embedded one, started for the command) and leaves an audit row.
"""

from __future__ import annotations

import argparse
import getpass

from cluster import cli
from cluster.settings import Settings
from cluster.tables import ROLES


def cmd_set_role(args: argparse.Namespace, settings: Settings) -> int:
    from cluster.auth.service import set_user_role
    from cluster.db import Database, PoolSize

    with cli._database_url(settings) as url:
        db = Database(url, PoolSize(1, 0))
        try:
            with db.session() as s:
                user = set_user_role(s, args.email, args.role, actor=f"cli:{getpass.getuser()}")
        finally:
            db.dispose()
    print(f"{user.email}: role {user.role}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    users = sub.add_parser("users", help="manage users", description="User administration.")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    p = users_sub.add_parser("set-role", help="set a user's role (user, quant, admin)")
    p.add_argument("email")
    p.add_argument("role", choices=ROLES)
    users.set_defaults(func=cmd_set_role)


cli.EXTRA_COMMANDS.append(add_commands)
