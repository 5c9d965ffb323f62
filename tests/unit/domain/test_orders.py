from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from domain.errors import IllegalTransition, ValidationFailed
from domain.ids import AccountId, ClientOrderId, ExecutionId, OrderId, Symbol
from domain.money import Money, Price, Quantity
from domain.order_request import ReplaceRequest
from domain.orders import (
    Order,
    OrderEvent,
    OrderEventKind,
    OrderStatus,
    OrderType,
    Overfill,
    Side,
    TimeInForce,
    order_event_name,
)

S = OrderStatus
E = OrderEventKind
T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)

# Independent expectation: what each status does with each event, written from Alpaca's
# order lifecycle docs, not copied from the table under test. Missing pairs are illegal.
# Setup per status: qty 10, nothing filled, except partially_filled (4 filled).
EXPECTED: dict[OrderStatus, dict[OrderEventKind, OrderStatus]] = {
    S.PENDING_NEW: {
        E.ACKNOWLEDGE: S.NEW,
        E.ACCEPT_CLOSED: S.ACCEPTED,
        E.REJECT: S.REJECTED,
        # a cancel asked before the broker answered the submit (the outbox sends it after)
        E.CANCEL_REQUESTED: S.PENDING_CANCEL,
    },
    S.ACCEPTED: {
        E.RELEASE: S.NEW,
        E.REJECT: S.REJECTED,
        E.CANCEL_REQUESTED: S.PENDING_CANCEL,
        E.CANCELED: S.CANCELED,
        E.REPLACE_REQUESTED: S.PENDING_REPLACE,
        E.EXPIRE: S.EXPIRED,
    },
    S.NEW: {
        E.PARTIAL_FILL: S.PARTIALLY_FILLED,
        E.FILL: S.FILLED,
        E.CANCEL_REQUESTED: S.PENDING_CANCEL,
        E.CANCELED: S.CANCELED,
        E.REPLACE_REQUESTED: S.PENDING_REPLACE,
        E.EXPIRE: S.EXPIRED,
        E.DONE_FOR_DAY: S.DONE_FOR_DAY,
    },
    S.PARTIALLY_FILLED: {
        E.PARTIAL_FILL: S.PARTIALLY_FILLED,
        E.FILL: S.FILLED,
        E.CANCEL_REQUESTED: S.PENDING_CANCEL,
        E.CANCELED: S.CANCELED,
        E.REPLACE_REQUESTED: S.PENDING_REPLACE,
        E.EXPIRE: S.EXPIRED,
        E.DONE_FOR_DAY: S.DONE_FOR_DAY,
    },
    S.DONE_FOR_DAY: {
        E.NEW_DAY: S.NEW,
        E.CANCEL_REQUESTED: S.PENDING_CANCEL,
        E.CANCELED: S.CANCELED,
        E.EXPIRE: S.EXPIRED,
    },
    S.PENDING_CANCEL: {
        E.PARTIAL_FILL: S.PENDING_CANCEL,
        E.FILL: S.FILLED,
        E.CANCELED: S.CANCELED,
        E.CANCEL_REJECTED: S.NEW,
        E.EXPIRE: S.EXPIRED,
        # the submit's answer arriving after the cancel was asked
        E.ACKNOWLEDGE: S.PENDING_CANCEL,
        E.ACCEPT_CLOSED: S.PENDING_CANCEL,
        E.REJECT: S.REJECTED,
    },
    S.PENDING_REPLACE: {
        E.PARTIAL_FILL: S.PENDING_REPLACE,
        E.FILL: S.FILLED,
        E.REPLACED: S.REPLACED,
        E.REPLACE_REJECTED: S.NEW,
        E.EXPIRE: S.EXPIRED,
    },
    S.FILLED: {},
    S.CANCELED: {},
    S.EXPIRED: {},
    S.REJECTED: {},
    S.REPLACED: {},
}


