"""The ``elson`` command. Every command has ``--help`` and exits non-zero with a message."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from cluster.secrets.startup import settings_from_sources
from cluster.settings import Settings, SettingsError

VERSION = "0.1.0"
EXIT_CONFIG = 2


def _fail(msg: str, code: int = 1) -> int:
    print(f"elson: {msg}", file=sys.stderr, flush=True)
    return code


@contextmanager
def _database_url(settings: Settings) -> Iterator[str]:
    """The configured URL, or the embedded server started for the command's duration."""
    if settings.database_url is not None:
        yield settings.database_url.get_secret_value()
        return
    from cluster.embedded import EmbeddedPostgres

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    pg = EmbeddedPostgres(settings.data_dir)
    try:
        yield pg.start()
    finally:
        pg.stop()


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    from cluster.bootstrap import Platform, run_forever
    from cluster.logging import configure_logging

    configure_logging(settings.log_level, json_format=settings.env.is_protected)
    migrate = True if args.migrate else (False if args.no_migrate else None)
    return run_forever(Platform(settings, migrate=migrate))


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    from cluster import migrate

    with _database_url(settings) as url:
        if args.db_command == "upgrade":
            migrate.upgrade(url, args.revision)
            print(f"database at {migrate.current(url)}")
        elif args.db_command == "downgrade":
            migrate.downgrade(url, args.revision)
            print(f"database at {migrate.current(url) or 'base'}")
        else:
            print(f"current: {migrate.current(url) or 'base'}  head: {migrate.head()}")
    return 0


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    """Every dependency and protocol (cluster/check): one JSON line per check on stdout."""
    if args.readyz:
        return cmd_readyz(args, settings)
    from cluster.check import CHECK_NAMES, run_all, target_for

    only = set(args.only.split(",")) if args.only else None
    unknown = (only or set()) - set(CHECK_NAMES)
    if unknown:
        return _fail(f"unknown checks {sorted(unknown)}; known: {', '.join(CHECK_NAMES)}", 2)
    target = target_for(settings, args.url, args.ws_url, args.timeout)
    results = run_all(settings, target, only)
    for result in results:
        print(result.json_line(), flush=True)
    failed = [r.name for r in results if not r.ok]
    if failed:
        print(f"elson: check failed: {', '.join(failed)}", file=sys.stderr, flush=True)
    return 1 if failed else 0


def cmd_readyz(args: argparse.Namespace, settings: Settings) -> int:
    """The quick form (container HEALTHCHECK): the API's own /readyz summary."""
    url = args.url or f"http://127.0.0.1:{settings.http_port}"
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=args.timeout) as resp:  # noqa: S310
            status, body = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    except OSError as exc:
        return _fail(f"cannot reach {url}: {exc}")
    try:
        report = json.loads(body)
    except ValueError:
        return _fail(f"{url}/readyz answered {status} with a body that is not JSON")
    print(f"status: {report.get('status')}")
    for name, check in report.get("checks", {}).items():
        extra = f"  ({check['error']})" if "error" in check else ""
        print(f"  {name:<32} {check.get('state')}{extra}")
    return 0 if status == 200 and report.get("status") == "ready" else 1


def cmd_version(_: argparse.Namespace, __: Settings) -> int:
    print(f"elson {VERSION}")
    return 0


#: Capabilities register extra subcommands: ``fn(subparsers) -> None``; the parser's
#: ``func`` default is called with (args, settings).
EXTRA_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = []  # type: ignore[type-arg]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="elson", description="Elson trading platform")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser(
        "up",
        help="run the whole platform locally (Ctrl-C stops it)",
        description="Start database, Redis, migrations, Ray, Serve and actors.",
    )
    g = up.add_mutually_exclusive_group()
    g.add_argument("--migrate", action="store_true", help="apply migrations (default in dev/test)")
    g.add_argument("--no-migrate", action="store_true", help="do not apply migrations")
    up.set_defaults(func=cmd_up)

    db = sub.add_parser("db", help="database migrations", description="Alembic migrations.")
    dbs = db.add_subparsers(dest="db_command", required=True)
    p = dbs.add_parser("upgrade", help="upgrade to a revision (default head)")
    p.add_argument("revision", nargs="?", default="head")
    p = dbs.add_parser("downgrade", help="downgrade to a revision ('base' for empty)")
    p.add_argument("revision")
    dbs.add_parser("current", help="show the current and head revisions")
    db.set_defaults(func=cmd_db)

    check = sub.add_parser(
        "check",
        help="check a running deployment: stores, Ray, Serve, WebSocket protocol, feeds",
        description="Run every check (migrations, db_pools, redis, vault, ray, serve, "
        "websocket, providers, metrics, tls) against a running deployment; print one JSON "
        "line per check (name, ok, detail, seconds); exit 1 if any failed. --readyz: only "
        "the API's /readyz summary (cheap, for a container HEALTHCHECK).",
    )
    check.add_argument("--url", help="API base URL (default http://127.0.0.1:$ELSON_HTTP_PORT)")
    check.add_argument("--ws-url", help="gateway WebSocket URL (default: --url with ws(s) and /ws)")
    check.add_argument("--timeout", type=float, default=10.0, help="seconds per check")
    check.add_argument("--only", help="comma-separated check names to run")
    check.add_argument("--readyz", action="store_true", help="only query /readyz (quick)")
    check.set_defaults(func=cmd_check)

    version = sub.add_parser("version", help="print the version")
    version.set_defaults(func=cmd_version)

    _load_extra_commands()
    for add in EXTRA_COMMANDS:
        add(sub)
    return parser


def _load_extra_commands() -> None:
    import importlib

    for module in (
        "cluster.orders.cli",
        "cluster.auth.cli",
        "jobs.optimize_cli",
        "jobs.keys_cli",
        "cluster.strategies.cli",
    ):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if not exc.name or not module.startswith(exc.name):
                raise


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = settings_from_sources()
    except SettingsError as exc:
        return _fail(f"configuration refused: {exc}", EXIT_CONFIG)
    try:
        return int(args.func(args, settings))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        return _fail(f"{args.command} failed: {type(exc).__name__}: {exc}")


if __name__ == "__main__":
    # Run the importable module, not this ``__main__`` copy: capabilities register their
    # commands on ``cluster.cli.EXTRA_COMMANDS``.
    from cluster.cli import main as _main

    sys.exit(_main())
