"""The drain: every socket gets 1012 with a reconnect window, new sockets are refused,
and it ends within its bound even if a socket never closes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from serve.gateway_drain import (
    DRAIN_S,
    SERVE_HEALTH_CHECK_S,
    SERVE_MARGIN_S,
    SERVE_WAIT_LOOP_S,
    Drain,
    replica_shutting_down,
    retry_window_s,
)
from serve.gateway_schemas import CloseCode
from tests.kit import kuberay


class FakeConn:
    def __init__(self, conns: dict[int, Any], drain: Drain | None, cid: int) -> None:
        self.conns, self.drain, self.id = conns, drain, cid
        self.failed: list[tuple[int, str | None, float | None]] = []
        self.stuck = False

    def fail(self, code: int, reason: str, **kw: Any) -> None:
        self.failed.append((code, kw.get("error"), kw.get("retry_after_s")))
        if not self.stuck and self.drain is not None:
            asyncio.get_running_loop().call_soon(self._closed)

    def _closed(self) -> None:
        self.conns.pop(self.id, None)
        assert self.drain is not None
        self.drain.socket_closed()


def _setup(n: int, **kw: Any) -> tuple[dict[int, Any], Drain, list[FakeConn]]:
    conns: dict[int, Any] = {}
    drain = Drain(conns, **kw)
    fakes = [FakeConn(conns, drain, i) for i in range(n)]
    conns.update({f.id: f for f in fakes})
    return conns, drain, fakes


async def test_drain_when_sockets_open_then_each_closed_1012_with_window() -> None:
    conns, drain, fakes = _setup(300, rate_per_s=20.0)
    left = await drain.start()
    assert left == 0 and not conns and drain.done.is_set()
    assert {f.failed[0] for f in fakes} == {(CloseCode.SERVICE_RESTART, "service-restart", 15.0)}


async def test_drain_when_started_twice_then_one_pass() -> None:
    _, drain, fakes = _setup(3)
    first, second = drain.start(), drain.start()
    assert first is second
    await first
    assert all(len(f.failed) == 1 for f in fakes)


async def test_drain_when_socket_never_closes_then_ends_at_bound() -> None:
    conns, drain, fakes = _setup(2, bound_s=0.05)
    fakes[0].stuck = True
    assert await drain.start() == 1
    assert list(conns) == [0]


async def test_refuse_when_draining_then_new_socket_closed_1012() -> None:
    _, drain, _ = _setup(0)
    await drain.start()
    late = FakeConn({}, None, 99)
    drain.refuse(late)
    assert late.failed[0][0] == CloseCode.SERVICE_RESTART


def test_retry_window_when_few_or_many_sockets_then_clamped() -> None:
    assert retry_window_s(3, 20.0) == 1.0
    assert retry_window_s(300, 20.0) == 15.0
    assert retry_window_s(10**6, 20.0) == 60.0


def test_replica_flag_when_not_in_ray_then_none() -> None:
    assert replica_shutting_down() is None


@pytest.mark.parametrize("overlay", kuberay.OVERLAYS)
def test_serve_bound_when_rayservice_and_builder_then_drain_plus_margin(overlay: str) -> None:
    apps = kuberay.serve_config(kuberay.rendered(overlay))["applications"]
    (gateway,) = [d for a in apps for d in a["deployments"] if d["name"] == "gateway"]
    assert gateway["graceful_shutdown_timeout_s"] == DRAIN_S + SERVE_MARGIN_S
    assert gateway["graceful_shutdown_wait_loop_s"] == SERVE_WAIT_LOOP_S
    assert gateway["health_check_period_s"] == SERVE_HEALTH_CHECK_S
    assert DRAIN_S < DRAIN_S + SERVE_MARGIN_S
