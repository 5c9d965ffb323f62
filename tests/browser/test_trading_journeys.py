"""Fund the paper account; the account pages; the order ticket (every type and time in
force); open orders replaced and cancelled; the risk state and the kill switch."""

from __future__ import annotations

import re
from decimal import Decimal

import httpx
from playwright.sync_api import Page, expect

from domain.ids import ExecutionId
from domain.money import Price, Quantity
from domain.orders import OrderEvent, OrderEventKind
from tests.browser.conftest import Console
from tests.browser.journeys import api_user, log_in, notice
from tests.browser.platform import Platform

#: every type with a time in force the server accepts for it, together covering every
#: time in force (``opg`` and ``cls`` on the platform's clock, before the open)
TICKETS = [
    ("limit", "day", {"limit_price": "100"}),
    ("limit", "gtc", {"limit_price": "100"}),
    ("limit", "ioc", {"limit_price": "100"}),
    ("limit", "fok", {"limit_price": "100"}),
    ("limit", "cls", {"limit_price": "100"}),
    ("limit", "opg", {"limit_price": "100"}),
    ("market", "day", {}),
    ("market", "opg", {}),
    ("stop", "gtc", {"stop_price": "120"}),
    ("stop_limit", "day", {"limit_price": "121", "stop_price": "120"}),
    ("trailing_stop", "day", {"trail_percent": "2"}),
    ("trailing_stop", "gtc", {"trail_price": "1.5"}),
]


def fund(page: Page, amount: str) -> None:
    page.fill("#fund [name=amount]", amount)
    page.click("#fund button[type=submit]")
    notice(page, f"Funded {amount} USD")


def test_fund_when_amount_given_then_cash_positions_activities_and_history_shown(
    console: Console, platform: Platform
) -> None:
    page = log_in(console, api_user(console.base, "fund"))
    page.fill("#fund [name=amount]", "12.345")  # the server allows cents only
    page.click("#fund button[type=submit]")
    expect(page.locator("[data-error-for=amount]")).to_contain_text("cents at most")
    fund(page, "10000.00")
    expect(page.locator(".summary td[data-col=cash]")).to_have_text("10000.00")
    expect(page.locator("td[data-col=activity_type]").first).to_have_text("funding")
    # a limit order the broker acknowledges and fills: a position and a fill activity
    page.click("#nav a[href='#/orders']")
    _ticket(page, "limit", "day", {"limit_price": "100"})
    (order_id,) = _open_orders(console, page, "limit")
    _fill(platform, order_id, qty="1", price="100")
    fund(page_at_account(page), "2500.00")
    expect(page.locator(".summary td[data-col=cash]")).to_have_text("12400.00")
    expect(page.locator("td[data-col=symbol]")).to_have_text("AAPL")
    expect(page.locator("td[data-col=activity_type]", has_text="fill")).to_have_count(1)
    expect(page.locator("svg.chart polyline")).to_be_visible()
    console.shots("account")


def page_at_account(page: Page) -> Page:
    page.click("#nav a[href='#/account']")
    expect(page.locator("h2", has_text="Paper account")).to_be_visible()
    return page


def _fill(platform: Platform, order_id: str, *, qty: str, price: str) -> None:
    orders = platform.services.orders
    now = orders.clock.now()
    orders.apply_events(
        order_id,
        [
            OrderEvent(OrderEventKind.ACKNOWLEDGE, now),
            OrderEvent(
                OrderEventKind.FILL,
                now,
                execution_id=ExecutionId(f"{order_id}-1"),
                qty=Quantity(Decimal(qty)),
                price=Price(Decimal(price)),
            ),
        ],
    )


def _ticket(page: Page, kind: str, tif: str, prices: dict[str, str]) -> None:
    form = page.locator("#ticket")
    form.locator("[name=type]").select_option(kind)
    form.locator("[name=time_in_force]").select_option(tif)
    for name in ("limit_price", "stop_price", "trail_price", "trail_percent"):
        form.locator(f"[name={name}]").fill(prices.get(name, ""))
    form.locator("button[type=submit]").click()
    notice(page, f"buy 1 AAPL {kind} {tif}")


def test_order_ticket_when_each_type_and_tif_then_open_orders_replace_and_cancel(
    console: Console, platform: Platform
) -> None:
    platform.push_quote("AAPL", "99.90", "100.10")  # market orders reserve at the ask
    page = log_in(console, api_user(console.base, "ticket"))
    fund(page, "100000.00")
    page.click("#nav a[href='#/orders']")
    form = page.locator("#ticket")
    # the server's rule in the browser: no request for a stop order good for ioc
    form.locator("[name=type]").select_option("stop")
    form.locator("[name=time_in_force]").select_option("ioc")
    form.locator("[name=stop_price]").fill("120")
    form.locator("button[type=submit]").click()
    expect(form.locator("[data-error-for=time_in_force]")).to_contain_text("only for market")
    for kind, tif, prices in TICKETS:
        _ticket(page, kind, tif, prices)
    rows = page.locator("section:has(h2:text('Open orders')) tbody tr")
    expect(rows).to_have_count(len(TICKETS))
    console.shots("ticket")
    # the broker acknowledges one limit order; its event reaches the page by socket
    first = _open_orders(console, page, "limit")[0]
    orders = platform.services.orders
    orders.apply_events(first, [OrderEvent(OrderEventKind.ACKNOWLEDGE, orders.clock.now())])
    row = rows.filter(has=page.locator("td[data-col=status]", has_text=re.compile("^new$"))).first
    expect(row).to_be_visible()
    row.locator("[name=new_qty]").fill("3")
    row.locator("button.replace").click()
    notice(page, "Replaced AAPL with qty 3")
    rows.first.locator("button.cancel").click()
    notice(page, "Cancel requested for AAPL")
    console.shots("open-orders")


def _open_orders(console: Console, page: Page, kind: str) -> list[str]:
    """Ids of the page user's open orders of ``kind``, oldest first (over the API)."""
    token = page.evaluate("JSON.parse(sessionStorage.getItem('elson.tokens')).access_token")
    auth = {"authorization": f"Bearer {token}"}
    with httpx.Client(base_url=console.base, headers=auth, timeout=10) as c:
        account = c.get("/v1/accounts").json()[0]["id"]
        found = c.get(f"/v1/accounts/{account}/orders", params={"status": "open"}).json()
    return [
        o["id"] for o in sorted(found["orders"], key=lambda o: o["created_at"]) if o["type"] == kind
    ]


def test_kill_switch_when_pressed_then_account_halted_and_state_shown(console: Console) -> None:
    page = log_in(console, api_user(console.base, "risk"))
    page.click("#nav a[href='#/risk']")
    expect(page.locator(".risk-state")).to_contain_text('"states"')
    page.click("#kill")
    notice(page, "Kill switch engaged")
    expect(page.locator(".risk-state")).to_contain_text("halted")
    console.shots("risk")
