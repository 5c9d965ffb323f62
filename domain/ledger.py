"""Double-entry ledger for one trading account: entries are facts, balances are derived.

Ledger accounts and their unit (the unit is implied by the account name):

- ``cash`` (USD): money the trading account holds.
- ``fees`` (USD): fees paid, grows positive.
- ``trades`` (USD): the contra account for the cash leg of every fill (what we paid the
  market for shares, net of what it paid us).
- ``funding`` (USD): the contra account for deposits, withdrawals and resets.
- ``position:<SYMBOL>`` (shares of SYMBOL): shares held.
- ``market:<SYMBOL>`` (shares of SYMBOL): the contra account for shares bought or sold.

Every ``JournalEntry`` balances per unit: its USD postings sum to zero, and for each
symbol its share postings sum to zero. An unbalanced entry cannot be built.

Rounding happens in one place: ``fill_entry`` quantizes the gross notional of each fill
(``qty * price``) to cents with ROUND_HALF_EVEN, and fees to cents likewise. Every USD
posting is therefore a whole number of cents, so sums are exact and the ledger is
correct to the cent. Three fills of 1 @ 33.333 cost 3 x 33.33 = 99.99; one fill of
3 @ 33.333 costs 100.00 — the broker charges per execution, and so do we.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import Protocol

from domain.errors import DomainError, ValidationFailed
from domain.ids import Symbol
from domain.money import CENT, EXACT, Money, Price, Quantity, to_decimal
from domain.orders import OrderType, Side

USD = "USD"
ZERO = Decimal(0)
#: A number as the ledger takes it: a plain Decimal or one of the money value objects.
Amount = Decimal | int | str | Money | Price | Quantity

CASH = "cash"
FEES = "fees"
TRADES = "trades"
FUNDING = "funding"
_USD_ACCOUNTS = frozenset({CASH, FEES, TRADES, FUNDING})
_POSITION = "position:"
_MARKET = "market:"


class EntryKind(StrEnum):
    FUNDING = "funding"
    FILL = "fill"
    FEE = "fee"
    RESET = "reset"


def position_account(symbol: str) -> str:
    return f"{_POSITION}{_symbol(symbol)}"


def market_account(symbol: str) -> str:
    return f"{_MARKET}{_symbol(symbol)}"


def unit_of(account: str) -> str:
    """``USD`` for the money accounts, ``shares:<SYMBOL>`` for share accounts."""
    if account in _USD_ACCOUNTS:
        return USD
    for prefix in (_POSITION, _MARKET):
        if account.startswith(prefix) and len(account) > len(prefix):
            return f"shares:{account[len(prefix) :]}"
    raise ValidationFailed(
        "account", "unknown-ledger-account", f"unknown ledger account {account!r}"
    )


def to_cents(amount: Decimal) -> Decimal:
    """The one rounding rule for money: cents, banker's rounding."""
    return amount.quantize(CENT, rounding=ROUND_HALF_EVEN, context=EXACT)


