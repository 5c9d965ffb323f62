"""The order state machine: enums, one transition table, and ``Order.apply``.

Why one table: every status change the platform can make is visible in ``_TRANSITIONS``,
so a reviewer can check it against the broker's documentation row by row, and the test
suite checks every (status, event) pair against an independent expectation. Nothing else
assigns ``Order.status``.

Enum values are the wire names of Alpaca's paper-trading API, so adapters map 1:1.

Targets that depend on the order rather than the event, resolved in ``Order.apply``:

- Fills. A fill report is ``FILL`` or ``PARTIAL_FILL``; for qty orders the *quantities*
  decide which row applies (complete when ``filled_qty == qty``), whatever the broker
  labelled it. Notional orders have no qty until the broker resolves it at fill time, so
  their completion follows the label, and overfill is checked against the notional.
- A target of ``NEW`` means "working again": it becomes ``partially_filled`` once anything
  has filled, and a rejected cancel/replace returns to ``accepted``/``done_for_day`` if
  that is where the request was made (``resume_status``).

Average fill price: ``filled_notional`` (sum of qty x price) is kept exactly (see
``money.EXACT``); ``filled_avg_price`` is that divided by ``filled_qty``, rounded half-even
to 12 decimals, so it is within 5e-13 of the exact VWAP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import Final

from domain.clock import require_aware
from domain.errors import DomainError, IllegalTransition, ValidationFailed
from domain.ids import AccountId, ClientOrderId, ExecutionId, OrderId, Symbol
from domain.money import CENT, EXACT, Money, Price, Quantity

AVG_PRICE_PLACES: Final = 12
_AVG_QUANTUM: Final = Decimal(1).scaleb(-AVG_PRICE_PLACES)


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"
    TRAILING_STOP = "trailing_stop"


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class TimeInForce(StrEnum):
    DAY = "day"
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"
    OPG = "opg"  # market/limit on open: the opening auction only
    CLS = "cls"  # market/limit on close: the closing auction only


class OrderStatus(StrEnum):
    PENDING_NEW = "pending_new"
    ACCEPTED = "accepted"
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    DONE_FOR_DAY = "done_for_day"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"
    PENDING_CANCEL = "pending_cancel"
    PENDING_REPLACE = "pending_replace"
    REPLACED = "replaced"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def is_open(self) -> bool:
        return self not in _TERMINAL


_TERMINAL: Final = frozenset(
    {
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.EXPIRED,
        OrderStatus.REJECTED,
        OrderStatus.REPLACED,
    }
)


class OrderEventKind(StrEnum):
    """What happened to an order. Each kind names one broker fact."""

    ACKNOWLEDGE = "acknowledge"  # broker took the order and it is working now
    ACCEPT_CLOSED = "accept_closed"  # broker took it while the market is closed; it waits
    RELEASE = "release"  # a waiting (accepted) order goes live at the session open
    REJECT = "reject"  # broker refused it (reason says why)
    PARTIAL_FILL = "partial_fill"  # an execution that leaves some quantity open
    FILL = "fill"  # an execution that completes the order
    CANCEL_REQUESTED = "cancel_requested"  # we asked the broker to cancel
    CANCELED = "canceled"  # canceled: on request, or unsolicited (ioc/fok/opg remainder)
    CANCEL_REJECTED = "cancel_rejected"  # broker refused our cancel; order keeps working
    REPLACE_REQUESTED = "replace_requested"  # we asked the broker to replace
    REPLACED = "replaced"  # replace done; the order is superseded by ``replaced_by``
    REPLACE_REJECTED = "replace_rejected"  # broker refused our replace; order keeps working
    EXPIRE = "expire"  # its time in force ran out (day order at the close)
    DONE_FOR_DAY = "done_for_day"  # no more executions today; it may resume tomorrow
    NEW_DAY = "new_day"  # a done_for_day order resumes at the next session


_S = OrderStatus
_E = OrderEventKind

_TRANSITIONS: Final[dict[tuple[OrderStatus, OrderEventKind], OrderStatus]] = {
    # --- submission -------------------------------------------------------------------
    (_S.PENDING_NEW, _E.ACKNOWLEDGE): _S.NEW,
    (_S.PENDING_NEW, _E.ACCEPT_CLOSED): _S.ACCEPTED,
    (_S.PENDING_NEW, _E.REJECT): _S.REJECTED,
    # A cancel may be asked before the broker acknowledged (the submit waits in the
    # outbox, or its answer is on the way): it is pending until the broker settles it.
    (_S.PENDING_NEW, _E.CANCEL_REQUESTED): _S.PENDING_CANCEL,
    # --- accepted while closed: waits for the open --------------------------------------
    (_S.ACCEPTED, _E.RELEASE): _S.NEW,
    # Re-checked at the open (halted symbol, buying power gone overnight).
    (_S.ACCEPTED, _E.REJECT): _S.REJECTED,
    (_S.ACCEPTED, _E.CANCEL_REQUESTED): _S.PENDING_CANCEL,
    # Unsolicited: an opg order that missed the auction, broker housekeeping.
    (_S.ACCEPTED, _E.CANCELED): _S.CANCELED,
    (_S.ACCEPTED, _E.REPLACE_REQUESTED): _S.PENDING_REPLACE,
    (_S.ACCEPTED, _E.EXPIRE): _S.EXPIRED,
    # --- working ------------------------------------------------------------------------
    (_S.NEW, _E.PARTIAL_FILL): _S.PARTIALLY_FILLED,
    (_S.NEW, _E.FILL): _S.FILLED,
    (_S.NEW, _E.CANCEL_REQUESTED): _S.PENDING_CANCEL,
    # Unsolicited: the unfilled rest of an ioc/fok order, a broker-side cancel.
    (_S.NEW, _E.CANCELED): _S.CANCELED,
    (_S.NEW, _E.REPLACE_REQUESTED): _S.PENDING_REPLACE,
    (_S.NEW, _E.EXPIRE): _S.EXPIRED,
    (_S.NEW, _E.DONE_FOR_DAY): _S.DONE_FOR_DAY,
    (_S.PARTIALLY_FILLED, _E.PARTIAL_FILL): _S.PARTIALLY_FILLED,
    (_S.PARTIALLY_FILLED, _E.FILL): _S.FILLED,
    (_S.PARTIALLY_FILLED, _E.CANCEL_REQUESTED): _S.PENDING_CANCEL,
    (_S.PARTIALLY_FILLED, _E.CANCELED): _S.CANCELED,
    (_S.PARTIALLY_FILLED, _E.REPLACE_REQUESTED): _S.PENDING_REPLACE,
    (_S.PARTIALLY_FILLED, _E.EXPIRE): _S.EXPIRED,
    (_S.PARTIALLY_FILLED, _E.DONE_FOR_DAY): _S.DONE_FOR_DAY,
    # --- done for day (gtc): resumes at the next session ---------------------------------
    (_S.DONE_FOR_DAY, _E.NEW_DAY): _S.NEW,
    (_S.DONE_FOR_DAY, _E.CANCEL_REQUESTED): _S.PENDING_CANCEL,
    (_S.DONE_FOR_DAY, _E.CANCELED): _S.CANCELED,
    (_S.DONE_FOR_DAY, _E.EXPIRE): _S.EXPIRED,
    # --- pending cancel -------------------------------------------------------------------
    # A fill racing our cancel is real: the venue executed before it saw the cancel.
    # A partial fill keeps the cancel pending; a full fill wins and the order ends filled.
    (_S.PENDING_CANCEL, _E.PARTIAL_FILL): _S.PENDING_CANCEL,
    (_S.PENDING_CANCEL, _E.FILL): _S.FILLED,
    (_S.PENDING_CANCEL, _E.CANCELED): _S.CANCELED,
    (_S.PENDING_CANCEL, _E.CANCEL_REJECTED): _S.NEW,
    # The acknowledgement of a submit the client already asked to cancel: the cancel stays
    # pending (the outbox sends it after the submit); refusing the order settles both.
    (_S.PENDING_CANCEL, _E.ACKNOWLEDGE): _S.PENDING_CANCEL,
    (_S.PENDING_CANCEL, _E.ACCEPT_CLOSED): _S.PENDING_CANCEL,
    (_S.PENDING_CANCEL, _E.REJECT): _S.REJECTED,
    # The session closed before the broker processed the cancel.
    (_S.PENDING_CANCEL, _E.EXPIRE): _S.EXPIRED,
    # Absent on purpose: a second cancel request (the first is in flight; the service
    # answers it idempotently) and a replace request (which order would survive?).
    # --- pending replace ------------------------------------------------------------------
    # Same race as cancel: the old order can execute before the replace lands.
    (_S.PENDING_REPLACE, _E.PARTIAL_FILL): _S.PENDING_REPLACE,
    (_S.PENDING_REPLACE, _E.FILL): _S.FILLED,
    (_S.PENDING_REPLACE, _E.REPLACED): _S.REPLACED,
    (_S.PENDING_REPLACE, _E.REPLACE_REJECTED): _S.NEW,
    (_S.PENDING_REPLACE, _E.EXPIRE): _S.EXPIRED,
    # Absent on purpose: a cancel request while a replace is pending is refused, as
    # Alpaca does; cancel the replacement once it exists instead.
}

#: Statuses entered by a request whose rejection returns to the prior status.
_PENDING: Final = frozenset({_S.PENDING_CANCEL, _S.PENDING_REPLACE})
_FILL_KINDS: Final = frozenset({_E.FILL, _E.PARTIAL_FILL})
_ACKS: Final = frozenset({_E.ACKNOWLEDGE, _E.ACCEPT_CLOSED})


def transition_target(status: OrderStatus, kind: OrderEventKind) -> OrderStatus | None:
    """The table's target for ``status -> kind`` before order-dependent resolution."""
    return _TRANSITIONS.get((status, kind))