def make_order(
    status: OrderStatus = S.NEW,
    *,
    qty: str | None = "10",
    notional: str | None = None,
    filled: str = "0",
    order_id: str = "ord-1",
) -> Order:
    order = Order(
        id=OrderId(order_id),
        account_id=AccountId("acct-1"),
        client_order_id=ClientOrderId("c-1"),
        symbol=Symbol("AAPL"),
        side=Side.BUY,
        type=OrderType.MARKET,
        time_in_force=TimeInForce.DAY,
        created_at=T0,
        qty=None if qty is None else Quantity.parse(qty),
        notional=None if notional is None else Money.parse(notional),
        status=status,
    )
    if Decimal(filled) > 0:
        order.filled_qty = Decimal(filled)
        order.filled_notional = Decimal(filled) * 100
        order.filled_avg_price = Decimal(100)
    if status in (S.PENDING_CANCEL, S.PENDING_REPLACE):
        order.resume_status = S.NEW
    return order


def fill(qty: str, price: str, n: int = 1, kind: OrderEventKind = E.FILL) -> OrderEvent:
    return OrderEvent(
        kind,
        T0 + timedelta(seconds=n),
        execution_id=ExecutionId(f"x-{n}"),
        qty=Quantity.parse(qty),
        price=Price.parse(price, tick_rule=False),
    )


def event_for(kind: OrderEventKind, order: Order) -> OrderEvent:
    if kind is E.PARTIAL_FILL:
        return fill("1", "101", kind=kind)
    if kind is E.FILL:
        remaining = order.remaining_qty
        assert remaining is not None
        return fill(str(remaining), "101", kind=kind)
    if kind is E.REPLACED:
        return OrderEvent(kind, T0, replaced_by=OrderId("ord-2"))
    return OrderEvent(kind, T0)


def _filled_for(status: OrderStatus) -> str:
    return "4" if status is S.PARTIALLY_FILLED else "0"


@pytest.mark.parametrize("kind", list(OrderEventKind))
@pytest.mark.parametrize("status", list(OrderStatus))
def test_transition_table_matches_expectation(status: OrderStatus, kind: OrderEventKind) -> None:
    order = make_order(status, filled=_filled_for(status))
    event = event_for(kind, order)
    expected = EXPECTED[status].get(kind)
    if expected is None:
        before = copy.deepcopy(order)
        with pytest.raises(IllegalTransition) as exc:
            order.apply(event)
        assert (exc.value.status, exc.value.event) == (status.value, kind.value)
        assert order == before
    else:
        assert order.apply(event) is True
        assert order.status is expected


def test_expectation_table_covers_every_status() -> None:
    assert set(EXPECTED) == set(OrderStatus)


def test_terminal_and_open_statuses() -> None:
    terminal = {S.FILLED, S.CANCELED, S.EXPIRED, S.REJECTED, S.REPLACED}
    assert {s for s in OrderStatus if s.is_terminal} == terminal
    assert all(s.is_open != s.is_terminal for s in OrderStatus)


def test_enum_values_are_alpaca_wire_names() -> None:
    assert [t.value for t in OrderType] == [
        "market",
        "limit",
        "stop",
        "stop_limit",
        "trailing_stop",
    ]
    assert [t.value for t in TimeInForce] == ["day", "gtc", "ioc", "fok", "opg", "cls"]
    assert S.PARTIALLY_FILLED.value == "partially_filled"


def test_cancel_while_pending_replace_then_refused() -> None:
    order = make_order(S.PENDING_REPLACE)
    with pytest.raises(IllegalTransition, match="pending_replace -> cancel_requested"):
        order.apply(OrderEvent(E.CANCEL_REQUESTED, T0))


def test_second_cancel_request_while_pending_cancel_then_refused() -> None:
    with pytest.raises(IllegalTransition):
        make_order(S.PENDING_CANCEL).apply(OrderEvent(E.CANCEL_REQUESTED, T0))


def test_fill_racing_cancel_then_ends_filled() -> None:
    order = make_order(S.NEW)
    order.apply(OrderEvent(E.CANCEL_REQUESTED, T0))
    order.apply(fill("4", "100", 1, E.PARTIAL_FILL))
    assert order.status is S.PENDING_CANCEL
    order.apply(fill("6", "100", 2, E.FILL))
    assert order.status is S.FILLED
    with pytest.raises(IllegalTransition):
        order.apply(OrderEvent(E.CANCELED, T0))