@dataclass(frozen=True, slots=True)
class Posting:
    account: str
    amount: Decimal

    def __post_init__(self) -> None:
        to_decimal(self.amount, "amount")
        if unit_of(self.account) == USD and self.amount != to_cents(self.amount):
            raise ValidationFailed("amount", "whole-cents", f"{self.account}: {self.amount}")

    @property
    def unit(self) -> str:
        return unit_of(self.account)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One balanced business fact. ``id`` is deterministic so replays are idempotent."""

    id: str
    account_id: str
    kind: EntryKind
    at: datetime
    memo: str
    postings: tuple[Posting, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not self.postings:
            raise DomainError(f"journal entry {self.id} has no postings")
        if self.at.tzinfo is None:
            raise ValidationFailed("at", "timezone-aware")
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for posting in self.postings:
            totals[posting.unit] += posting.amount
        unbalanced = {unit: total for unit, total in totals.items() if total != 0}
        if unbalanced:
            raise DomainError(f"journal entry {self.id} is unbalanced: {unbalanced}")


def funding_entry(
    account_id: str, amount: Amount, at: datetime, entry_id: str | None = None
) -> JournalEntry:
    """A deposit (positive) or withdrawal (negative), in whole cents."""
    value = _dec("amount", amount)
    if value == 0 or value != to_cents(value):
        raise ValidationFailed(
            "amount", "non-zero-whole-cents", "amount must be whole cents, not 0"
        )
    return JournalEntry(
        id=entry_id or f"funding:{account_id}:{at.isoformat()}",
        account_id=account_id,
        kind=EntryKind.FUNDING,
        at=at,
        memo="deposit" if value > 0 else "withdrawal",
        postings=(Posting(CASH, value), Posting(FUNDING, -value)),
    )


def fill_entry(
    account_id: str,
    symbol: str,
    side: Side | str,
    qty: Amount,
    price: Amount,
    fee: Amount,
    at: datetime,
    execution_id: str,
) -> JournalEntry:
    """One execution. Buy: cash -(gross + fee), position +qty. Sell: cash +(gross - fee).

    ``gross = to_cents(qty * price)`` and ``fee = to_cents(fee)``: the only rounding.
    The id is ``fill:<execution_id>``, so a fill seen twice maps to one entry.
    """
    q = _positive("qty", qty)
    p = _positive("price", price)
    fee_c = to_cents(_dec("fee", fee))
    if fee_c < 0:
        raise ValidationFailed("fee", "non-negative", "fee must not be negative")
    sign = 1 if _side(side) is Side.BUY else -1
    gross = to_cents(EXACT.multiply(q, p))
    postings = [
        Posting(CASH, -sign * gross - fee_c),
        Posting(TRADES, sign * gross),
        Posting(position_account(symbol), sign * q),
        Posting(market_account(symbol), -sign * q),
    ]
    if fee_c:
        postings.append(Posting(FEES, fee_c))
    return JournalEntry(
        id=f"fill:{execution_id}",
        account_id=account_id,
        kind=EntryKind.FILL,
        at=at,
        memo=f"{'buy' if sign > 0 else 'sell'} {q} {_symbol(symbol)} @ {p}",
        postings=tuple(postings),
    )


def fee_entry(
    account_id: str, amount: Amount, at: datetime, entry_id: str, memo: str = "fee"
) -> JournalEntry:
    """A fee not tied to one fill (regulatory, platform), rounded to cents."""
    fee_c = to_cents(_positive("amount", amount))
    if fee_c == 0:
        raise ValidationFailed("amount", "at-least-one-cent", "a fee below half a cent rounds to 0")
    return JournalEntry(
        id=entry_id,
        account_id=account_id,
        kind=EntryKind.FEE,
        at=at,
        memo=memo,
        postings=(Posting(CASH, -fee_c), Posting(FEES, fee_c)),
    )


def reset_entry(
    account_id: str,
    postings: Iterable[Posting],
    starting_cash: Amount,
    at: datetime,
    entry_id: str,
) -> JournalEntry:
    """Close every balance (USD against ``funding``, shares against ``market:``), then fund.

    A paper account reset is an entry, not a deletion: the history stays auditable.
    """
    start = _dec("starting_cash", starting_cash)
    if start < 0 or start != to_cents(start):
        raise ValidationFailed("starting_cash", "non-negative-whole-cents", "whole cents, >= 0")
    closing: dict[str, Decimal] = defaultdict(Decimal)
    for account, balance in balances(postings).items():
        if account == FUNDING or account.startswith(_MARKET) or balance == 0:
            continue  # contra accounts: they absorb the closing lines below
        closing[account] -= balance
        contra = FUNDING if unit_of(account) == USD else _contra_of(account)
        closing[contra] += balance
    closing[CASH] += start
    closing[FUNDING] -= start
    lines = tuple(Posting(a, amt) for a, amt in sorted(closing.items()) if amt != 0)
    if not lines:  # resetting an empty account to zero: nothing moves, but it is a fact
        lines = (Posting(CASH, ZERO), Posting(FUNDING, ZERO))
    return JournalEntry(
        id=entry_id,
        account_id=account_id,
        kind=EntryKind.RESET,
        at=at,
        memo=f"reset to {start} USD",
        postings=lines,
    )


def postings_of(entries: Iterable[JournalEntry]) -> list[Posting]:
    return [p for entry in entries for p in entry.postings]


def balances(postings: Iterable[Posting]) -> dict[str, Decimal]:
    """Balance of each ledger account, derived from postings (never stored)."""
    out: dict[str, Decimal] = defaultdict(Decimal)
    for posting in postings:
        out[posting.account] = EXACT.add(out[posting.account], posting.amount)
    return dict(out)


def position_qty(postings: Iterable[Posting], symbol: str) -> Decimal:
    return balances(postings).get(position_account(symbol), ZERO)


def cash(postings: Iterable[Posting]) -> Decimal:
    return balances(postings).get(CASH, ZERO)


def positions(postings: Iterable[Posting]) -> Mapping[str, Decimal]:
    """Non-zero share holdings by symbol."""
    return {
        account[len(_POSITION) :]: qty
        for account, qty in balances(postings).items()
        if account.startswith(_POSITION) and qty != 0
    }


# -- buying power ----------------------------------------------------------------------
#
# Cash already spent is in the ledger; cash promised to open buy orders is not. Buying
# power subtracts a reservation per open buy order, computed from what the order can cost
# at worst (within a buffer for orders without a price cap). Reservations are rounded UP
# to the cent: we would rather refuse a cent too early than overdraw by one.
#
# Every open order reserves on its own, an order with a pending replace included: its
# remainder can fill until the broker confirms the replace, and the replacement works
# its whole quantity afterwards, so the worst case of the pair is the sum of the two.
# The same holds for the shares promised by sells (``sellable_qty``).

DEFAULT_BUFFER_BPS = Decimal("50")
_BPS = Decimal(10_000)


class Reservable(Protocol):
    """What a reservation reads from an ``Order`` or an order request."""

    @property
    def symbol(self) -> str: ...
    @property
    def side(self) -> object: ...
    @property
    def type(self) -> object: ...
    @property
    def qty(self) -> object: ...
    @property
    def notional(self) -> object: ...
    @property
    def limit_price(self) -> object: ...
    @property
    def stop_price(self) -> object: ...


@dataclass(frozen=True, slots=True)
class Reservation:
    """Cash held back for one open order, and how it was computed (for the denial text)."""

    amount: Decimal
    basis: str

    @classmethod
    def none(cls, basis: str) -> Reservation:
        return cls(ZERO, basis)


def reservation(
    order: Reservable, quote_ask: Amount | None = None, buffer_bps: Amount = DEFAULT_BUFFER_BPS
) -> Reservation:
    """What an open buy holds back: its cash reservation (below) plus its ``fee_reserve``,
    the most it can pay in fees (``domain.fees.FeeModel.fee_reserve``, set at submit; 0
    when absent). ``cluster.orders.exposure`` sums the same in SQL."""
    held = _cash_reservation(order, quote_ask, buffer_bps)
    fee = _dec("fee_reserve", getattr(order, "fee_reserve", None) or ZERO)
    if fee == 0 or _side(order.side) is Side.SELL:
        return held
    return Reservation(EXACT.add(held.amount, fee), f"{held.basis} + fees {fee}")


def _cash_reservation(
    order: Reservable, quote_ask: Amount | None = None, buffer_bps: Amount = DEFAULT_BUFFER_BPS
) -> Reservation:
    """Cash an open order may still consume; only its unfilled part is reserved.

    market: qty x ask x (1+buffer); limit and stop-limit: qty x limit; stop and trailing
    stop: qty x stop x (1+buffer) (a trailing stop's stop is derived from its water mark
    or, before the first one, the ask); notional: the unfilled notional; sells: 0.
    """
    if _side(order.side) is Side.SELL:
        return Reservation.none("sell orders reserve shares, not cash")
    buffer = _dec("buffer_bps", buffer_bps)
    if buffer < 0:
        raise ValidationFailed("buffer_bps", "non-negative", "buffer_bps must be >= 0")
    factor = EXACT.add(Decimal(1), EXACT.divide(buffer, _BPS))
    if order.notional is not None:
        filled = _dec("filled_notional", getattr(order, "filled_notional", ZERO) or ZERO)
        left = max(ZERO, EXACT.subtract(_dec("notional", order.notional), filled))
        return Reservation(_cents_up(left), f"notional {left}")
    qty = _open_qty(order)
    kind = OrderType(str(order.type))
    if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        limit = _positive("limit_price", order.limit_price)
        return Reservation(_cents_up(EXACT.multiply(qty, limit)), f"{qty} x limit {limit}")
    if kind is OrderType.MARKET:
        price = _quote(order, quote_ask)
        basis = f"{qty} x ask {price} x (1 + {buffer} bps)"
    elif kind is OrderType.STOP:
        price = _positive("stop_price", order.stop_price)
        basis = f"{qty} x stop {price} x (1 + {buffer} bps)"
    else:
        price = _trailing_stop(order, quote_ask)
        basis = f"{qty} x trailing stop {price} x (1 + {buffer} bps)"
    return Reservation(_cents_up(EXACT.multiply(EXACT.multiply(qty, price), factor)), basis)


def buying_power(
    cash: Amount,
    open_buy_orders: Iterable[Reservable],
    quotes: Mapping[str, Amount],
    buffer_bps: Amount = DEFAULT_BUFFER_BPS,
) -> Decimal:
    """Cash minus the reservations of open buy orders (sells and closed orders count 0).

    ``quotes`` maps symbol to ask; a market buy without a quote fails closed.
    """
    total = _dec("cash", cash)
    for order in open_buy_orders:
        if _is_closed(order) or _side(order.side) is not Side.BUY:
            continue
        held = reservation(order, quotes.get(str(order.symbol)), buffer_bps)
        total = EXACT.subtract(total, held.amount)
    return total


def sellable_qty(
    position: Amount,
    open_sell_orders: Iterable[Reservable],
    bids: Mapping[str, Amount] | None = None,
) -> Decimal:
    """Shares held minus shares promised to open sells, never below 0.

    A notional sell promises ``notional / bid`` shares; without a bid it fails closed.
    """
    left = _dec("position", position)
    for order in open_sell_orders:
        if _is_closed(order) or _side(order.side) is not Side.SELL:
            continue
        if order.notional is not None:
            bid = (bids or {}).get(str(order.symbol))
            if bid is None:
                raise ValidationFailed("quote", "quote-required", f"no bid for {order.symbol}")
            promised = EXACT.divide(_dec("notional", order.notional), _positive("bid", bid))
        else:
            promised = _open_qty(order)
        left = EXACT.subtract(left, promised)
    return max(ZERO, left)


def _open_qty(order: Reservable) -> Decimal:
    qty = _positive("qty", order.qty)
    filled = _dec("filled_qty", getattr(order, "filled_qty", ZERO) or ZERO)
    return max(ZERO, EXACT.subtract(qty, filled))


def _quote(order: Reservable, quote_ask: Amount | None) -> Decimal:
    if quote_ask is None:
        raise ValidationFailed("quote", "quote-required", f"no ask for {order.symbol}")
    return _positive("quote_ask", quote_ask)


def _trailing_stop(order: Reservable, quote_ask: Amount | None) -> Decimal:
    """A buy trailing stop triggers at (lowest price seen) + trail; before any, the ask."""
    if order.stop_price is not None:
        return _positive("stop_price", order.stop_price)
    mark = getattr(order, "high_water_mark", None)
    ref = _positive("high_water_mark", mark) if mark is not None else _quote(order, quote_ask)
    trail_price = getattr(order, "trail_price", None)
    if trail_price is not None:
        return EXACT.add(ref, _positive("trail_price", trail_price))
    percent = _positive("trail_percent", getattr(order, "trail_percent", None))
    return EXACT.multiply(ref, EXACT.add(Decimal(1), EXACT.divide(percent, Decimal(100))))


def _is_closed(order: object) -> bool:
    status = getattr(order, "status", None)
    return bool(getattr(status, "is_terminal", False))


def _cents_up(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_CEILING, context=EXACT)


def _contra_of(position: str) -> str:
    return market_account(position[len(_POSITION) :])


def _side(side: object) -> Side:
    try:
        return Side(str(side).lower())
    except ValueError as exc:
        raise ValidationFailed("side", "buy-or-sell", f"unknown side {side!r}") from exc


def _symbol(symbol: str) -> str:
    return str(Symbol(symbol))


def _dec(name: str, value: object) -> Decimal:
    """Unwrap a money value object, or check a primitive (floats are refused)."""
    if isinstance(value, Money):
        if value.currency != USD:
            raise ValidationFailed(name, "currency-mismatch", f"{name} must be in USD")
        return value.amount
    if isinstance(value, Price | Quantity):
        return value.value
    return to_decimal(value, name)


def _positive(name: str, value: object) -> Decimal:
    number = _dec(name, value)
    if number <= 0:
        raise ValidationFailed(name, "positive", f"{name} must be greater than 0")
    return number