class Overfill(DomainError):
    """A fill would take the order past its quantity (or notional). The order is unchanged."""

    code = "overfill"


@dataclass(frozen=True)
class FillDetail:
    """How a *simulated* fill was priced (paper engine); real broker fills carry ``None``.

    Kept on the event so a fill can be explained and replayed: the quote price before
    slippage, the slippage applied, the size the quote showed, and whether it was partial.
    """

    reference_price: Decimal
    slippage_bps: Decimal
    quote_size: Decimal
    partial: bool


@dataclass(frozen=True)
class OrderEvent:
    """One broker fact about one order. Fill fields are present on fills and only there."""

    kind: OrderEventKind
    at: datetime
    execution_id: ExecutionId | None = None
    qty: Quantity | None = None
    price: Price | None = None
    reason: str | None = None
    #: a rejection's stable reason code (``domain.risk.codes.ReasonCode``), when ours
    code: str | None = None
    replaced_by: OrderId | None = None
    detail: FillDetail | None = None
    #: USD charged for this execution (commission and regulatory fees), whole cents
    fee: Decimal | None = None

    def __post_init__(self) -> None:
        require_aware("at", self.at)
        if self.fee is not None and (
            self.fee < 0 or self.fee != self.fee.quantize(CENT, context=EXACT)
        ):
            raise ValidationFailed("fee", "whole-cents", "a fee is zero or more whole cents")
        fill_fields = (self.execution_id, self.qty, self.price)
        if self.is_fill:
            if any(value is None for value in fill_fields):
                raise ValidationFailed(
                    "event", "fill-fields", "a fill needs execution_id, qty and price"
                )
            if self.qty is not None and self.qty.is_zero:
                raise ValidationFailed("qty", "positive", "a fill quantity must be positive")
        elif any(value is not None for value in (*fill_fields, self.detail, self.fee)):
            raise ValidationFailed("event", "fill-fields", "only fills carry fill fields")
        if (self.kind is _E.REPLACED) != (self.replaced_by is not None):
            raise ValidationFailed(
                "replaced_by", "replaced-by", "replaced_by is set exactly on replaced events"
            )

    @property
    def is_fill(self) -> bool:
        return self.kind in _FILL_KINDS


