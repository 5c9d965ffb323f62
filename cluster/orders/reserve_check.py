"""The reservation checks of ``elson reconcile``: every open order, priced and named.

A market or trailing-stop buy reserves ``qty x ask x (1 + buffer)``, so checking it needs
a price. Reconcile takes the latest ask the quote lookup knows (the feed cache: source
``quote``) and, without one, the ask the order was reserved at when it was submitted
(``orders.reserve_price``: source ``reserve_price``). An open buy that has neither cannot
be valued and is reported (``reservation-price``), never silently left out. Every other
order prices itself (its limit, stop, notional or trailing water mark: source ``order``).
A notional sell promises ``notional / bid`` shares; with no bid here it is listed as not
valued and left out of the share check.

What must hold per account, with the replace rule of ``risk.reserved_cash`` (an order
with a pending replace and its replacement both count):

- ``reservations``: the open buys together reserve no more than the cash;
- ``reservations-sql``: the sum PostgreSQL computes for the submit path
  (``exposure.sql_reserved``) equals the Python one over the same orders;
- ``sell-reservations``: the open sells of a symbol promise no more shares than held.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.orm import Session

from cluster.orders import exposure, ledger_repo
from cluster.orders import repository as repo
from cluster.orders.types import Difference, QuoteLookup
from domain.ledger import CASH, position_account, reservation
from domain.money import EXACT
from domain.orders import Order, OrderType, Side
from domain.risk import checks as risk

ZERO = Decimal(0)
AskLookup = Callable[[list[Order]], dict[str, Decimal]]
QUOTE, RESERVE_PRICE, ORDER, NONE = "quote", "reserve_price", "order", "none"


@dataclass(frozen=True, slots=True)
class Priced:
    """What one open order holds back (cash for a buy, shares for a sell) and the price
    it was valued at; ``held`` is ``None`` when no price was known."""

    order: Order
    held: Decimal | None
    price: Decimal | None
    source: str
    basis: str

    def __str__(self) -> str:
        o = self.order
        what = f"order {o.id} {o.side.value} {o.type.value} {o.symbol}"
        if self.held is None:
            held = "not valued"
        else:
            held = f"holds {self.held:.2f}" if o.side is Side.BUY else f"holds {_fmt(self.held)}"
        if self.source == ORDER:
            used = "priced by the order itself"
        elif self.price is None:
            used = "no price"
        else:
            used = f"price {_fmt(self.price)} from {self.source}"
        return f"priced: account {o.account_id} {what}: {held} ({self.basis}; {used})"


def asks_from(quotes: QuoteLookup) -> AskLookup:
    """An ``AskLookup`` over a quote port: the latest positive ask of each symbol."""

    def lookup(opens: list[Order]) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for symbol in sorted({str(o.symbol) for o in opens if risk.needs_ask(o)}):
            quote = quotes.latest_quote(symbol)
            if quote is not None and quote.ask_price > 0:
                out[symbol] = quote.ask_price
        return out

    return lookup


def price(order: Order, asks: Mapping[str, Decimal], buffer_bps: Decimal) -> Priced:
    if order.side is Side.SELL:
        if order.notional is not None:
            return Priced(order, None, None, NONE, "notional sell: shares unknown without a bid")
        held = max(ZERO, order.remaining_qty or ZERO)
        return Priced(order, held, None, ORDER, f"{_fmt(held)} shares")
    if not risk.needs_ask(order) or _marked(order):
        held = risk.reserved_cash([order], {}, buffer_bps)
        return Priced(order, held, None, ORDER, reservation(order, None, buffer_bps).basis)
    symbol = str(order.symbol)
    if symbol in asks:
        ask, source = asks[symbol], QUOTE
    elif order.reserve_price is not None:
        ask, source = order.reserve_price, RESERVE_PRICE
    else:
        return Priced(order, None, None, NONE, "no quote and no reserve_price")
    held = risk.reserved_cash([order], {symbol: ask}, buffer_bps)
    return Priced(order, held, ask, source, reservation(order, ask, buffer_bps).basis)


def priced(
    s: Session, account_id: str | None, *, asks: AskLookup, buffer_bps: Decimal
) -> list[Priced]:
    """Every open order of the account (or of all accounts), valued."""
    by_account: dict[str, list[Order]] = defaultdict(list)
    for order in repo.open_orders(s, account_id=account_id):
        by_account[order.account_id].append(order)
    out: list[Priced] = []
    for _, opens in sorted(by_account.items()):
        prices = asks(opens)
        out.extend(price(o, prices, buffer_bps) for o in opens)
    return out


def check(
    s: Session, account_id: str | None, *, asks: AskLookup, buffer_bps: Decimal
) -> list[Difference]:
    by_account: dict[str, list[Priced]] = defaultdict(list)
    for p in priced(s, account_id, asks=asks, buffer_bps=buffer_bps):
        by_account[p.order.account_id].append(p)
    out: list[Difference] = []
    for acc, items in sorted(by_account.items()):
        posted = ledger_repo.posted_balances(s, acc)  # the postings: the truth
        buys = [p for p in items if p.order.side is Side.BUY]
        out.extend(_buys(s, acc, buys, posted.get(CASH, ZERO), buffer_bps))
        out.extend(_sells(acc, [p for p in items if p.order.side is Side.SELL], posted))
    return out


def _buys(
    s: Session, acc: str, buys: list[Priced], cash: Decimal, buffer_bps: Decimal
) -> list[Difference]:
    out = [
        Difference("reservation-price", acc, _subject(p.order), "a quote or reserve_price", NONE)
        for p in buys
        if p.held is None
    ]
    held = _total(p.held for p in buys)
    if held > cash:
        shown = "; ".join(
            f"{p.order.id} at {_fmt(p.price)} from {p.source}" for p in buys if p.price is not None
        )
        subject = "open buy reservations" + (f" (priced: {shown})" if shown else "")
        out.append(Difference("reservations", acc, subject, f"<= {_fmt(cash)}", _fmt(held)))
    in_sql = exposure.sql_reserved(s, acc, buffer_bps)
    in_python = _total(p.held for p in buys if not risk.needs_ask(p.order))
    if in_sql != in_python:
        subject = "open buy reservations summed in SQL"
        out.append(Difference("reservations-sql", acc, subject, _fmt(in_python), _fmt(in_sql)))
    return out


def _sells(acc: str, sells: list[Priced], posted: Mapping[str, Decimal]) -> list[Difference]:
    promised: dict[str, list[Decimal | None]] = defaultdict(list)
    for p in sells:
        promised[str(p.order.symbol)].append(p.held)
    out = []
    for symbol, held in sorted(promised.items()):
        total = _total(held)
        position = posted.get(position_account(symbol), ZERO)
        if total > position:
            out.append(
                Difference(
                    "sell-reservations",
                    acc,
                    f"open sells of {symbol}",
                    f"<= {_fmt(position)}",
                    _fmt(total),
                )
            )
    return out


def _marked(order: Order) -> bool:
    """A trailing stop that has seen the market prices itself from its water mark."""
    return order.type is OrderType.TRAILING_STOP and (
        order.stop_price is not None or order.high_water_mark is not None
    )


def _subject(order: Order) -> str:
    return f"order {order.id} ({order.type.value} {order.side.value} {order.symbol})"


def _total(values: Iterable[Decimal | None]) -> Decimal:
    total = ZERO
    for value in values:
        if value is not None:
            total = EXACT.add(total, value)
    return total


def _fmt(value: Decimal | None) -> str:
    if value is None:
        return "none"
    return "0" if value == 0 else format(value.normalize(), "f")
