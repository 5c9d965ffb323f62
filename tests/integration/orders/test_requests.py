"""Client requests on stored orders, reads with cursors, funding and reset."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text

from cluster.orders.service import OrderService
from domain.clock import FakeClock
from domain.errors import Conflict, IllegalTransition, NotFound, RiskDenied, ValidationFailed
from domain.ids import ExecutionId
from domain.money import Price, Quantity
from domain.order_request import ReplaceRequest
from domain.orders import OrderEvent, OrderEventKind, OrderStatus
from tests.integration.orders.conftest import Recorder
from tests.integration.orders.helpers import limit_buy

K = OrderEventKind


def _working(service: OrderService, account: str, clock: FakeClock, **kw: str) -> str:
    order = service.submit(account, limit_buy(**kw)).order
    service.apply_events(order.id, [OrderEvent(K.ACKNOWLEDGE, at=clock.now())])
    return order.id


def test_get_another_accounts_order_raises_not_found(
    service: OrderService, account: str, new_account: Callable[..., str], clock: FakeClock
) -> None:
    service.fund(account, Decimal("1000.00"))
    order_id = _working(service, account, clock)
    other = new_account()
    with pytest.raises(NotFound):
        service.get(other, order_id)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        service.request_cancel(other, order_id)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        service.get(account, "6b1f7f7e-0000-4000-8000-000000000000")  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        service.get(account, "not-a-uuid")  # type: ignore[arg-type]


def test_cancel_working_order_then_pending_cancel_and_repeat_is_idempotent(
    service: OrderService, account: str, clock: FakeClock, published: Recorder
) -> None:
    service.fund(account, Decimal("1000.00"))
    order_id = _working(service, account, clock)
    first = service.request_cancel(account, order_id)  # type: ignore[arg-type]
    assert first.status is OrderStatus.PENDING_CANCEL
    assert published.events()[-1] == "pending_cancel"
    assert service.request_cancel(account, order_id).status is OrderStatus.PENDING_CANCEL  # type: ignore[arg-type]
    done = service.apply_events(first.id, [OrderEvent(K.CANCELED, at=clock.now())])
    assert done.status is OrderStatus.CANCELED
    with pytest.raises(IllegalTransition):
        service.request_cancel(account, order_id)  # type: ignore[arg-type]


def test_replace_stores_new_order_linked_both_ways(
    service: OrderService, account: str, clock: FakeClock
) -> None:
    service.fund(account, Decimal("1100.00"))
    old_id = _working(service, account, clock, qty="5", price="100.00")
    old = service.get(account, old_id)  # type: ignore[arg-type]
    request = ReplaceRequest.parse(old, limit_price="101.00", client_order_id="r-2")
    old, new = service.request_replace(account, old_id, request)  # type: ignore[arg-type]
    assert old.status is OrderStatus.PENDING_REPLACE and old.replaced_by == new.id
    assert new.status is OrderStatus.PENDING_NEW and new.replaces == old.id
    assert service.get(account, new.id).limit_price == Price(Decimal("101.00"))
    assert service.get(account, old.id).replaced_by == new.id
    # Until the replace is confirmed the old 5 x 100 can still fill, and the replacement's
    # 5 x 101 works afterwards: both stay reserved.
    assert service.buying_power(account) == Decimal("1100.00") - Decimal("1005.00")
    assert service.check_invariants(account) == []
    done = service.apply_events(
        old.id, [OrderEvent(K.REPLACED, at=clock.now(), replaced_by=new.id)]
    )
    assert done.status is OrderStatus.REPLACED
    assert service.buying_power(account) == Decimal("1100.00") - Decimal("505.00")
    assert service.check_invariants(account) == []


def test_replace_beyond_buying_power_raises_and_changes_nothing(
    service: OrderService, account: str, clock: FakeClock
) -> None:
    service.fund(account, Decimal("600.00"))
    old_id = _working(service, account, clock, qty="5", price="100.00")
    old = service.get(account, old_id)  # type: ignore[arg-type]
    with pytest.raises(RiskDenied) as denied:
        service.request_replace(account, old_id, ReplaceRequest.parse(old, qty="7"))  # type: ignore[arg-type]
    assert denied.value.reason_code == "insufficient_buying_power"
    assert service.get(account, old_id).status is OrderStatus.NEW  # type: ignore[arg-type]
    orders, _ = service.list_orders(account, status="all")
    assert len(orders) == 1


def test_list_orders_cursor_pages_are_stable_and_complete(
    service: OrderService, account: str, clock: FakeClock
) -> None:
    service.fund(account, Decimal("10000.00"))
    ids = []
    for i in range(7):
        clock.advance(timedelta(seconds=1 if i != 3 else 0))  # two share a created_at
        ids.append(service.submit(account, limit_buy(client_order_id=f"p-{i}")).order.id)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page, cursor = service.list_orders(account, status="open", limit=3, cursor=cursor)
        seen += [o.id for o in page]
        pages += 1
        if cursor is None:
            break
    assert pages == 3
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))
    created = [service.get(account, i).created_at for i in seen]  # type: ignore[arg-type]
    assert created == sorted(created, reverse=True)
    asc, _ = service.list_orders(account, limit=50, direction="asc")
    assert [o.id for o in asc] == list(reversed(seen))
    assert service.list_orders(account, status="closed")[0] == []
    assert len(service.list_orders(account, symbols=["aapl"], side="buy")[0]) == 7
    with pytest.raises(ValidationFailed):
        service.list_orders(account, cursor="garbage!")
    with pytest.raises(ValidationFailed):
        service.list_orders(account, status="sideways")


def test_reset_refuses_while_orders_are_open_then_zeroes_the_account(
    service: OrderService, account: str, clock: FakeClock
) -> None:
    service.fund(account, Decimal("1000.00"))
    order_id = _working(service, account, clock, qty="2", price="50.00")
    with pytest.raises(Conflict):
        service.reset(account, Decimal("5000.00"))
    service.apply_events(
        order_id,  # type: ignore[arg-type]
        [
            OrderEvent(
                K.FILL,
                at=clock.now(),
                execution_id=ExecutionId(f"r-{order_id}"),
                qty=Quantity(Decimal(2)),
                price=Price(Decimal("50")),
            )
        ],
    )
    service.reset(account, Decimal("5000.00"))
    assert service.cash(account) == Decimal("5000.00")
    assert service.positions(account) == []
    assert service.check_invariants(account) == []


def test_withdrawal_beyond_buying_power_is_refused(service: OrderService, account: str) -> None:
    service.fund(account, Decimal("300.00"))
    service.submit(account, limit_buy(qty="2", price="100.00"))
    with pytest.raises(RiskDenied):
        service.fund(account, Decimal("-100.01"))
    entry = service.fund(account, Decimal("-100.00"))
    assert entry.memo == "withdrawal"
    assert service.cash(account) == Decimal("200.00")
    with pytest.raises(ValidationFailed):
        service.fund(account, Decimal("0.001"))


def test_activities_are_newest_first_with_a_cursor(service: OrderService, account: str) -> None:
    for cents in ("1.00", "2.00", "3.00"):
        service.fund(account, Decimal(cents), memo=f"deposit {cents}")
    first, cursor = service.activities(account, limit=2)
    assert [e.memo for e in first] == ["deposit 3.00", "deposit 2.00"]
    assert cursor is not None
    rest, end = service.activities(account, limit=2, cursor=cursor)
    assert [e.memo for e in rest] == ["deposit 1.00"] and end is None
    assert {p.account for p in rest[0].postings} == {"cash", "funding"}


def test_orders_are_never_deleted_and_ledger_rows_never_change(
    service: OrderService, account: str
) -> None:
    service.fund(account, Decimal("10.00"))
    order = service.submit(account, limit_buy(price="1.00")).order
    for stmt in (
        "DELETE FROM orders WHERE id = :o",
        "UPDATE order_events SET kind = 'fill' WHERE order_id = :o",
        "DELETE FROM postings WHERE account_id = :a",
        "UPDATE journal_entries SET memo = 'x' WHERE account_id = :a",
    ):
        with pytest.raises(Exception, match="append-only"), service.db.session() as s:
            s.execute(text(stmt), {"o": order.id, "a": account})


def test_unbalanced_entry_is_refused_at_commit(service: OrderService, account: str) -> None:
    with pytest.raises(Exception, match="unbalanced"), service.db.session() as s:
        s.execute(
            text(
                "INSERT INTO journal_entries (id, account_id, kind, at, memo) "
                "VALUES ('bad:1', :a, 'funding', now(), 'x')"
            ),
            {"a": account},
        )
        s.execute(
            text(
                "INSERT INTO postings (entry_id, ledger_account, account_id, unit, amount) "
                "VALUES ('bad:1', 'cash', :a, 'USD', 5)"
            ),
            {"a": account},
        )
