"""Issue 11: the gateway's ``risk`` channel carries the risk engine's events. A subscriber of
its account's ``risk`` stream gets ``risk:global`` too: an admin's global halt arrives as
``trading_state_changed``, and the order it then refuses as ``order_denied`` on the
account's own stream; the API answered that order with the code's problem."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from cluster.settings import Settings
from tests.conftest import own_database
from tests.kit.event_stack import EventStack, event_stack
from tests.kit.users import assert_problem, signed_in
from tests.kit.ws import authenticate, connect, recv_until, send

ORDER = {
    "symbol": "AAPL",
    "qty": "1",
    "side": "buy",
    "type": "limit",
    "time_in_force": "day",
    "limit_price": "10.00",
}


@pytest.fixture(scope="module")
def stack(settings: Settings) -> Iterator[EventStack]:
    with own_database("riskws") as url:
        s = settings.with_overrides(database_url=url, api_replicas=1, job_workers=0)
        with event_stack(s, dispatch=False) as running:
            yield running


async def test_risk_subscriber_when_global_halt_then_state_change_and_denial_arrive(
    stack: EventStack,
) -> None:
    with httpx.Client(base_url=stack.api_url, timeout=30) as http:
        user = signed_in(http)
        ws = await connect(stack.ws_url)
        await authenticate(ws, user.access)
        await send(
            ws,
            {"type": "subscribe", "channels": [{"channel": "risk", "account_id": user.account_id}]},
        )
        subscribed, _ = await recv_until(ws, lambda m: m["type"] == "subscribed")
        streams = {c["stream"] for c in subscribed["channels"]}
        assert streams == {f"risk:{user.account_id}", "risk:global"}

        admin = stack.services.risk_admin
        await admin.call("set_state", "global", "halted", "exchange outage", "user:ops")
        halted, _ = await recv_until(ws, lambda m: m.get("event") == "trading_state_changed")
        assert halted["stream"] == "risk:global"
        assert (halted["data"]["scope"], halted["data"]["to"]) == ("global", "halted")

        url = f"/v1/accounts/{user.account_id}/orders"
        r = await asyncio.to_thread(http.post, url, json=ORDER, headers=user.headers)
        problem = assert_problem(r, 422, "trading-halted")
        denied, _ = await recv_until(ws, lambda m: m.get("event") == "order_denied")
        assert denied["stream"] == f"risk:{user.account_id}"
        assert denied["data"]["order_id"] == problem["order_id"]
        assert denied["data"]["code"] == "trading_halted"
        await admin.call("set_state", "global", "active", "all clear", "user:ops")
        await ws.close()
