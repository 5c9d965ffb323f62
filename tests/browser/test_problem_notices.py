"""Notifications by problem type, through the UI and the one notifications area
(``#notices``): a risk denial names its reason code, a plan limit names the limit and the
plan that lifts it, a dependency that is down says so and the page keeps working; and the
socket's reconnect waits grow and are jittered (validation and session expiry have their
journeys in test_auth_journeys and test_session_journeys)."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, WebSocketRoute, expect

from domain.billing.plans import FREE
from domain.errors import TransientError
from tests.browser.conftest import Console
from tests.browser.journeys import api_user, log_in, notice
from tests.browser.platform import Platform
from tests.browser.test_quote_board import wait_for
from tests.browser.test_trading_journeys import fund


def _notice(page: Page, kind: str) -> Any:
    return page.locator(f"#notices .notice[data-kind='{kind}']")


def test_order_when_account_halted_then_notice_names_the_denials_code_and_message(
    console: Console,
) -> None:
    console.expect_status(422, "/orders")  # the denial, on purpose
    page = log_in(console, api_user(console.base, "denied"))
    fund(page, "10000.00")
    page.click("#nav a[href='#/risk']")
    page.click("#kill")
    notice(page, "Kill switch engaged")
    expect(page.locator(".risk-state")).to_contain_text("halted")
    page.click("#nav a[href='#/orders']")
    form = page.locator("#ticket")
    form.locator("[name=type]").select_option("limit")
    form.locator("[name=limit_price]").fill("100")
    submitted = page.expect_response(
        lambda r: r.url.endswith("/orders") and r.request.method == "POST"
    )
    with submitted as r:
        form.locator("button[type=submit]").click()
    answer = r.value
    body = answer.json()
    assert answer.status == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert body["type"] == "/problems/trading-halted"
    assert body["reason"] == "trading_halted" and body["order_id"]
    shown = _notice(page, "risk-denied")
    expect(shown).to_have_count(1)
    expect(shown.locator("span")).to_have_text(f"Risk denied (trading_halted): {body['detail']}")
    assert "halted" in body["detail"]
    console.shots("risk-denied")


@pytest.fixture
def frames(console: Console) -> Iterator[list[dict[str, Any]]]:
    """Every message the page's sockets receive (installed before the first socket)."""
    seen: list[dict[str, Any]] = []

    def on_socket(ws: Any) -> None:
        ws.on("framereceived", lambda payload: seen.append(json.loads(payload)))

    console.page.on("websocket", on_socket)
    yield seen


def test_quote_board_when_over_the_plans_symbols_then_plan_notice_and_the_rest_kept(
    console: Console, platform: Platform, frames: list[dict[str, Any]]
) -> None:
    allowed = platform.services.entitlements.plans[FREE].max_ws_symbols
    symbols = [f"N{a}{b}" for a in "ABCDEFGHIJ" for b in "ABCDEFGHIJ"][: allowed + 1]
    page = log_in(console, api_user(console.base, "plan"))
    page.click("#nav a[href='#/quotes']")
    expect(page.locator("#ws-state")).to_have_text("live")
    page.fill("#watch [name=symbols]", ",".join(symbols))
    page.click("#watch button")
    detail = (
        f"max_ws_symbols is {allowed} on the free plan, {allowed + 1} asked; "
        "the premium plan allows it"
    )
    shown = _notice(page, "plan-limit")
    expect(shown).to_have_count(1)
    expect(shown.locator("span")).to_have_text(f"Gateway: {detail}")
    errors = [f for f in frames if f.get("type") == "error"]
    assert [(e["code"], e["detail"], e["close_code"]) for e in errors] == [
        ("plan-limit", detail, 4403)
    ], errors
    console.shots("plan-limit")
    # the page drops the refused subscription only: it reconnects once with the others
    # (its orders stream), and does not loop on the same refusal
    page.wait_for_function("window.elson.gateway.connects === 2")
    expect(page.locator("#ws-state")).to_have_text("live")
    page.wait_for_timeout(1500)  # a loop would reconnect within 250 ms, again and again
    assert page.evaluate("window.elson.gateway.connects") == 2
    assert page.evaluate(
        "[...window.elson.gateway.seqs.keys()].some((s) => s.startsWith('orders:'))"
    )
    page.fill("#watch [name=symbols]", "NTCQ")
    page.click("#watch button")
    wait_for(page, lambda: "NTCQ" in platform.feed.symbols, "the NTCQ subscription")
    platform.push_quote("NTCQ", "10.00", "10.10")
    expect(page.locator("#board tr[data-symbol=NTCQ] .bid")).to_have_text("10.00")
    assert [f for f in frames if f.get("type") == "error"] == errors


