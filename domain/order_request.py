"""Order and replace requests: built from primitive input, validated field by field.

Why a separate request type: an ``Order`` carries execution state; a request carries only
what the client asked for, normalised, so it can be fingerprinted. Retrying a submission
with the same ``client_order_id`` and the same :meth:`OrderRequest.content_fingerprint`
returns the original order; the same id with different content is a ``Conflict``.

Every failure is ``ValidationFailed(field, rule)``; checks run in a fixed order so the
same bad input always names the same field. Rules follow Alpaca's order API:

===============================  ===================================================
rule                             meaning
===============================  ===================================================
``one-of``                       side / type / time_in_force not a known wire name
``qty-xor-notional``             exactly one of qty and notional
``notional-requires-market-day``  notional orders are market + day only
``required``                     limit/stop price the type needs is missing
``not-allowed``                  a price field the type does not use
``trail-price-xor-percent``      trailing stop: exactly one of trail_price / percent
``percent-range``                trail_percent in (0, 100)
``tif-not-allowed``              ioc/fok/opg/cls only with market or limit
``extended-hours-requires-limit-day``  extended hours only for limit + day
===============================  ===================================================
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Final, TypeVar

from domain.clock import require_aware
from domain.errors import IllegalTransition, ValidationFailed
from domain.ids import AccountId, ClientOrderId, OrderId, Symbol
from domain.money import Money, Price, Quantity, decimals_of, to_decimal
from domain.orders import Order, OrderStatus, OrderType, Side, TimeInForce

_T = TypeVar("_T", bound=StrEnum)

_LIMIT_TYPES: Final = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})
_STOP_TYPES: Final = frozenset({OrderType.STOP, OrderType.STOP_LIMIT})
_AUCTION_OR_IMMEDIATE: Final = frozenset(
    {TimeInForce.IOC, TimeInForce.FOK, TimeInForce.OPG, TimeInForce.CLS}
)
_REPLACEABLE: Final = frozenset(
    {OrderStatus.ACCEPTED, OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED}
)


def parse_enum(enum: type[_T], value: object, field: str) -> _T:
    """Wire name (case-insensitive) or member -> member; ``one-of`` otherwise."""
    if isinstance(value, enum):
        return value
    if isinstance(value, str):
        try:
            return enum(value.strip().lower())
        except ValueError:
            pass
    names = ", ".join(member.value for member in enum)
    raise ValidationFailed(field, "one-of", f"{field} must be one of {names}")


def parse_trail_percent(value: object, field: str = "trail_percent") -> Decimal:
    percent = to_decimal(value, field)
    if not Decimal(0) < percent < Decimal(100) or decimals_of(percent) > 4:
        raise ValidationFailed(field, "percent-range", f"{field} must be in (0, 100)")
    return percent


def _optional(value: object) -> bool:
    return value is not None


def _check_tif(order_type: OrderType, tif: TimeInForce, field: str = "time_in_force") -> None:
    if tif in _AUCTION_OR_IMMEDIATE and order_type not in (OrderType.MARKET, OrderType.LIMIT):
        raise ValidationFailed(
            field, "tif-not-allowed", f"{tif.value} is only for market or limit orders"
        )


@dataclass(frozen=True)
class OrderRequest:
    """A validated, normalised order request. Build it with :meth:`parse`."""

    symbol: Symbol
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    qty: Quantity | None = None
    notional: Money | None = None
    limit_price: Price | None = None
    stop_price: Price | None = None
    trail_price: Price | None = None
    trail_percent: Decimal | None = None
    extended_hours: bool = False
    client_order_id: ClientOrderId | None = None

    @classmethod
    def parse(
        cls,
        *,
        symbol: object,
        side: object,
        type: object,
        time_in_force: object,
        qty: object = None,
        notional: object = None,
        limit_price: object = None,
        stop_price: object = None,
        trail_price: object = None,
        trail_percent: object = None,
        extended_hours: object = False,
        client_order_id: object = None,
    ) -> OrderRequest:
        order_type = parse_enum(OrderType, type, "type")
        tif = parse_enum(TimeInForce, time_in_force, "time_in_force")
        parsed_side = parse_enum(Side, side, "side")
        parsed_symbol = Symbol.parse(symbol)
        _check_tif(order_type, tif)
        parsed_qty, parsed_notional = _parse_size(qty, notional, order_type, tif)
        limit, stop, trail, percent = _parse_prices(
            order_type, limit_price, stop_price, trail_price, trail_percent
        )
        extended = _parse_bool(extended_hours, "extended_hours")
        if extended and (order_type, tif) != (OrderType.LIMIT, TimeInForce.DAY):
            raise ValidationFailed(
                "extended_hours",
                "extended-hours-requires-limit-day",
                "extended hours orders must be limit + day",
            )
        request = cls(
            symbol=parsed_symbol,
            side=parsed_side,
            type=order_type,
            time_in_force=tif,
            client_order_id=(
                None if client_order_id is None else ClientOrderId.parse(client_order_id)
            ),
            extended_hours=extended,
            qty=parsed_qty,
            notional=parsed_notional,
            limit_price=limit,
            stop_price=stop,
            trail_price=trail,
            trail_percent=percent,
        )
        return request

    def content_fingerprint(self) -> str:
        """A stable hash of the normalised content (not the client order id).

        Canonical JSON of wire strings, so ``"10"`` and ``"10.00"`` hash alike and the
        value survives a restart or a different worker process.
        """
        content = {
            "symbol": str(self.symbol),
            "side": self.side.value,
            "type": self.type.value,
            "time_in_force": self.time_in_force.value,
            "qty": None if self.qty is None else self.qty.to_wire(),
            "notional": None if self.notional is None else self.notional.to_wire(),
            "currency": None if self.notional is None else self.notional.currency,
            "limit_price": _wire(self.limit_price),
            "stop_price": _wire(self.stop_price),
            "trail_price": _wire(self.trail_price),
            "trail_percent": None
            if self.trail_percent is None
            else _decimal_wire(self.trail_percent),
            "extended_hours": self.extended_hours,
        }
        text = json.dumps(content, sort_keys=True, separators=(",", ":"))
        return "v1:" + hashlib.sha256(text.encode()).hexdigest()

    def to_order(self, order_id: OrderId, account_id: AccountId, now: datetime) -> Order:
        """A ``pending_new`` order; without a client order id the order id doubles as one."""
        return Order(
            id=order_id,
            account_id=account_id,
            client_order_id=self.client_order_id or ClientOrderId(order_id),
            symbol=self.symbol,
            side=self.side,
            type=self.type,
            time_in_force=self.time_in_force,
            created_at=require_aware("now", now),
            qty=self.qty,
            notional=self.notional,
            limit_price=self.limit_price,
            stop_price=self.stop_price,
            trail_price=self.trail_price,
            trail_percent=self.trail_percent,
            extended_hours=self.extended_hours,
        )


def _wire(price: Price | None) -> str | None:
    return None if price is None else price.to_wire()


def _decimal_wire(value: Decimal) -> str:
    return Quantity(value).to_wire()


def _parse_bool(value: object, field: str) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    raise ValidationFailed(field, "boolean", f"{field} must be true or false")


def _parse_size(
    qty: object, notional: object, order_type: OrderType, tif: TimeInForce
) -> tuple[Quantity | None, Money | None]:
    if _optional(qty) == _optional(notional):
        raise ValidationFailed("qty", "qty-xor-notional", "give exactly one of qty and notional")
    if qty is not None:
        return Quantity.parse(qty, "qty"), None
    money = Money.parse(notional, "notional", places=2, positive=True)
    if (order_type, tif) != (OrderType.MARKET, TimeInForce.DAY):
        raise ValidationFailed(
            "notional", "notional-requires-market-day", "notional orders must be market + day"
        )
    return None, money


def _parse_prices(
    order_type: OrderType,
    limit_price: object,
    stop_price: object,
    trail_price: object,
    trail_percent: object,
) -> tuple[Price | None, Price | None, Price | None, Decimal | None]:
    trailing = order_type is OrderType.TRAILING_STOP
    uses = {
        "limit_price": order_type in _LIMIT_TYPES,
        "stop_price": order_type in _STOP_TYPES,
        "trail_price": trailing,
        "trail_percent": trailing,
    }
    given = {
        "limit_price": limit_price,
        "stop_price": stop_price,
        "trail_price": trail_price,
        "trail_percent": trail_percent,
    }
    for name, value in given.items():
        if value is not None and not uses[name]:
            raise ValidationFailed(
                name, "not-allowed", f"{name} is not used by {order_type.value} orders"
            )
    for name in ("limit_price", "stop_price"):
        if uses[name] and given[name] is None:
            raise ValidationFailed(name, "required", f"{order_type.value} orders need {name}")
    if trailing and _optional(trail_price) == _optional(trail_percent):
        raise ValidationFailed(
            "trail_price",
            "trail-price-xor-percent",
            "trailing stops need exactly one of trail_price and trail_percent",
        )
    return (
        None if limit_price is None else Price.parse(limit_price, "limit_price"),
        None if stop_price is None else Price.parse(stop_price, "stop_price"),
        None if trail_price is None else Price.parse(trail_price, "trail_price"),
        None if trail_percent is None else parse_trail_percent(trail_percent),
    )


@dataclass(frozen=True)
class ReplaceRequest:
    """What a client may change on a working order (Alpaca ``PATCH /orders/{id}``).

    ``trail`` is the new trail amount: a price for ``trail_price`` orders, a percent for
    ``trail_percent`` ones. The replacement is a new order (``replaces`` = old id); its
    quantity defaults to what is still open on the old one.
    """

    qty: Quantity | None = None
    time_in_force: TimeInForce | None = None
    limit_price: Price | None = None
    stop_price: Price | None = None
    trail: Decimal | None = None
    client_order_id: ClientOrderId | None = None

    @classmethod
    def parse(
        cls,
        order: Order,
        *,
        qty: object = None,
        time_in_force: object = None,
        limit_price: object = None,
        stop_price: object = None,
        trail: object = None,
        client_order_id: object = None,
    ) -> ReplaceRequest:
        """Validate against the order being replaced."""
        if order.status not in _REPLACEABLE:
            raise IllegalTransition(order.status.value, "replace_requested")
        if order.notional is not None:
            raise ValidationFailed(
                "qty", "notional-not-replaceable", "notional orders cannot be replaced"
            )
        if all(value is None for value in (qty, time_in_force, limit_price, stop_price, trail)):
            raise ValidationFailed("order", "nothing-to-replace", "give at least one change")
        tif = (
            None
            if time_in_force is None
            else parse_enum(TimeInForce, time_in_force, "time_in_force")
        )
        if tif is not None:
            _check_tif(order.type, tif)
            if order.extended_hours and tif is not TimeInForce.DAY:
                raise ValidationFailed(
                    "time_in_force",
                    "extended-hours-requires-limit-day",
                    "extended hours orders must stay day",
                )
        for name, value, used in (
            ("limit_price", limit_price, order.type in _LIMIT_TYPES),
            ("stop_price", stop_price, order.type in _STOP_TYPES),
            ("trail", trail, order.type is OrderType.TRAILING_STOP),
        ):
            if value is not None and not used:
                raise ValidationFailed(
                    name, "not-allowed", f"{name} is not used by {order.type.value} orders"
                )
        return cls(
            qty=None if qty is None else Quantity.parse(qty, "qty"),
            time_in_force=tif,
            limit_price=None if limit_price is None else Price.parse(limit_price, "limit_price"),
            stop_price=None if stop_price is None else Price.parse(stop_price, "stop_price"),
            trail=None if trail is None else _parse_trail(order, trail),
            client_order_id=(
                None if client_order_id is None else ClientOrderId.parse(client_order_id)
            ),
        )

    def to_order(self, old: Order, new_id: OrderId, now: datetime) -> Order:
        """The replacement order, ``pending_new`` and linked to ``old`` via ``replaces``."""
        remaining = old.remaining_qty
        assert remaining is not None  # notional orders are refused by parse
        trailing_percent = old.trail_percent is not None
        return Order(
            id=new_id,
            account_id=old.account_id,
            client_order_id=self.client_order_id or ClientOrderId(new_id),
            symbol=old.symbol,
            side=old.side,
            type=old.type,
            time_in_force=self.time_in_force or old.time_in_force,
            created_at=require_aware("now", now),
            qty=self.qty or Quantity(remaining),
            limit_price=self.limit_price or old.limit_price,
            stop_price=self.stop_price or old.stop_price,
            trail_price=(
                Price(self.trail)
                if self.trail is not None and not trailing_percent
                else old.trail_price
            ),
            trail_percent=self.trail
            if self.trail is not None and trailing_percent
            else old.trail_percent,
            extended_hours=old.extended_hours,
            replaces=old.id,
        )


def _parse_trail(order: Order, value: object) -> Decimal:
    if order.trail_percent is not None:
        return parse_trail_percent(value, "trail")
    return Price.parse(value, "trail").value
