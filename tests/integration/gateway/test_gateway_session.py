"""Acceptance 6 and 7 (gateway half): the session watch on a real server.

6: when the session check itself fails for real (the gateway's database connection is
cut), sockets close 4401 within the configured bound, not never.
7: on the production wiring with a dev clock an hour ahead of or behind real time, a
socket stays open while its session lives and closes at revocation or token expiry.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import make_url

from cluster.access import owns_account
from cluster.auth.wiring import build_auth
from cluster.clock import ShiftedClock
from cluster.db import Database, PoolSize
from serve.gateway import GatewayDeps, deps_from_services, limits_from
from serve.services import Services
from tests.integration.gateway.conftest import PASSWORD
from tests.kit.tcp_cut import TcpCut
from tests.kit.ws import FakeFeed, RunningGateway, authenticate, close_code, connect, gateway_server

CHECK_S, UNVERIFIED_S = 0.2, 1.0


@contextmanager
def _cut_database(services: Services) -> Iterator[tuple[TcpCut, Services]]:
    """``services`` whose database connections run through a forwarder the test can cut."""
    s = services.settings
    assert s.database_url is not None
    url = make_url(s.database_url.get_secret_value())
    cut = TcpCut(url.host or "127.0.0.1", url.port or 5432)
    db = Database(url.set(host="127.0.0.1", port=cut.port).render_as_string(False), PoolSize(2, 2))
    try:
        yield cut, dataclasses.replace(services, db=db)
    finally:
        cut.close()
        db.dispose()


async def _stays_open(ws, seconds: float) -> None:
    """Nothing but pings (answered) for ``seconds``, and no close."""
    try:
        code, seen = await close_code(ws, within=seconds)
    except TimeoutError:
        return
    raise AssertionError(f"closed {code} after {seen}")


async def test_session_checks_fail_then_closed_4401_within_bound(services, new_member) -> None:
    alice = new_member()
    with _cut_database(services) as (cut, cuttable):
        auth = build_auth(cuttable)
        limits = dataclasses.replace(
            limits_from(services.settings),
            revocation_check_s=CHECK_S,
            session_unverified_s=UNVERIFIED_S,
        )
        deps = GatewayDeps(
            limits=limits,
            bus=None,
            verify_access=auth.verify_access,
            is_session_active=auth.is_session_active,
            may_read_account=lambda p, a: owns_account(cuttable.db, p.user_id, a),
        )
        with gateway_server(deps) as gw:
            ws = await connect(gw.ws_url)
            await authenticate(ws, alice.token)
            await _stays_open(ws, 3 * UNVERIFIED_S)  # checks pass meanwhile
            started = time.monotonic()
            cut.cut()  # the database is gone for this gateway
            code, seen = await close_code(ws, within=10)
            elapsed = time.monotonic() - started
            assert code == 4401, (code, seen)
            assert seen[-1]["code"] == "session-unverified"
            # bound: unverified_s + one check interval + one check timeout (= interval)
            assert UNVERIFIED_S - CHECK_S <= elapsed <= UNVERIFIED_S + 2 * CHECK_S + 0.5
            assert gw.hub.watch.failed_checks >= 1


def _shifted(services: Services, offset: timedelta) -> Services:
    return dataclasses.replace(services, clock=ShiftedClock(datetime.now(UTC) + offset))


@contextmanager
def _production_gateway(services: Services, feed: FakeFeed) -> Iterator[RunningGateway]:
    """``deps_from_services`` as the Serve deployment runs it, with short check intervals."""
    deps = deps_from_services(services, feed_factory=lambda: feed)
    deps.limits = dataclasses.replace(deps.limits, revocation_check_s=CHECK_S)
    with gateway_server(deps) as gw:
        yield gw


@pytest.mark.parametrize("offset_h", [1, -1], ids=["clock-ahead", "clock-behind"])
async def test_dev_clock_shifted_then_socket_lives_with_session_and_closes_at_revocation(
    services, new_member, feed: FakeFeed, offset_h: int
) -> None:
    alice = new_member()
    with _production_gateway(_shifted(services, timedelta(hours=offset_h)), feed) as gw:
        ws = await connect(gw.ws_url)
        await authenticate(ws, alice.token)
        await _stays_open(ws, 2.0)  # ten checks: a clock ahead used to close it here
        await asyncio.to_thread(services.auth.revoke_session, alice.user_id, alice.session_id)
        code, seen = await close_code(ws, within=5)
        assert code == 4401 and seen[-1]["code"] == "session-revoked", (code, seen)


@pytest.mark.parametrize("offset_h", [1, -1], ids=["clock-ahead", "clock-behind"])
async def test_dev_clock_shifted_then_socket_closes_when_token_expires_in_real_time(
    services, feed: FakeFeed, offset_h: int
) -> None:
    """A two-second token: a clock behind real time used to keep its socket open."""
    short = build_auth(
        dataclasses.replace(
            services, settings=services.settings.with_overrides(access_token_ttl_s=2)
        )
    )
    email = f"ws-short-{uuid.uuid4().hex[:10]}@example.com"
    await asyncio.to_thread(short.register, email, PASSWORD, "individual")
    pair = await asyncio.to_thread(short.login, email, PASSWORD, ip="127.0.0.1", user_agent="t")
    with _production_gateway(_shifted(services, timedelta(hours=offset_h)), feed) as gw:
        ws = await connect(gw.ws_url)
        await authenticate(ws, pair.access_token)
        started = time.monotonic()
        code, seen = await close_code(ws, within=6)
        assert code == 4401 and seen[-1]["code"] == "token-expired", (code, seen)
        assert time.monotonic() - started <= 2 + 2 * CHECK_S + 0.5
