"""The web console as Serve serves it: ``/console`` of the API application, its socket on
the gateway application's ``/ws``, both behind Serve's proxy (HAProxy) on one origin.

The browser tests (``tests/browser``) drive every journey against the same apps in one
uvicorn; this one walks the main journey through the real deployment (``serve_app``):
register in the page, fund, watch live quotes that the simulated provider feeds through
the feed shards and the gateway replicas, and put a limit order on the ticket that the
paper broker takes. A wrong gateway route, a proxy that drops WebSocket upgrades or a
console the replicas cannot find fails it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.kit.browser import build_console, console_page, launch

pytestmark = [pytest.mark.ray, pytest.mark.slow]

PASSWORD = "console through serve 1"
SYMBOL = "AAPL"  # one of the deployment's simulated symbols (serve_settings.feed_symbols)
#: the first quotes may wait for a feed shard to pick the new subscription up
LIVE_WITHIN_MS = 30_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Module-scoped, never wider: Playwright's sync API keeps an event loop running in
    the main thread until it stops, and the async tests of this package would fail."""
    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


def test_console_through_serve_registers_watches_live_quotes_and_places_a_limit_order(
    serve_app: str, browser: Browser, request: pytest.FixtureRequest
) -> None:
    build_console()  # fresh from the sources; the replicas serve the directory as it is now
    shell = httpx.get(f"{serve_app}/console/", timeout=10)
    assert shell.status_code == 200, (
        f"/console/ through Serve: {shell.status_code} {shell.text[:200]} (the API replicas "
        "mount serve/console/dist when they start: build it before the Serve app)"
    )
    with console_page(browser, serve_app, request.node.name.removeprefix("test_")) as console:
        page = console.open("register")
        form = page.locator("#register")
        form.locator("[name=email]").fill(f"serve-console-{uuid.uuid4().hex[:10]}@example.com")
        form.locator("[name=password]").fill(PASSWORD)
        form.locator("[name=account_type]").select_option("individual")
        form.locator("[name='profile.legal_name']").fill("Ada Owner")
        form.locator("[name='profile.date_of_birth']").fill("1985-06-01")
        form.locator("button[type=submit]").click()
        expect(page.locator("h2", has_text="Paper account")).to_be_visible()
        _notice(page, "Registered a individual account")
        page.fill("#fund [name=amount]", "100000.00")
        page.click("#fund button[type=submit]")
        _notice(page, "Funded 100000.00 USD")

        ask = _live_quotes(page)
        console.shots("quotes")

        page.click("#nav a[href='#/orders']")
        limit = str((ask / 2).quantize(Decimal("0.01")))  # far below: rests with the broker
        ticket = page.locator("#ticket")
        ticket.locator("[name=symbol]").fill(SYMBOL)
        ticket.locator("[name=type]").select_option("limit")
        ticket.locator("[name=time_in_force]").select_option("day")
        ticket.locator("[name=limit_price]").fill(limit)
        ticket.locator("button[type=submit]").click()
        _notice(page, f"buy 1 {SYMBOL} limit day")
        row = page.locator("section:has(h2:text('Open orders')) tbody tr")
        expect(row).to_have_count(1)
        expect(row.locator("td[data-col=symbol]")).to_have_text(SYMBOL)
        expect(row.locator("td[data-col=type]")).to_have_text("limit")
        assert Decimal(row.locator("td[data-col=limit_price]").inner_text()) == Decimal(limit)
        # the paper broker's acknowledgement reaches the page over the gateway
        expect(row.locator("td[data-col=status]")).to_have_text("new", timeout=LIVE_WITHIN_MS)
        console.shots("open-orders")


def _live_quotes(page: Page) -> Decimal:
    """Watch ``SYMBOL`` on the board until its row has changed twice; returns the ask."""
    page.click("#nav a[href='#/quotes']")
    page.fill("#watch [name=symbols]", SYMBOL)
    page.click("#watch button")
    expect(page.locator("#ws-state")).to_have_text("live", timeout=LIVE_WITHIN_MS)
    row = page.locator(f"#board tr[data-symbol={SYMBOL}]")
    price = re.compile(r"^\d+(\.\d+)?$")
    expect(row.locator(".ask")).to_have_text(price, timeout=LIVE_WITHIN_MS)
    first = int(row.locator(".seq").inner_text())
    expect(row.locator(".updates")).not_to_have_text(re.compile(r"^[01]$"), timeout=10_000)
    expect(row.locator(".seq")).not_to_have_text(str(first))  # a newer quote, rendered
    assert int(row.locator(".seq").inner_text()) > first
    expect(row.locator(".bid")).to_have_text(price)
    # the feed numbers a symbol's trades and bars in the quotes' sequence: no false gap
    expect(row.locator("td").last).to_have_text("0")
    return Decimal(row.locator(".ask").inner_text())


def _notice(page: Page, text: str) -> None:
    expect(page.locator("#notices .notice", has_text=text).first).to_be_visible()
