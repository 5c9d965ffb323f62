"""A market-data subscription outside the regular session is told so, with the next open
(production wiring, real server; the market clock is a fake one, no sleeps)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest

from cluster.orders.wiring import calendar_around
from domain.clock import FakeClock
from serve.gateway import deps_from_services
from serve.gateway_schemas import SERVER_MESSAGES
from serve.services import Services
from tests.kit.ws import FakeFeed, RunningGateway, authenticate, connect, gateway_server, recv, send

SATURDAY = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)  # noon New York
PRE_MARKET = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # Monday 07:00 New York
TUESDAY_OPEN = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # 10:00 New York


@contextmanager
def _gateway_at(services: Services, feed: FakeFeed, at: datetime) -> Iterator[RunningGateway]:
    market = dataclasses.replace(services, clock=FakeClock(at), calendar=calendar_around(at))
    with gateway_server(deps_from_services(market, feed_factory=lambda: feed)) as gw:
        yield gw


def _subscribe(symbols: list[str]) -> dict:
    return {"type": "subscribe", "channels": [{"channel": "market.quotes", "symbols": symbols}]}


@pytest.mark.parametrize(
    ("at", "phase"), [(SATURDAY, "closed"), (PRE_MARKET, "pre_market")], ids=["weekend", "pre"]
)
async def test_subscribe_outside_regular_hours_then_status_closed_with_next_open(
    services, new_member, feed: FakeFeed, at: datetime, phase: str
) -> None:
    alice = new_member()
    with _gateway_at(services, feed, at) as gw:
        ws = await connect(gw.ws_url)
        await authenticate(ws, alice.token)
        await send(ws, _subscribe(["msft", "AAPL"]))
        assert (await recv(ws))["type"] == "subscribed"
        status = await recv(ws)
        assert status == {
            "type": "market_status",
            "stream": "control",
            "seq": status["seq"],
            "market": "closed",
            "phase": phase,
            "next_open": "2026-11-30T14:30:00Z",
            "symbols": ["AAPL", "MSFT"],
        }
        SERVER_MESSAGES.validate_python(status)  # the published contract holds it
        feed.push([feed.quote("AAPL")])  # a feed that still ticks is still delivered
        assert (await recv(ws))["type"] == "market"
        await ws.close()


async def test_subscribe_during_regular_hours_then_no_status(
    services, new_member, feed: FakeFeed
) -> None:
    alice = new_member()
    with _gateway_at(services, feed, TUESDAY_OPEN) as gw:
        ws = await connect(gw.ws_url)
        await authenticate(ws, alice.token)
        await send(ws, _subscribe(["AAPL"]))
        assert (await recv(ws))["type"] == "subscribed"
        feed.push([feed.quote("AAPL")])
        assert (await recv(ws))["type"] == "market"
        await ws.close()