def test_fund_when_the_ledger_is_down_then_dependency_notice_and_the_page_still_works(
    console: Console, platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    console.expect_status(503, "/fund")  # the one failed request, on purpose
    page = log_in(console, api_user(console.base, "down"))
    orders = platform.services.orders
    real = orders.fund_paper
    calls: list[object] = []

    def down_once(*args: Any, **kwargs: Any) -> Any:
        """As the database adapter translates a lost connection: once, then back."""
        calls.append(args)
        if len(calls) == 1:
            raise TransientError("ledger database unavailable")
        return real(*args, **kwargs)

    monkeypatch.setattr(orders, "fund_paper", down_once)  # restored after the test
    page.fill("#fund [name=amount]", "250.00")
    with page.expect_response(lambda r: r.url.endswith("/fund")) as r:
        page.click("#fund button[type=submit]")
    assert r.value.status == 503
    assert r.value.json()["type"] == "/problems/dependency-unavailable"
    assert r.value.headers["retry-after"] == "1"
    shown = _notice(page, "dependency-unavailable")
    expect(shown).to_have_count(1)
    expect(shown.locator("span")).to_have_text(
        "Dependency unavailable: ledger database unavailable. Try again shortly."
    )
    console.shots("dependency-down")
    shown.locator("button[aria-label=dismiss]").click()
    expect(shown).to_have_count(0)
    fund(page, "250.00")  # the same page, the same form: it works again
    expect(page.locator(".summary td[data-col=cash]")).to_have_text("250.00")
    assert len(calls) == 2


FAILURES = 4  # forced failed reconnects after the drop: waits for attempts 0..4


def test_socket_when_reconnects_fail_then_waits_grow_jittered_until_live(
    console: Console,
) -> None:
    page = console.page
    sockets: list[tuple[WebSocketRoute, Any]] = []
    opened: list[float] = []  # when each routed socket reached the route (test's clock)

    def route(ws: WebSocketRoute) -> None:
        opened.append(time.monotonic())
        if sockets and len(opened) <= 1 + FAILURES:
            ws.close(code=1011, reason="forced failure")  # never reaches the gateway
            return
        sockets.append((ws, ws.connect_to_server()))

    page.route_web_socket("**/ws", route)
    log_in(console, api_user(console.base, "jitter"))
    expect(page.locator("#ws-state")).to_have_text("live")
    page.wait_for_function("window.elson.gateway.connects === 1")
    live, server = sockets[0]
    dropped = time.monotonic()
    live.close(code=4000, reason="forced drop")
    server.close()
    page.wait_for_function("window.elson.gateway.connects === 2", timeout=30_000)
    expect(page.locator("#ws-state")).to_have_text("live")
    waits = page.evaluate("window.elson.gateway.waits")
    assert len(waits) == 1 + FAILURES, waits
    # the windows double from 250 ms; each delay is drawn inside its window, all differ
    assert [w["window"] for w in waits] == [250 * 2**i for i in range(1 + FAILURES)]
    delays = [w["delay"] for w in waits]
    assert all(0 <= w["delay"] < w["window"] for w in waits), waits
    assert len(set(delays)) == len(delays), delays
    # and the page waited that long before each attempt (slack: events reach the test late)
    starts = [dropped, *opened[1:]]
    gaps = [(b - a) * 1000 for a, b in itertools.pairwise(starts)]
    assert len(gaps) == len(delays)
    assert all(g >= d - 150 for g, d in zip(gaps, delays, strict=True)), (gaps, delays)
    # the rule itself, sampled: mean delays grow with the attempt up to the cap, they
    # spread over the window, and a server's retry_after_s widens it
    samples = page.evaluate(
        """() => [0, 1, 2, 3, 4, 5].map((a) => Array.from({ length: 400 },
             () => window.elson.backoff(a, "")))"""
    )
    means = [sum(s["delay"] for s in row) / len(row) for row in samples]
    assert means == sorted(means) and means[-1] > 10 * means[0], means
    for attempt, row in enumerate(samples):
        window = min(8000, 250 * 2**attempt)
        values = [s["delay"] for s in row]
        assert {s["window"] for s in row} == {window}
        assert min(values) >= 0 and max(values) < window
        assert max(values) - min(values) > window / 2, (attempt, min(values), max(values))
        assert len(set(values)) > 390
    hinted = page.evaluate("window.elson.backoff(0, 'draining; retry_after_s=30')")
    assert hinted["window"] == 30_000
    console.shots("reconnected")
