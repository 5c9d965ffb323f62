"""Operator-facing edges of the gateway: ``/ws/stats`` behind the admin role, overload
closed 1013 with a reason and a reconnect window, and a draining gateway refusing new
sockets with 1012 (on FakeAuth: no database needed)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from cluster import metrics
from cluster.retry import Backoff
from serve.gateway import GatewayDeps
from serve.gateway_conn import Limits
from serve.ws_client import GatewayClient, GatewayClosed
from tests.kit.fake_auth import FakeAuth
from tests.kit.ws import RunningGateway, authenticate, close_code, connect, gateway_server


@contextmanager
def _gateway(auth: FakeAuth, **limits: object) -> Iterator[RunningGateway]:
    deps = GatewayDeps(
        limits=Limits(**limits),  # type: ignore[arg-type]
        bus=None,
        verify_access=auth.verify_access,
        is_session_active=auth.is_session_active,
        may_read_account=lambda p, a: True,
    )
    with gateway_server(deps) as gw:
        yield gw


async def test_stats_when_no_token_or_user_or_admin_then_401_403_200() -> None:
    auth = FakeAuth()
    user, _ = auth.issue()
    admin, _ = auth.issue(role="admin")
    with _gateway(auth) as gw:
        async with httpx.AsyncClient(base_url=gw.base, timeout=5) as http:
            assert (await http.get("/stats")).status_code == 401
            bad = await http.get("/stats", headers={"Authorization": "Bearer nope"})
            assert bad.status_code == 401
            as_user = await http.get("/stats", headers={"Authorization": f"Bearer {user}"})
            assert as_user.status_code == 403
            ok = await http.get("/stats", headers={"Authorization": f"Bearer {admin}"})
            assert ok.status_code == 200 and ok.json()["connections"] == 0


async def test_connect_when_replica_full_then_1013_overloaded_with_window_and_counted() -> None:
    auth = FakeAuth()
    counter = metrics.counter(
        "elson_ws_try_again_total", "Gateway sockets closed 1013, by reason", ("reason",)
    )
    before = counter.local_total
    with _gateway(auth, max_connections=1) as gw:
        first = await connect(gw.ws_url)
        await authenticate(first, auth.issue()[0])
        second = await connect(gw.ws_url)
        code, seen = await close_code(second)
        await first.close()
    assert code == 1013
    assert seen[-1]["code"] == "overloaded" and seen[-1]["retry_after_s"] == 1.0
    assert counter.local_total == before + 1


async def test_connect_when_draining_then_1012_with_window() -> None:
    auth = FakeAuth()
    with _gateway(auth) as gw:
        ws = await connect(gw.ws_url)
        await authenticate(ws, auth.issue()[0])
        pending = await connect(gw.ws_url)  # accepted, not yet authenticated
        gw.loop.call_soon_threadsafe(gw.hub.drain.start)
        code, seen = await close_code(ws)
        assert code == 1012 and seen[-1]["code"] == "service-restart"
        assert (await close_code(pending, within=2))[0] == 1012  # no wait for its auth timeout
        late = await connect(gw.ws_url)  # refused at once, before it can authenticate
        code, seen = await close_code(late)
        assert code == 1012 and seen[-1]["retry_after_s"] == 1.0


async def test_client_when_gateway_keeps_refusing_1012_then_retries_on_hint_then_gives_up() -> None:
    auth = FakeAuth()
    waits: list[float] = []

    async def no_sleep(delay: float) -> None:
        waits.append(delay)

    with _gateway(auth) as gw:
        client = GatewayClient(
            gw.ws_url,
            token=auth.issue()[0],
            backoff=Backoff(base_s=0.01, cap_s=0.02, max_attempts=3),
            sleep=no_sleep,
        )
        await client.connect()
        gw.loop.call_soon_threadsafe(gw.hub.drain.start)
        with pytest.raises(GatewayClosed) as err:
            async for _ in client:
                pass
    assert err.value.code is None and "reconnect failed" in err.value.reason
    assert client.closes == [1012] and len(waits) == 3
    assert max(waits) <= 1.0  # drawn over the server's 1 s window, not the 0.02 s cap
