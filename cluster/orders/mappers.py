"""Rows <-> domain objects. Tables are not domain types; they meet here and only here."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from domain.ids import AccountId, ClientOrderId, ExecutionId, OrderId, Symbol
from domain.ledger import EntryKind, JournalEntry, Posting
from domain.money import Money, Price, Quantity
from domain.orders import Order, OrderEvent, OrderStatus, OrderType, Side, TimeInForce

#: Order fields that change after insert (``update_values``); the rest are fixed at birth.
MUTABLE = (
    "status",
    "resume_status",
    "filled_qty",
    "filled_notional",
    "filled_avg_price",
    "high_water_mark",
    "stop_triggered",
    "reject_reason",
    "reject_code",
    "replaced_by",
    "updated_at",
    "submitted_at",
    "filled_at",
    "canceled_at",
    "expired_at",
    "failed_at",
)


def _uuid(value: str | None) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(value)


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def _price(value: Price | None) -> Decimal | None:
    return None if value is None else value.value


def update_values(order: Order) -> dict[str, Any]:
    return {
        "status": order.status.value,
        "resume_status": None if order.resume_status is None else order.resume_status.value,
        "filled_qty": order.filled_qty,
        "filled_notional": order.filled_notional,
        "filled_avg_price": order.filled_avg_price,
        "high_water_mark": order.high_water_mark,
        "stop_triggered": order.stop_triggered,
        "reject_reason": order.reject_reason,
        "reject_code": order.reject_code,
        "replaced_by": _uuid(order.replaced_by),
        "updated_at": order.updated_at,
        "submitted_at": order.submitted_at,
        "filled_at": order.filled_at,
        "canceled_at": order.canceled_at,
        "expired_at": order.expired_at,
        "failed_at": order.failed_at,
    }


def insert_values(
    order: Order, *, fingerprint: str, idempotency_key: str | None, broker: str
) -> dict[str, Any]:
    return {
        "id": uuid.UUID(order.id),
        "account_id": uuid.UUID(order.account_id),
        "client_order_id": str(order.client_order_id),
        "fingerprint": fingerprint,
        "idempotency_key": idempotency_key,
        "symbol": str(order.symbol),
        "side": order.side.value,
        "type": order.type.value,
        "time_in_force": order.time_in_force.value,
        "qty": None if order.qty is None else order.qty.value,
        "notional": None if order.notional is None else order.notional.amount,
        "limit_price": _price(order.limit_price),
        "stop_price": _price(order.stop_price),
        "trail_price": _price(order.trail_price),
        "trail_percent": order.trail_percent,
        "extended_hours": order.extended_hours,
        "replaces": _uuid(order.replaces),
        "reserve_price": order.reserve_price,
        "fee_reserve": order.fee_reserve,
        "strategy_id": order.strategy_id,
        "broker": broker,
        "created_at": order.created_at,
        **update_values(order),
    }


def order_from_row(row: Mapping[Any, Any], execution_ids: Iterable[str] = ()) -> Order:
    """Rebuild an order exactly as it was stored (status set directly: this is a load,
    not a state change)."""
    return Order(
        id=OrderId(str(row["id"])),
        account_id=AccountId(str(row["account_id"])),
        client_order_id=ClientOrderId(row["client_order_id"]),
        symbol=Symbol(row["symbol"]),
        side=Side(row["side"]),
        type=OrderType(row["type"]),
        time_in_force=TimeInForce(row["time_in_force"]),
        created_at=row["created_at"],
        qty=None if row["qty"] is None else Quantity(row["qty"]),
        notional=None if row["notional"] is None else Money(row["notional"]),
        limit_price=None if row["limit_price"] is None else Price(row["limit_price"]),
        stop_price=None if row["stop_price"] is None else Price(row["stop_price"]),
        trail_price=None if row["trail_price"] is None else Price(row["trail_price"]),
        trail_percent=row["trail_percent"],
        high_water_mark=row["high_water_mark"],
        stop_triggered=row.get("stop_triggered", False),
        reserve_price=row.get("reserve_price"),
        fee_reserve=row.get("fee_reserve", Decimal(0)),
        extended_hours=row["extended_hours"],
        status=OrderStatus(row["status"]),
        filled_qty=row["filled_qty"],
        filled_notional=row["filled_notional"],
        filled_avg_price=row["filled_avg_price"],
        updated_at=row["updated_at"],
        submitted_at=row["submitted_at"],
        filled_at=row["filled_at"],
        canceled_at=row["canceled_at"],
        expired_at=row["expired_at"],
        failed_at=row["failed_at"],
        replaces=None if row["replaces"] is None else OrderId(str(row["replaces"])),
        replaced_by=None if row["replaced_by"] is None else OrderId(str(row["replaced_by"])),
        reject_reason=row["reject_reason"],
        reject_code=row["reject_code"],
        resume_status=None if row["resume_status"] is None else OrderStatus(row["resume_status"]),
        execution_ids={ExecutionId(e) for e in execution_ids},
        strategy_id=row.get("strategy_id"),
    )


def event_detail(event: OrderEvent) -> dict[str, Any]:
    """What the ``order_events.detail`` JSON keeps: enough to replay the event."""
    detail: dict[str, Any] = {}
    if event.reason is not None:
        detail["reason"] = event.reason
    if event.replaced_by is not None:
        detail["replaced_by"] = event.replaced_by
    if event.is_fill:
        detail["execution_id"] = event.execution_id
        detail["qty"] = _str(event.qty)
        detail["price"] = _str(event.price)
        if event.fee is not None:
            detail["fee"] = _str(event.fee)
    if event.detail is not None:
        detail["fill_detail"] = {
            "reference_price": str(event.detail.reference_price),
            "slippage_bps": str(event.detail.slippage_bps),
            "quote_size": str(event.detail.quote_size),
            "partial": event.detail.partial,
        }
    return detail


def entry_from_rows(head: Mapping[Any, Any], lines: Iterable[Mapping[Any, Any]]) -> JournalEntry:
    return JournalEntry(
        id=head["id"],
        account_id=str(head["account_id"]),
        kind=EntryKind(head["kind"]),
        at=head["at"],
        memo=head["memo"],
        postings=tuple(Posting(r["ledger_account"], r["amount"]) for r in lines),
    )
