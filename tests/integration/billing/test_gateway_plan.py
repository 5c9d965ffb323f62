"""The gateway's symbol subscriptions follow the plan: over ``max_ws_symbols`` the socket
closes 4403 ``plan-limit``; after PayPal activates premium the same subscribe is taken."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from domain.billing.plans import DEFAULT_PLANS, FREE
from serve.gateway import GatewayDeps, limits_from
from serve.services import Services
from tests.integration.billing.conftest import Deliverer, start_subscription
from tests.kit.paypal_api import FakePayPal
from tests.kit.users import ApiUser
from tests.kit.ws import (
    FakeFeed,
    authenticate,
    close_code,
    connect,
    gateway_server,
    recv_until,
    send,
)


def _deps(services: Services) -> GatewayDeps:
    auth = services.auth
    return GatewayDeps(
        limits=limits_from(services.settings),
        bus=None,
        verify_access=auth.verify_access,
        is_session_active=auth.is_session_active,
        may_read_account=lambda p, acct: False,
        feed_factory=FakeFeed,
        entitlements=services.entitlements,
    )


def _subscribe(n: int) -> dict[str, object]:
    symbols = [f"S{i:03d}" for i in range(n)]
    return {"type": "subscribe", "channels": [{"channel": "market.quotes", "symbols": symbols}]}


async def test_symbols_over_the_plan_close_4403_until_premium_is_active(
    client: httpx.Client,
    quant: ApiUser,
    deliver: Deliverer,
    paypal: tuple[FakePayPal, str],
    billing_services: Services,
) -> None:
    over = DEFAULT_PLANS[FREE].max_ws_symbols + 1
    with gateway_server(_deps(billing_services)) as gw:
        ws = await connect(gw.ws_url)
        await authenticate(ws, quant.access)
        await send(ws, _subscribe(over))
        code, seen = await close_code(ws)
        assert code == 4403 and seen[-1]["code"] == "plan-limit", seen
        assert "max_ws_symbols" in seen[-1]["detail"] and "premium" in seen[-1]["detail"]

        sid = start_subscription(client, quant)
        paypal[0].set_status(sid, "ACTIVE")
        r = deliver.deliver("BILLING.SUBSCRIPTION.ACTIVATED", sid, datetime.now(UTC))
        assert r.json() == {"outcome": "applied"}, r.text

        ws = await connect(gw.ws_url)
        await authenticate(ws, quant.access)
        await send(ws, _subscribe(over))
        got, _ = await recv_until(ws, lambda m: m["type"] in ("subscribed", "error"))
        assert got["type"] == "subscribed", got
        await ws.close()