@dataclass
class Order:
    """An order and its execution state. Change ``status`` only through :meth:`apply`.

    Notional orders (``notional`` set, ``qty`` ``None``) buy or sell a dollar amount; the
    broker resolves the share quantity at fill time, so ``qty`` stays ``None`` and the
    result is read from ``filled_qty``.
    """

    id: OrderId
    account_id: AccountId
    client_order_id: ClientOrderId
    symbol: Symbol
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    created_at: datetime
    qty: Quantity | None = None
    notional: Money | None = None
    limit_price: Price | None = None
    stop_price: Price | None = None
    trail_price: Price | None = None
    trail_percent: Decimal | None = None
    high_water_mark: Decimal | None = None
    #: a stop or stop-limit whose trigger was crossed (kept so a restart does not re-arm it)
    stop_triggered: bool = False
    #: the ask a market or trailing buy was reserved at when submitted (for reconcile)
    reserve_price: Decimal | None = None
    #: the most this order can pay in fees (held with a buy's reservation), whole cents
    fee_reserve: Decimal = Decimal(0)
    extended_hours: bool = False
    status: OrderStatus = OrderStatus.PENDING_NEW
    filled_qty: Decimal = Decimal(0)
    filled_notional: Decimal = Decimal(0)
    filled_avg_price: Decimal | None = None
    updated_at: datetime | None = None
    submitted_at: datetime | None = None
    filled_at: datetime | None = None
    canceled_at: datetime | None = None
    expired_at: datetime | None = None
    failed_at: datetime | None = None
    replaces: OrderId | None = None
    replaced_by: OrderId | None = None
    reject_reason: str | None = None
    reject_code: str | None = None
    #: Where a pending cancel/replace returns if the broker refuses it.
    resume_status: OrderStatus | None = None
    execution_ids: set[ExecutionId] = field(default_factory=set)
    #: the strategy instance whose runner placed the order (None: placed by a person)
    strategy_id: str | None = None

    def __post_init__(self) -> None:
        require_aware("created_at", self.created_at)
        if (self.qty is None) == (self.notional is None):
            raise ValidationFailed("qty", "qty-xor-notional", "give exactly one of qty, notional")
        if self.updated_at is None:
            self.updated_at = self.created_at

    @property
    def remaining_qty(self) -> Decimal | None:
        """Open quantity; ``None`` for notional orders (unknown until the broker fills)."""
        if self.qty is None:
            return None
        return EXACT.subtract(self.qty.value, self.filled_qty)

    def apply(self, event: OrderEvent) -> bool:
        """Apply one broker event. Returns ``False`` for an already-seen execution id.

        Raises ``IllegalTransition`` for a move the table lacks and ``Overfill`` for a fill
        past the order's size; in both cases the order is left exactly as it was.
        """
        kind = event.kind
        if event.is_fill:
            assert event.execution_id is not None
            if event.execution_id in self.execution_ids:
                return False  # replayed after a restart or a reconnect: already counted
            kind = self._fill_kind(event)
        target = _TRANSITIONS.get((self.status, kind))
        if target is None:
            raise IllegalTransition(self.status.value, event.kind.value)
        if event.is_fill:
            self._check_fill(event)
        if event.replaced_by is not None and event.replaced_by == self.id:
            raise ValidationFailed("replaced_by", "replaced-by", "an order cannot replace itself")
        previous = self.status
        if event.is_fill:
            self._record_fill(event)
        self.status = self._resolve(target, kind)
        self._stamp(event, previous)
        return True

    def _fill_kind(self, event: OrderEvent) -> OrderEventKind:
        if self.qty is None:
            return event.kind  # notional: only the broker knows when it is complete
        assert event.qty is not None
        filled = EXACT.add(self.filled_qty, event.qty.value)
        return _E.FILL if filled >= self.qty.value else _E.PARTIAL_FILL

    def _check_fill(self, event: OrderEvent) -> None:
        assert event.qty is not None and event.price is not None
        if self.qty is not None:
            filled = EXACT.add(self.filled_qty, event.qty.value)
            if filled > self.qty.value:
                raise Overfill(
                    f"fill of {event.qty} would take order {self.id} to {filled} > {self.qty}"
                )
            return
        assert self.notional is not None
        notional = EXACT.add(
            self.filled_notional, EXACT.multiply(event.qty.value, event.price.value)
        )
        if notional.quantize(CENT, rounding=ROUND_HALF_EVEN, context=EXACT) > self.notional.amount:
            raise Overfill(f"fill would take order {self.id} past its notional {self.notional}")

    def _record_fill(self, event: OrderEvent) -> None:
        assert event.execution_id is not None and event.qty and event.price
        self.execution_ids.add(event.execution_id)
        self.filled_qty = EXACT.add(self.filled_qty, event.qty.value)
        self.filled_notional = EXACT.add(
            self.filled_notional, EXACT.multiply(event.qty.value, event.price.value)
        )
        average = EXACT.divide(self.filled_notional, self.filled_qty)
        self.filled_avg_price = average.quantize(
            _AVG_QUANTUM, rounding=ROUND_HALF_EVEN, context=EXACT
        )

    def _resolve(self, target: OrderStatus, kind: OrderEventKind) -> OrderStatus:
        if target is not _S.NEW:
            return target
        resume = self.resume_status
        if kind in (_E.CANCEL_REJECTED, _E.REPLACE_REJECTED) and resume in (
            _S.ACCEPTED,
            _S.DONE_FOR_DAY,
        ):
            return resume
        return _S.PARTIALLY_FILLED if self.filled_qty > 0 else _S.NEW

    def _stamp(self, event: OrderEvent, previous: OrderStatus) -> None:
        self.updated_at = event.at
        status = self.status
        if event.kind in (_E.ACKNOWLEDGE, _E.ACCEPT_CLOSED) and self.submitted_at is None:
            self.submitted_at = event.at
        if status in _PENDING and previous not in _PENDING:
            self.resume_status = previous
        elif status not in _PENDING:
            self.resume_status = None
        elif event.kind in _ACKS:  # acknowledged while a cancel is pending: where it resumes
            self.resume_status = _S.NEW if event.kind is _E.ACKNOWLEDGE else _S.ACCEPTED
        if status is _S.FILLED:
            self.filled_at = event.at
        elif status is _S.CANCELED:
            self.canceled_at = event.at
        elif status is _S.EXPIRED:
            self.expired_at = event.at
        elif status is _S.REJECTED:
            self.failed_at = event.at
            self.reject_reason = event.reason
            self.reject_code = event.code
        elif status is _S.REPLACED:
            self.replaced_by = event.replaced_by


