"""Issue 20, acceptance 1 (in process): a gateway restarted while events flow. 100 clients
of 4 users, 25 of them with no event before the restart: each gets every event
published after it subscribed exactly once and in order, and its socket closed 1012.

The replica restart through Ray Serve (and by SIGTERM) is in ``test_gateway_serve_drain``;
here the old gateway drains as a Serve replica does and a new one takes its port."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from cluster.retry import Backoff
from serve.gateway_schemas import CloseCode
from serve.ws_client import GatewayClient
from tests.kit.redis_server import free_port

USERS, PER_USER, QUIET = 4, 25, 1  # QUIET users get no event before the restart (argon2
# makes a user cost ~0.6 s here: few users, many sockets each)


async def _until(check: Callable[[], bool], within: float) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)  # waiting on other threads (server, publisher), not time


async def _consume(client: GatewayClient, got: list[int]) -> None:
    async for msg in client:
        if msg["type"] in ("event", "gap"):
            got.append(msg["seq"] if msg["type"] == "event" else -msg["seq"])


async def test_restart_when_events_flow_then_every_event_after_subscribing_once_in_order(
    make_gateway, new_member, services
) -> None:
    members = [new_member() for _ in range(USERS)]
    streams = [f"orders:{m.account_id}" for m in members]
    for s in streams[:-QUIET]:  # history from before anyone subscribed: not delivered
        services.events.publish(s, "new", {"before": True})
    published: dict[str, list[int]] = {s: [] for s in streams}

    def publish(tag: str, which: list[str]) -> None:
        for s in which:
            published[s].append(services.events.publish(s, "new", {"tag": tag}))

    port = free_port()
    fast = {"reconnect_rate_per_s": 1000.0}  # the hint's floor: 1 s
    clients = [
        GatewayClient(
            f"ws://127.0.0.1:{port}/ws",
            token=m.token,
            channels=[{"channel": "orders", "account_id": m.account_id}],
            backoff=Backoff(base_s=0.05, cap_s=1.0, max_attempts=60),
        )
        for m in members
        for _ in range(PER_USER)
    ]
    got: list[list[int]] = [[] for _ in clients]
    tasks: list[asyncio.Task[None]] = []
    with make_gateway(port=port, drain_on_exit=True, **fast):
        for i in range(0, len(clients), 25):
            await asyncio.gather(*(c.connect() for c in clients[i : i + 25]))
        tasks = [asyncio.create_task(_consume(c, g)) for c, g in zip(clients, got, strict=True)]
        publish("live", streams[:-QUIET])
        await _until(lambda: all(len(g) == 1 for g in got[: -QUIET * PER_USER]), 20)
        assert not any(got[-QUIET * PER_USER :])
        publish("racing-the-drain", streams)
    publish("while-down", streams)
    with make_gateway(port=port, **fast):
        publish("after", streams)
        expected = [published[streams[i // PER_USER]] for i in range(len(clients))]
        await _until(lambda: all(len(g) >= len(e) for g, e in zip(got, expected, strict=True)), 30)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for c in clients:
            await c.close()
    assert got == expected
    assert all(c.closes[:1] == [CloseCode.SERVICE_RESTART] for c in clients)
