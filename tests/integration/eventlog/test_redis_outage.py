"""Issue 18, acceptance 1 to 3: no event lost when Redis stops, freezes or comes back empty.

Eight users place orders over REST while their WebSocket clients follow their ``orders``
streams; the test's own Redis is stopped (and comes back *empty*: it has no persistence,
so this is also the "restarted without its data" case) or frozen with SIGSTOP for 10 s.
Afterwards each client must hold every event of its stream exactly once and in order,
including those of every order the API acknowledged, and (frozen case) no request may
have been held by Redis for a second. Last, a client resuming after Redis lost everything
gets its events from PostgreSQL, and ``gap`` only for those past the record's retention.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from websockets.exceptions import ConnectionClosed

from cluster.settings import Settings
from tests.conftest import own_database
from tests.kit.event_stack import EventStack, event_stack
from tests.kit.redis_server import RedisProcess
from tests.kit.users import ApiUser, signed_in
from tests.kit.ws import authenticate, connect, recv, send

CLIENTS = 8
FAULT_S = 10.0


@pytest.fixture(scope="module")
def outage_database_url() -> Iterator[str]:
    with own_database("outage") as url:
        yield url


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    server = RedisProcess(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def stack(
    settings: Settings, outage_database_url: str, private_redis: RedisProcess
) -> Iterator[EventStack]:
    s = settings.with_overrides(
        database_url=outage_database_url,
        redis_url=private_redis.url,
        login_max_failures=10_000,
        api_replicas=1,
        job_workers=0,
    )
    with event_stack(s) as running:
        yield running


class Follower:
    """One user's WebSocket client: resumes from its last ``seq`` whenever it is cut."""

    def __init__(self, ws_url: str, user: ApiUser) -> None:
        self.ws_url, self.user = ws_url, user
        self.stream = f"orders:{user.account_id}"
        self.got: list[tuple[int, str, str]] = []
        self.gaps: list[dict[str, Any]] = []
        self.reconnects = 0

    @property
    def last(self) -> int:
        return self.got[-1][0] if self.got else 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                ws = await connect(self.ws_url)
                await authenticate(ws, self.user.access)
                channel = {"channel": "orders", "account_id": self.user.account_id}
                await send(
                    ws,
                    {
                        "type": "subscribe",
                        "channels": [channel],
                        "resume": {self.stream: self.last},
                    },
                )
                while not stop.is_set():
                    try:
                        msg = await recv(ws, within=0.5)
                    except TimeoutError:
                        continue
                    if msg["type"] == "event":
                        order = msg["data"]["order"]["id"]
                        self.got.append((msg["seq"], msg["event"], order))
                    elif msg["type"] == "gap":
                        self.gaps.append(msg)
                await ws.close()
            except (ConnectionClosed, OSError, TimeoutError, AssertionError):
                self.reconnects += 1
                await asyncio.sleep(0.2)


def _place_orders(
    api_url: str, user: ApiUser, until: float, acked: list[str], latency: list[float]
) -> None:
    with httpx.Client(base_url=api_url, timeout=30) as http:
        n = 0
        while time.monotonic() < until:
            n += 1
            body = {
                "symbol": "AAPL",
                "side": "buy",
                "type": "limit",
                "time_in_force": "day",
                "qty": "1",
                "limit_price": "10.00",
            }
            key = f"{user.account_id}-{n}"
            began = time.monotonic()
            r = http.post(
                f"/v1/accounts/{user.account_id}/orders",
                json=body,
                headers={**user.headers, "Idempotency-Key": key},
            )
            latency.append(time.monotonic() - began)
            if r.status_code == 201:
                acked.append(r.json()["id"])
            time.sleep(0.08)


def _funded_users(api_url: str, n: int = CLIENTS) -> list[ApiUser]:
    with httpx.Client(base_url=api_url, timeout=30) as http:
        users = [signed_in(http) for _ in range(n)]
        for u in users:
            r = http.post(
                f"/v1/accounts/{u.account_id}/fund", json={"amount": "100000"}, headers=u.headers
            )
            assert r.status_code == 200, r.text
    return users


def _unsent(stack: EventStack) -> int:
    with stack.services.db.session() as s:
        return int(
            s.execute(text("SELECT count(*) FROM broker_outbox WHERE sent_at IS NULL")).scalar_one()
        )


def _record(stack: EventStack, stream: str) -> list[tuple[int, str, str]]:
    with stack.services.db.session() as s:
        rows = s.execute(
            text("SELECT seq, type, data FROM events WHERE stream = :s ORDER BY seq"),
            {"s": stream},
        ).all()
    return [(int(r.seq), r.type, r.data["order"]["id"]) for r in rows]


