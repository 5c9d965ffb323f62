"""Submission: stored before any broker, idempotent retries, risk denials stored."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import text

from cluster.db import Database
from cluster.orders.service import OrderService
from domain.clock import FakeClock
from domain.errors import Conflict, IdempotencyMismatch, NotFound
from domain.orders import OrderStatus
from tests.integration.orders.conftest import SATURDAY, FakeQuotes, Recorder
from tests.integration.orders.helpers import limit_buy, market


def _events(service: OrderService, order_id: str) -> list[tuple[str, str | None, str]]:
    with service.db.session() as s:
        rows = s.execute(
            text(
                "SELECT kind, from_status, to_status FROM order_events "
                "WHERE order_id = :id ORDER BY id"
            ),
            {"id": order_id},
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_submit_when_cash_covers_then_pending_new_stored_and_published(
    service: OrderService, account: str, published: Recorder
) -> None:
    service.fund(account, Decimal("1000.00"))
    result = service.submit(account, limit_buy(client_order_id="c-1"))
    assert result.created
    assert result.order.status is OrderStatus.PENDING_NEW
    stored = service.get(account, result.order.id)
    assert stored == result.order
    assert service.get_by_client_id(account, "c-1").id == result.order.id
    assert _events(service, result.order.id) == [("created", None, "pending_new")]
    stream, event, data = published.calls[-1]
    assert (stream, event) == (f"orders:{account}", "pending_new")
    assert data["order"]["client_order_id"] == "c-1" and data["order"]["qty"] == "1"


def test_submit_same_client_order_id_and_content_returns_original(
    service: OrderService, account: str
) -> None:
    service.fund(account, Decimal("1000.00"))
    first = service.submit(account, limit_buy(client_order_id="dup"))
    again = service.submit(account, limit_buy(qty="1.0", client_order_id="dup"))
    assert not again.created
    assert again.order.id == first.order.id


def test_submit_same_client_order_id_different_content_conflicts(
    service: OrderService, account: str
) -> None:
    service.fund(account, Decimal("1000.00"))
    service.submit(account, limit_buy(client_order_id="dup"))
    with pytest.raises(Conflict):
        service.submit(account, limit_buy(qty="2", client_order_id="dup"))


def test_submit_same_idempotency_key_different_content_raises_mismatch(
    service: OrderService, account: str
) -> None:
    service.fund(account, Decimal("1000.00"))
    first = service.submit(account, limit_buy(), idempotency_key="k1")
    assert service.submit(account, limit_buy(), idempotency_key="k1").order.id == first.order.id
    with pytest.raises(IdempotencyMismatch):
        service.submit(account, limit_buy(qty="3"), idempotency_key="k1")


def test_submit_when_insufficient_buying_power_then_stored_rejected_with_reason(
    service: OrderService, account: str, published: Recorder
) -> None:
    service.fund(account, Decimal("500.00"))
    result = service.submit(account, limit_buy(qty="10", price="101.00"))
    assert result.created
    assert result.order.status is OrderStatus.REJECTED
    assert result.order.reject_reason == ("needs 1010.00, available 500.00")
    assert service.get(account, result.order.id).status is OrderStatus.REJECTED
    assert _events(service, result.order.id) == [
        ("created", None, "pending_new"),
        ("reject", "pending_new", "rejected"),
    ]
    assert published.events()[-2:] == ["rejected", "order_denied"]


def test_submit_reserves_open_buys_against_later_ones(service: OrderService, account: str) -> None:
    service.fund(account, Decimal("250.00"))
    assert service.submit(account, limit_buy(price="100.00")).order.status == "pending_new"
    assert service.submit(account, limit_buy(price="100.00")).order.status == "pending_new"
    third = service.submit(account, limit_buy(price="100.00")).order
    assert third.reject_code == "insufficient_buying_power"
    assert third.reject_reason == "needs 100.00, available 50.00"
    assert service.buying_power(account) == Decimal("50.00")


def test_submit_market_buy_uses_ask_plus_buffer(
    service: OrderService, account: str, quotes: FakeQuotes
) -> None:
    service.fund(account, Decimal("1000.00"))
    quotes.set("AAPL", "99.00", "100.00")
    ok = service.submit(account, market("buy", qty="9")).order
    assert ok.status is OrderStatus.PENDING_NEW  # 9 x 100 x 1.005 = 904.50
    denied = service.submit(account, market("buy", qty="1")).order
    assert denied.reject_code == "insufficient_buying_power"
    assert denied.reject_reason == "needs 100.50, available 95.50"


def test_submit_market_buy_without_quote_then_rejected(
    service: OrderService, account: str, quotes: FakeQuotes
) -> None:
    service.fund(account, Decimal("1000.00"))
    order = service.submit(account, market("buy")).order
    assert order.status is OrderStatus.REJECTED
    assert order.reject_code == "price_unavailable" and order.reject_reason
    quotes.fail = True  # a provider outage reads as no quote: fail closed
    assert service.submit(account, market("buy")).order.status is OrderStatus.REJECTED


def test_submit_sell_without_position_then_rejected_no_shorting(
    service: OrderService, account: str, quotes: FakeQuotes
) -> None:
    quotes.set("AAPL", "99.00", "100.00")
    order = service.submit(account, market("sell", qty="5")).order
    assert order.status is OrderStatus.REJECTED
    assert order.reject_reason == ("sells 5 AAPL, sellable 0 (no short selling in paper)")


def test_submit_opg_during_refusal_window_then_rejected(
    service: OrderService, account: str
) -> None:
    service.fund(account, Decimal("1000.00"))
    order = service.submit(account, limit_buy(time_in_force="opg")).order  # 10:00 New York
    assert order.status is OrderStatus.REJECTED
    assert order.reject_reason is not None
    assert order.reject_code == "order_window_closed"
    cls = service.submit(account, limit_buy(time_in_force="cls")).order
    assert cls.status is OrderStatus.PENDING_NEW


def test_submit_when_market_closed_then_still_pending_new(
    service: OrderService, account: str, clock: FakeClock
) -> None:
    clock.set(SATURDAY)
    service.fund(account, Decimal("1000.00"))
    assert service.submit(account, limit_buy()).order.status is OrderStatus.PENDING_NEW


def test_submit_when_account_restricted_then_rejected(service: OrderService, new_account) -> None:
    restricted = new_account(status="restricted")
    service.fund(restricted, Decimal("1000.00"))
    order = service.submit(restricted, limit_buy()).order
    assert order.reject_code == "account_inactive"
    assert order.reject_reason == "the account is restricted"


def test_submit_unknown_account_raises_not_found(service: OrderService) -> None:
    with pytest.raises(NotFound):
        service.submit("00000000-0000-0000-0000-00000000dead", limit_buy())  # type: ignore[arg-type]


def test_submit_writes_its_event_and_outbox_row_in_its_own_transaction(
    service: OrderService, account: str, published: Recorder, orders_db: Database
) -> None:
    service.fund(account, Decimal("1000.00"))
    result = service.submit(account, limit_buy(client_order_id="pub-tx"))
    assert result.created
    assert published.calls[-1][:2] == (f"orders:{account}", "pending_new")
    with orders_db.session() as s:
        action = s.execute(
            text("SELECT action FROM broker_outbox WHERE order_id = :o AND sent_at IS NULL"),
            {"o": result.order.id},
        ).scalar_one()
    assert action == "submit"
