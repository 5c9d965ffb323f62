"""``elson keys status|rotate|reencrypt|retire``: the PII data-key lifecycle.

Rotation: ``elson keys rotate`` makes a new data key the write key (with
``ELSON_PII_KEK=transit`` it rotates the transit key first and rewraps the older data
keys); older versions keep decrypting. ``elson keys reencrypt`` (or ``rotate
--reencrypt``) moves every field to the write key, resumably, while the API runs. Then
``elson keys retire kN`` stops an old version; it refuses while any row still uses it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cluster import cli
from cluster.settings import Settings


def _vault_client(settings: Settings) -> Any:
    """The Vault client of the settings' secrets source, when transit wraps the keys."""
    if settings.pii_kek != "transit":
        return None
    from cluster.pii.vault import transit_client

    return transit_client(settings)


def cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    from cluster.db import Database, PoolSize
    from cluster.pii import keyring
    from cluster.pii import reencrypt as rows
    from cluster.pii.wiring import build_pii
    from jobs import reencrypt

    with cli._database_url(settings) as url:
        db = Database(url, PoolSize(2, 0))  # the job's batch + the key ring's reads
        try:
            pii = build_pii(settings, db.session, _vault_client(settings))
            ring = pii.keyring
            if args.keys_command in ("rotate", "reencrypt"):
                if args.keys_command == "rotate":
                    with db.session() as s:
                        keyring.ensure_active(s, ring.kek)
                    with db.session() as s:
                        print(f"write key is now {keyring.rotate(s, ring.kek)}")
                if args.keys_command == "reencrypt" or args.reencrypt:
                    report = reencrypt.run(db.session, pii.cipher, batch=args.batch)
                    print(
                        f"re-encrypted to {report.key_id}: {report.moved} row(s) moved in "
                        f"{report.passes} pass(es)"
                    )
                    for ref in report.unreadable:
                        print(f"elson: unreadable: {ref}", file=sys.stderr)
                    if report.unreadable:
                        return 1
            elif args.keys_command == "retire":
                with db.session() as s:
                    keyring.retire(s, args.key_id, rows.in_use(s, args.key_id))
                print(f"{args.key_id} retired")
            with db.session() as s:
                used = rows.versions_in_use(s)
                for k in keyring.list_keys(s):
                    print(f"{k.id}\t{k.state}\t{k.kek}\t{used.get(k.id, 0)} row(s)")
        except keyring.KeyUnavailable as exc:
            print(f"elson: {exc}", file=sys.stderr)
            return 1
        finally:
            db.dispose()
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    keys = sub.add_parser(
        "keys", help="PII data keys: status, rotate, reencrypt, retire", description=__doc__
    )
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    keys_sub.add_parser("status", help="list data keys and the rows each seals")
    rotate = keys_sub.add_parser("rotate", help="make a new data key the write key")
    rotate.add_argument("--reencrypt", action="store_true", help="then re-encrypt every row")
    rotate.add_argument("--batch", type=int, default=200)
    again = keys_sub.add_parser("reencrypt", help="move every field to the write key")
    again.add_argument("--batch", type=int, default=200)
    retire = keys_sub.add_parser("retire", help="stop an old version (no row may use it)")
    retire.add_argument("key_id")
    keys.set_defaults(func=cmd_keys)


cli.EXTRA_COMMANDS.append(add_commands)