@pytest.mark.parametrize("fault", ["stopped-then-empty", "frozen"])
async def test_orders_during_a_redis_fault_lose_no_event(
    stack: EventStack, private_redis: RedisProcess, fault: str
) -> None:
    users = await asyncio.to_thread(_funded_users, stack.api_url)
    followers = [Follower(stack.ws_url, u) for u in users]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(f.run(stop)) for f in followers]
    await asyncio.sleep(1.0)

    acked: dict[str, list[str]] = {u.account_id: [] for u in users}
    latency: list[float] = []
    fault_latency: list[float] = []
    until = time.monotonic() + 2.0 + FAULT_S + 2.0
    placers = [
        threading.Thread(
            target=_place_orders, args=(stack.api_url, u, until, acked[u.account_id], latency)
        )
        for u in users
    ]
    for t in placers:
        t.start()
    await asyncio.sleep(2.0)
    mark = len(latency)
    if fault == "frozen":
        assert private_redis.proc is not None
        os.kill(private_redis.proc.pid, signal.SIGSTOP)
        await asyncio.sleep(FAULT_S)
        fault_latency = latency[mark:]
        os.kill(private_redis.proc.pid, signal.SIGCONT)
    else:
        private_redis.stop()
        await asyncio.sleep(FAULT_S)
        fault_latency = latency[mark:]
        private_redis.start()  # same port, no data: everything Redis held is gone
    await asyncio.to_thread(lambda: [t.join(60) for t in placers])

    # the broker books the last fills after the last submit: wait for a quiet record, then
    # for every client to reach its stream's head
    deadline, settled = time.monotonic() + 45, 0
    while time.monotonic() < deadline and settled < 3:
        records = {f.stream: await asyncio.to_thread(_record, stack, f.stream) for f in followers}
        unsent = await asyncio.to_thread(_unsent, stack)
        caught_up = unsent == 0 and all(f.last >= records[f.stream][-1][0] for f in followers)
        settled = settled + 1 if caught_up else 0
        await asyncio.sleep(0.5)
    stop.set()
    await asyncio.gather(*tasks)
    records = {f.stream: await asyncio.to_thread(_record, stack, f.stream) for f in followers}

    total = sum(len(v) for v in acked.values())
    assert total > CLIENTS * 20, f"too few orders acknowledged: {total}"
    assert fault_latency, "no request was made during the fault"
    for f in followers:
        record = records[f.stream]
        assert f.gaps == []
        assert f.got == record, f"{f.stream}: {len(f.got)} received vs {len(record)} recorded"
        seen = {(order, kind) for _, kind, order in f.got}
        for order in acked[f.user.account_id]:
            assert {(order, "pending_new"), (order, "new"), (order, "fill")} <= seen
    if fault == "frozen":
        # no request held by the frozen Redis: one held would wait for it to thaw (FAULT_S).
        # Not a latency target (those are benchmarks): a loaded CI machine answered in 1.2 s
        assert max(fault_latency) < FAULT_S / 2, sorted(fault_latency)[-5:]


async def test_redis_restarted_empty_resume_from_the_record_and_gap_past_retention(
    stack: EventStack, private_redis: RedisProcess
) -> None:
    (user,) = await asyncio.to_thread(_funded_users, stack.api_url, 1)
    stream = f"orders:{user.account_id}"

    def place(n: int) -> None:
        with httpx.Client(base_url=stack.api_url, timeout=30) as http:
            for i in range(n):
                body = {
                    "symbol": "AAPL",
                    "side": "buy",
                    "type": "limit",
                    "time_in_force": "day",
                    "qty": "1",
                    "limit_price": f"{10 + i}.00",
                }
                url = f"/v1/accounts/{user.account_id}/orders"
                assert http.post(url, json=body, headers=user.headers).status_code == 201

    await asyncio.to_thread(place, 4)  # 12 events: pending_new, new, fill each
    deadline = time.monotonic() + 20
    while len(await asyncio.to_thread(_record, stack, stream)) < 12:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.2)
    stack.relay.drain()
    private_redis.stop()
    private_redis.start()  # Redis lost everything

    def age_first_three() -> None:
        with stack.services.db.session() as s:
            s.execute(
                text(
                    "UPDATE events SET at = now() - interval '8 days'"
                    " WHERE stream = :s AND seq <= 3"
                ),
                {"s": stream},
            )
        stack.relay.prune(datetime.now(UTC))

    await asyncio.to_thread(age_first_three)
    ws = await connect(stack.ws_url)
    await authenticate(ws, user.access)
    channel = {"channel": "orders", "account_id": user.account_id}
    await send(ws, {"type": "subscribe", "channels": [channel], "resume": {stream: 0}})
    got: list[dict[str, Any]] = []
    while not got or got[-1].get("seq") != 12:
        msg = await recv(ws, within=10)
        if msg["type"] in ("event", "gap"):
            got.append(msg)
    await ws.close()
    assert got[0]["type"] == "gap" and (got[0]["from_seq"], got[0]["to_seq"]) == (1, 3)
    assert [m["seq"] for m in got[1:]] == list(range(4, 13))
    assert all(m["type"] == "event" for m in got[1:])