_STATUS_EVENT_NAMES: Final[dict[OrderStatus, str]] = {
    _S.PENDING_NEW: "pending_new",
    _S.ACCEPTED: "accepted",
    _S.NEW: "new",
    _S.PARTIALLY_FILLED: "partial_fill",
    _S.FILLED: "fill",
    _S.DONE_FOR_DAY: "done_for_day",
    _S.CANCELED: "canceled",
    _S.EXPIRED: "expired",
    _S.REJECTED: "rejected",
    _S.PENDING_CANCEL: "pending_cancel",
    _S.PENDING_REPLACE: "pending_replace",
    _S.REPLACED: "replaced",
}

_KIND_EVENT_NAMES: Final[dict[OrderEventKind, str]] = {
    _E.ACKNOWLEDGE: "new",
    _E.ACCEPT_CLOSED: "accepted",
    _E.RELEASE: "new",
    _E.REJECT: "rejected",
    _E.PARTIAL_FILL: "partial_fill",
    _E.FILL: "fill",
    _E.CANCEL_REQUESTED: "pending_cancel",
    _E.CANCELED: "canceled",
    _E.CANCEL_REJECTED: "order_cancel_rejected",
    _E.REPLACE_REQUESTED: "pending_replace",
    _E.REPLACED: "replaced",
    _E.REPLACE_REJECTED: "order_replace_rejected",
    _E.EXPIRE: "expired",
    _E.DONE_FOR_DAY: "done_for_day",
    _E.NEW_DAY: "new",
}


def order_event_name(value: OrderStatus | OrderEventKind) -> str:
    """The Alpaca ``trade_updates`` event name for a status reached or an event applied.

    For fills pass the status reached (``order.status`` after ``apply``): for qty orders
    the quantities, not the broker's label, decide between ``fill`` and ``partial_fill``.
    """
    if isinstance(value, OrderStatus):
        return _STATUS_EVENT_NAMES[value]
    return _KIND_EVENT_NAMES[value]