def test_cancel_rejected_after_partial_fill_then_partially_filled() -> None:
    order = make_order(S.NEW)
    order.apply(OrderEvent(E.CANCEL_REQUESTED, T0))
    order.apply(fill("4", "100", 1))
    order.apply(OrderEvent(E.CANCEL_REJECTED, T0))
    assert order.status is S.PARTIALLY_FILLED
    assert order.resume_status is None


def test_cancel_rejected_for_accepted_order_then_back_to_accepted() -> None:
    order = make_order(S.ACCEPTED)
    order.apply(OrderEvent(E.CANCEL_REQUESTED, T0))
    assert order.resume_status is S.ACCEPTED
    order.apply(OrderEvent(E.CANCEL_REJECTED, T0))
    assert order.status is S.ACCEPTED


def test_replace_rejected_for_done_for_day_resume() -> None:
    order = make_order(S.DONE_FOR_DAY)
    order.apply(OrderEvent(E.CANCEL_REQUESTED, T0))
    order.apply(OrderEvent(E.CANCEL_REJECTED, T0))
    assert order.status is S.DONE_FOR_DAY


def test_new_day_after_partial_fill_then_partially_filled() -> None:
    order = make_order(S.DONE_FOR_DAY, filled="3")
    order.apply(OrderEvent(E.NEW_DAY, T0))
    assert order.status is S.PARTIALLY_FILLED


def test_fill_label_is_overridden_by_quantities() -> None:
    order = make_order(S.NEW)
    order.apply(fill("10", "100", 1, E.PARTIAL_FILL))
    assert order.status is S.FILLED
    order = make_order(S.NEW)
    order.apply(fill("3", "100", 1, E.FILL))
    assert order.status is S.PARTIALLY_FILLED


def test_duplicate_execution_id_then_noop_returns_false() -> None:
    order = make_order(S.NEW)
    assert order.apply(fill("4", "100", 1)) is True
    before = copy.deepcopy(order)
    assert order.apply(fill("4", "100", 1)) is False
    assert order == before
    order.apply(fill("6", "100", 2))
    assert order.status is S.FILLED
    assert order.apply(fill("6", "100", 2)) is False  # replay after terminal: still a no-op


def test_overfill_then_raises_and_order_unchanged() -> None:
    order = make_order(S.PARTIALLY_FILLED, filled="4")
    before = copy.deepcopy(order)
    with pytest.raises(Overfill):
        order.apply(fill("7", "100", 9))
    assert order == before


def test_average_price_is_quantity_weighted() -> None:
    order = make_order(S.NEW)
    order.apply(fill("1", "100", 1))
    order.apply(fill("2", "103", 2))
    assert order.filled_avg_price == Decimal("102")
    order.apply(fill("7", "100.01", 3))
    assert order.filled_notional == Decimal("1006.07")
    assert order.filled_avg_price == Decimal("100.607")
    assert order.filled_at == T0 + timedelta(seconds=3)


def test_average_price_keeps_twelve_decimals_half_even() -> None:
    order = make_order(S.NEW, qty="3")
    order.apply(fill("1", "1", 1))
    order.apply(fill("2", "2", 2))
    assert order.filled_avg_price == Decimal("1.666666666667")


def test_notional_order_completion_follows_label_and_overfill_uses_notional() -> None:
    order = make_order(S.NEW, qty=None, notional="1000")
    assert order.remaining_qty is None
    order.apply(fill("4.5", "100", 1, E.PARTIAL_FILL))
    assert order.status is S.PARTIALLY_FILLED
    with pytest.raises(Overfill):
        order.apply(fill("5.6", "100", 2, E.FILL))
    order.apply(fill("5.5", "100", 3, E.FILL))
    assert order.status is S.FILLED
    assert order.filled_qty == Decimal("10.0")


def test_order_requires_exactly_one_of_qty_and_notional() -> None:
    with pytest.raises(ValidationFailed) as exc:
        make_order(qty=None)
    assert exc.value.rule == "qty-xor-notional"
    with pytest.raises(ValidationFailed):
        make_order(qty="1", notional="10")


