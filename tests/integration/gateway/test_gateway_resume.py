"""Acceptance 6 (resume) and 2, second half (revocation), on a real server and Redis."""

from __future__ import annotations

import asyncio
import time

from cluster.events import EventBus
from tests.kit.ws import authenticate, close_code, connect, recv, recv_until, send


def _sub(member, resume: dict[str, int] | None = None) -> dict:
    msg: dict = {
        "type": "subscribe",
        "channels": [{"channel": "orders", "account_id": member.account_id}],
    }
    if resume is not None:
        msg["resume"] = resume
    return msg


async def test_reconnect_with_last_seq_then_every_missed_event_once_in_order(
    make_gateway, new_member, services
) -> None:
    alice = new_member()
    bus: EventBus = services.events
    stream = f"orders:{alice.account_id}"
    with make_gateway() as gw:
        ws = await connect(gw.ws_url)
        await authenticate(ws, alice.token)
        await send(ws, _sub(alice))
        assert (await recv(ws))["type"] == "subscribed"

        stop = asyncio.Event()
        published: list[int] = []

        async def publisher() -> None:
            i = 0
            while not stop.is_set() and i < 400:
                published.append(await asyncio.to_thread(bus.publish, stream, "fill", {"i": i}))
                i += 1

        pub = asyncio.create_task(publisher())
        got: list[int] = []
        while len(got) < 25:  # mid-stream...
            msg = await recv(ws)
            assert msg["type"] == "event" and msg["stream"] == stream
            got.append(msg["seq"])
        await ws.close()  # ...drop the client while events keep coming
        await asyncio.sleep(0.2)

        ws = await connect(gw.ws_url)
        await authenticate(ws, alice.token)
        await send(ws, _sub(alice, {stream: got[-1]}))
        assert (await recv(ws))["type"] == "subscribed"
        await asyncio.sleep(0.2)
        stop.set()
        await asyncio.wait_for(pub, 30)
        last = published[-1]
        while got[-1] < last:
            msg = await recv(ws)
            assert msg["type"] == "event", msg
            got.append(msg["seq"])
        await ws.close()
    first = got[0]
    assert got == list(range(first, last + 1)), "missed, duplicated or reordered events"
    assert sorted(published) == list(range(1, last + 1))


async def test_resume_past_retention_then_gap_then_rest(make_gateway, new_member, services) -> None:
    alice = new_member()
    stream = f"orders:{alice.account_id}"
    short = EventBus(services.redis, prefix=services.settings.redis_key_prefix, retention=10)
    for i in range(400):  # MAXLEN ~ 10 trims whole nodes: the head is gone
        short.publish(stream, "fill", {"i": i})
    with make_gateway() as gw:
        ws = await connect(gw.ws_url)
        await authenticate(ws, alice.token)
        await send(ws, _sub(alice, {stream: 3}))
        assert (await recv(ws))["type"] == "subscribed"
        gap = await recv(ws)
        assert gap["type"] == "gap" and gap["stream"] == stream
        assert gap["from_seq"] == 4 and gap["seq"] == gap["to_seq"] >= 4
        nxt = await recv(ws)
        assert nxt["type"] == "event" and nxt["seq"] == gap["to_seq"] + 1
        seqs = [nxt["seq"]]
        while seqs[-1] < 400:
            seqs.append((await recv(ws))["seq"])
        assert seqs == list(range(gap["to_seq"] + 1, 401))
        await ws.close()


async def test_resume_when_backlog_exceeds_send_queue_then_all_delivered_no_4429(
    make_gateway, new_member, services
) -> None:
    alice = new_member()
    stream = f"orders:{alice.account_id}"
    for i in range(600):
        services.events.publish(stream, "fill", {"i": i})
    with make_gateway(send_queue=32) as gw:
        ws = await connect(gw.ws_url)
        await authenticate(ws, alice.token)
        await send(ws, _sub(alice, {stream: 0}))
        assert (await recv(ws))["type"] == "subscribed"
        seqs = [(await recv(ws))["seq"] for _ in range(600)]
        assert seqs == list(range(1, 601))
        assert gw.hub.stats.closes.get(4429, 0) == 0
        await ws.close()


async def test_revoked_session_then_socket_closes_4401_within_5s(
    make_gateway, new_member, services
) -> None:
    alice = new_member()
    with make_gateway(revocation_check_s=2.0) as gw:
        ws = await connect(gw.ws_url)
        await authenticate(ws, alice.token)
        await send(ws, _sub(alice))
        await recv_until(ws, lambda m: m["type"] == "subscribed")
        started = time.monotonic()
        await asyncio.to_thread(services.auth.revoke_session, alice.user_id, alice.session_id)
        code, seen = await close_code(ws, within=8)
        elapsed = time.monotonic() - started
        assert code == 4401, (code, seen)
        assert elapsed < 5.0, f"closed after {elapsed:.1f} s"
        assert seen[-1]["code"] == "session-revoked"
