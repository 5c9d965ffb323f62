"""``elson users set-role EMAIL ROLE``: the bootstrap path to the first admin.

Registered through ``cluster.cli.EXTRA_COMMANDS``; runs against the configured database
(or the embedded one, started for the command) and leaves an audit row. After the commit it
publishes the user's invalidation to the running processes' auth caches (on the configured
Redis, or the embedded one of ``./dev up`` if its socket is there); if no Redis answers, the
change reaches a running process within ``ELSON_AUTH_CACHE_TTL_S``.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from cluster import cli
from cluster.settings import Settings
from cluster.tables import ROLES


def cmd_set_role(args: argparse.Namespace, settings: Settings) -> int:
    from cluster.auth.service import set_user_role
    from cluster.db import Database, PoolSize
    from cluster.pii.wiring import blind_index

    with cli._database_url(settings) as url:
        db = Database(url, PoolSize(1, 0))
        try:
            with db.session() as s:
                user = set_user_role(
                    s,
                    args.email,
                    args.role,
                    actor=f"cli:{getpass.getuser()}",
                    index=blind_index(settings),
                )
        finally:
            db.dispose()
    print(f"{user.email}: role {user.role}")
    if not _publish_user_change(settings, user.id):
        print(
            f"elson: note: running processes apply it within {settings.auth_cache_ttl_s:g} s "
            "(no Redis reached to tell them now)",
            file=sys.stderr,
        )
    return 0


def _publish_user_change(settings: Settings, user_id: str) -> bool:
    from cluster.auth.invalidation import Invalidations
    from cluster.embedded import EmbeddedRedis
    from cluster.redis_client import ResilientRedis

    if settings.redis_url is not None:
        url = settings.redis_url.get_secret_value()
    else:
        socket = EmbeddedRedis(settings.data_dir).socket_path
        if not socket.exists():
            return False
        url = f"unix://{socket}"
    redis = ResilientRedis(url, prefix=settings.redis_key_prefix, timeout_s=1.0, attempts=2)
    try:
        invalidations = Invalidations(redis, None)
        invalidations.user(user_id)
        return invalidations.pending == 0
    finally:
        redis.close()


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    users = sub.add_parser("users", help="manage users", description="User administration.")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    p = users_sub.add_parser("set-role", help="set a user's role (user, quant, admin)")
    p.add_argument("email")
    p.add_argument("role", choices=ROLES)
    users.set_defaults(func=cmd_set_role)


cli.EXTRA_COMMANDS.append(add_commands)