def test_timestamps_follow_events() -> None:
    order = make_order(S.PENDING_NEW)
    order.apply(OrderEvent(E.ACKNOWLEDGE, T0 + timedelta(seconds=1)))
    assert order.submitted_at == T0 + timedelta(seconds=1)
    order.apply(OrderEvent(E.EXPIRE, T0 + timedelta(hours=1)))
    assert order.expired_at == order.updated_at == T0 + timedelta(hours=1)
    rejected = make_order(S.PENDING_NEW)
    rejected.apply(OrderEvent(E.REJECT, T0, reason="buying power"))
    assert (rejected.failed_at, rejected.reject_reason) == (T0, "buying power")
    canceled = make_order(S.NEW)
    canceled.apply(OrderEvent(E.CANCELED, T0))
    assert canceled.canceled_at == T0


def test_replace_links_new_order_both_ways() -> None:
    old = make_order(S.NEW)
    old.type, old.limit_price = OrderType.LIMIT, Price.parse("99")
    old.apply(fill("4", "99", 1))
    request = ReplaceRequest.parse(old, limit_price="98.5")
    new = request.to_order(old, OrderId("ord-2"), T0)
    old.apply(OrderEvent(E.REPLACE_REQUESTED, T0))
    old.apply(OrderEvent(E.REPLACED, T0, replaced_by=new.id))
    assert (old.status, old.replaced_by, new.replaces) == (S.REPLACED, "ord-2", "ord-1")
    assert new.status is S.PENDING_NEW
    assert new.qty == Quantity.parse("6")
    assert new.limit_price == Price.parse("98.5")


def test_order_cannot_replace_itself() -> None:
    order = make_order(S.PENDING_REPLACE)
    with pytest.raises(ValidationFailed):
        order.apply(OrderEvent(E.REPLACED, T0, replaced_by=OrderId("ord-1")))


def test_event_when_naive_time_then_refused() -> None:
    with pytest.raises(ValidationFailed) as exc:
        OrderEvent(E.ACKNOWLEDGE, datetime(2026, 1, 1))
    assert exc.value.field == "at"


def test_event_fill_fields_only_on_fills() -> None:
    with pytest.raises(ValidationFailed):
        OrderEvent(E.FILL, T0, qty=Quantity.parse("1"), price=Price.parse("1"))
    with pytest.raises(ValidationFailed):
        OrderEvent(
            E.FILL, T0, execution_id=ExecutionId("x"), qty=Quantity.zero(), price=Price.parse("1")
        )
    with pytest.raises(ValidationFailed):
        OrderEvent(E.CANCELED, T0, qty=Quantity.parse("1"))
    with pytest.raises(ValidationFailed):
        OrderEvent(E.REPLACED, T0)
    with pytest.raises(ValidationFailed):
        OrderEvent(E.CANCELED, T0, replaced_by=OrderId("x"))


def test_order_event_name_maps_statuses_and_kinds_to_alpaca_names() -> None:
    alpaca = {
        "new",
        "fill",
        "partial_fill",
        "canceled",
        "expired",
        "replaced",
        "rejected",
        "pending_new",
        "pending_cancel",
        "pending_replace",
        "done_for_day",
        "accepted",
        "order_cancel_rejected",
        "order_replace_rejected",
    }
    assert {order_event_name(s) for s in OrderStatus} <= alpaca
    assert {order_event_name(k) for k in OrderEventKind} <= alpaca
    assert order_event_name(S.PARTIALLY_FILLED) == "partial_fill"
    assert order_event_name(E.CANCEL_REJECTED) == "order_cancel_rejected"
    assert order_event_name(E.REPLACE_REJECTED) == "order_replace_rejected"
    assert order_event_name(E.CANCEL_REQUESTED) == "pending_cancel"


@pytest.mark.parametrize(
    ("ack", "resumes"), [(E.ACKNOWLEDGE, S.NEW), (E.ACCEPT_CLOSED, S.ACCEPTED)]
)
def test_cancel_before_the_ack_resumes_where_the_ack_put_it(
    ack: OrderEventKind, resumes: OrderStatus
) -> None:
    order = make_order(S.PENDING_NEW)
    order.apply(OrderEvent(E.CANCEL_REQUESTED, at=T0))
    assert order.status is S.PENDING_CANCEL and order.resume_status is S.PENDING_NEW
    order.apply(OrderEvent(ack, at=T0))
    assert order.status is S.PENDING_CANCEL
    assert order.submitted_at == T0
    order.apply(OrderEvent(E.CANCEL_REJECTED, at=T0, reason="too late"))
    assert order.status is resumes
