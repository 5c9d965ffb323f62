"""Issue 20, acceptance 1 and 2 through Ray Serve: SIGTERM to the gateway replica closes
every socket 1012 and the replica is gone within Serve's bound
(``graceful_shutdown_timeout_s``); Serve starts a new replica and every client, one with
no event yet included, gets every event published after it subscribed, once, in order."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from cluster import names
from cluster.retry import Backoff
from serve.gateway_drain import DRAIN_S, SERVE_MARGIN_S
from serve.gateway_schemas import CloseCode
from serve.ws_client import GatewayClient

pytestmark = [pytest.mark.ray, pytest.mark.slow]
WS = "ws://127.0.0.1:8000/ws"
BOUND_S = DRAIN_S + SERVE_MARGIN_S


def _gateway_pids() -> set[int]:
    """Ray titles a replica's process ``ray::ServeReplica:<app>:<deployment>``."""
    title = f"ServeReplica:{names.GATEWAY_APP}:gateway".encode()
    pids = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if title in (proc / "cmdline").read_bytes():
                pids.add(int(proc.name))
        except OSError:
            continue
    return pids


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _until(check: Callable[[], bool], within: float, what: str) -> float:
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < within, f"{what}: not within {within} s"
        await asyncio.sleep(0.05)  # waiting on another process, not on time
    return time.monotonic() - start


async def _consume(client: GatewayClient, got: list[int]) -> None:
    async for msg in client:
        if msg["type"] == "event":
            got.append(msg["seq"])


async def test_sigterm_when_clients_open_then_1012_replica_gone_in_bound_and_no_event_lost(
    serve_app: str, serve_services
) -> None:
    from tests.integration.gateway.test_gateway_serve import _member

    users = [_member(serve_services) for _ in range(2)]
    streams = [f"orders:{u.account_id}" for u in users]
    publish = serve_services.events.publish
    await asyncio.to_thread(publish, streams[0], "new", {"before": True})
    clients = [
        GatewayClient(
            WS,
            token=u.token,
            channels=[{"channel": "orders", "account_id": u.account_id}],
            backoff=Backoff(base_s=0.1, cap_s=1.0, max_attempts=200),
        )
        for u in users
        for _ in range(5)
    ]
    got: list[list[int]] = [[] for _ in clients]
    for c in clients:
        await c.connect()
    tasks = [asyncio.create_task(_consume(c, g)) for c, g in zip(clients, got, strict=True)]
    expected: dict[str, list[int]] = {s: [] for s in streams}
    expected[streams[0]].append(await asyncio.to_thread(publish, streams[0], "new", {"n": 1}))
    await _until(lambda: all(got[:5]), 10, "live event")

    (pid,) = _gateway_pids()
    os.kill(pid, signal.SIGTERM)
    for s in streams:  # the second user's clients have no event before the restart
        expected[s].append(await asyncio.to_thread(publish, s, "new", {"n": 2}))
    closed_in = await _until(lambda: all(c.closes for c in clients), BOUND_S, "1012 to all")
    gone_in = await _until(lambda: not _alive(pid), BOUND_S, "replica exit")
    for s in streams:
        expected[s].append(await asyncio.to_thread(publish, s, "new", {"n": 3}))
    want = [expected[streams[i // 5]] for i in range(len(clients))]
    back_in = await _until(lambda: got == want, 90, "every event after the restart")
    print(f"sigterm: closed {closed_in:.1f} s, gone {gone_in:.1f} s, back {back_in:.1f} s")
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for c in clients:
        await c.close()
    assert all(c.closes[0] == CloseCode.SERVICE_RESTART for c in clients), [
        c.closes for c in clients
    ]
    assert closed_in < DRAIN_S and gone_in < BOUND_S


def test_stats_through_serve_when_admin_then_both_shutdown_signals_reach_the_drain(
    serve_app: str, serve_services
) -> None:
    """The drain hangs on two Ray internals (``serve.gateway_drain``); a Ray upgrade that
    moves either shows here. (A redeploy, Serve stopping the replica itself, drained 6
    clients 1012 with no event lost in 32 s when this was written; too slow to keep.)"""
    from tests.integration.gateway.conftest import PASSWORD

    email = f"ws-admin-{uuid.uuid4().hex[:8]}@example.com"
    serve_services.auth.register(email, PASSWORD, "individual")
    serve_services.auth.set_role(email, "admin", actor="test")
    admin = serve_services.auth.login(email, PASSWORD, ip="127.0.0.1", user_agent="pytest")
    user = _member_token(serve_services)
    stats = f"{serve_app}/ws/stats"
    assert httpx.get(stats, timeout=10).status_code == 401
    assert httpx.get(stats, headers=_bearer(user), timeout=10).status_code == 403
    answer = httpx.get(stats, headers=_bearer(admin.access_token), timeout=10)
    assert answer.status_code == 200
    assert answer.json()["drain"] == {
        "draining": False,
        "replica_watch": "watching",
        "sigterm_hook": True,
    }


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _member_token(services) -> str:  # type: ignore[no-untyped-def]
    from tests.integration.gateway.test_gateway_serve import _member

    return str(_member(services).token)
