"""The live quote board over the gateway, across a gateway restart: the page reconnects
(jittered backoff), resubscribes, resumes its account stream from the last seq it holds
and shows the ticks it missed as a gap, all without a reload."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
from playwright.sync_api import Page, expect

from domain.orders import OrderEvent, OrderEventKind
from tests.browser.conftest import Console
from tests.browser.journeys import PASSWORD, api_user, log_in
from tests.browser.platform import Platform


def wait_for(page: Page, done: Callable[[], bool], what: str, within_s: float = 10.0) -> None:
    """Until a server-side condition holds (the page's socket reached the gateway)."""
    deadline = time.monotonic() + within_s
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        page.wait_for_timeout(25)


SEQ_ABOVE = "n => [...window.elson.gateway.seqs].some(([s, v]) => s.startsWith('orders:') && v > n)"


def orders_seq(page: Page) -> int:
    return int(
        page.evaluate(
            "[...window.elson.gateway.seqs].filter(([s]) => s.startsWith('orders:'))"
            ".map(([, n]) => n)[0] ?? -1"
        )
    )


def test_quote_board_when_gateway_restarts_then_reconnects_resumes_and_shows_gap(
    console: Console, platform: Platform
) -> None:
    console.allow_console(r"WebSocket connection to '.*/ws' failed")  # while it is down
    email = api_user(console.base, "quotes")
    page = log_in(console, email)
    page.click("#nav a[href='#/quotes']")
    page.click("#watch button")
    wait_for(page, lambda: "AAPL" in platform.feed.symbols, "the AAPL subscription")
    expect(page.locator("#ws-state")).to_have_text("live")
    platform.push_quote("AAPL", "99.00", "99.10")
    row = page.locator("#board tr[data-symbol=AAPL]")
    expect(row.locator(".bid")).to_have_text("99.00")
    platform.push_quote("AAPL", "99.01", "99.11")
    expect(row.locator(".updates")).to_have_text("2")
    assert orders_seq(page) >= 0, "the orders stream's position came with subscribed"
    order_id = _submit_limit_order(console.base, email)
    page.wait_for_function(SEQ_ABOVE, arg=orders_seq(page))  # its events, live
    seq_before = orders_seq(page)
    page.evaluate("window.__loadedOnce = true")  # gone if the page reloads
    console.shots("live")

    platform.stop()  # drains: 1012 with a reconnect window to the page
    expect(page.locator("#ws-state")).not_to_have_text("live")
    # the broker acknowledges the order while the gateway is down: the event waits
    orders = platform.services.orders
    orders.apply_events(order_id, [OrderEvent(OrderEventKind.ACKNOWLEDGE, orders.clock.now())])
    platform.restart_gateway(skip_ticks=3, stopped=True)

    wait_for(page, lambda: "AAPL" in platform.feed.symbols, "the resubscription")
    expect(page.locator("#ws-state")).to_have_text("live")
    platform.push_quote("AAPL", "101.00", "101.10")
    expect(row.locator(".bid")).to_have_text("101.00")
    expect(row.locator(".updates")).to_have_text("3")
    expect(row.locator(".gap")).to_have_text("1")  # ticks 3..5 never reached the page
    page.wait_for_function(SEQ_ABOVE, arg=seq_before)  # resumed from the seq it held
    assert page.evaluate("window.__loadedOnce") is True
    assert page.evaluate("window.elson.gateway.connects") == 2  # the first and one more
    console.shots("after-restart")


def _submit_limit_order(base: str, email: str) -> str:
    with httpx.Client(base_url=base, timeout=10) as c:
        token = c.post("/v1/auth/login", json={"email": email, "password": PASSWORD}).json()
        c.headers["authorization"] = f"Bearer {token['access_token']}"
        account = c.get("/v1/accounts").json()[0]["id"]
        assert c.post(f"/v1/accounts/{account}/fund", json={"amount": "1000.00"}).is_success
        r = c.post(
            f"/v1/accounts/{account}/orders",
            json={
                "symbol": "AAPL",
                "side": "buy",
                "type": "limit",
                "time_in_force": "day",
                "qty": "1",
                "limit_price": "90",
            },
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])
