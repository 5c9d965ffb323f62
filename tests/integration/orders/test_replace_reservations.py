"""Replace during a partial fill cannot spend the same cash or shares twice.

Random interleavings of client requests (submit, replace, cancel) and broker facts
(acknowledge, partial fill, fill, replaced, replace rejected, canceled) on one account
drive the real ``OrderService`` on PostgreSQL. The broker facts are the ones the paper
broker can send (``domain.paper``): a replacement is acknowledged only after the old
order is ``replaced``, it works its whole quantity whatever the old order filled in the
meantime, and it is rejected when the old order fills completely or the replace is
refused.

The test keeps its own ledger: cash and shares move by what it fills, and what the open
orders can still spend is computed here, order by order (an open limit buy can still pay
``remaining x limit``, an open sell can still deliver ``remaining`` shares; an order with a
pending replace counts as well as its replacement). After every step the service must
agree with that, hold no more than there is, and accept a submit or replace exactly when
it fits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from cluster.db import Database
from cluster.orders import exposure, ledger_repo
from cluster.orders.service import OrderService
from domain.clock import FakeClock
from domain.errors import RiskDenied
from domain.ids import ExecutionId
from domain.market_hours import MarketCalendar
from domain.money import Price, Quantity
from domain.order_request import OrderRequest, ReplaceRequest
from domain.orders import Order, OrderEvent, OrderEventKind, OrderStatus
from tests.integration.orders.conftest import OPEN_TUESDAY, FakeQuotes
from tests.kit.orders import create_account

K, S = OrderEventKind, OrderStatus
SYMBOL = "AAPL"
#: No broker actor of another test claims requests addressed to this name.
BROKER = "replace-property"
WORKING = (S.NEW, S.PARTIALLY_FILLED, S.PENDING_CANCEL, S.PENDING_REPLACE)


@dataclass
class Mine:
    """The test's own record of one order: what it asked for and what it was filled."""

    order: Order
    qty: int
    limit: Decimal
    buy: bool
    filled: int = 0
    acked: bool = False
    replaces: str | None = None

    @property
    def left(self) -> int:
        return self.qty - self.filled


class Run:
    def __init__(self, db: Database, calendar: MarketCalendar) -> None:
        self.clock = FakeClock(OPEN_TUESDAY)
        self.service = OrderService(db, self.clock, calendar, FakeQuotes(), broker_name=BROKER)
        self.account = create_account(db)
        self.cash = Decimal(0)
        self.shares = 0
        self.orders: dict[str, Mine] = {}
        self.executions = 0

    # -- what the open orders can still spend, computed here ----------------------------
    def open(self) -> list[Mine]:
        return [m for m in self.orders.values() if m.order.status.is_open]

    def held_cash(self) -> Decimal:
        return sum((m.left * m.limit for m in self.open() if m.buy), Decimal(0))

    def held_shares(self) -> int:
        return sum(m.left for m in self.open() if not m.buy)

    def fits(self, buy: bool, qty: int, limit: Decimal) -> bool:
        if buy:
            return qty * limit <= self.cash - self.held_cash()
        return qty <= self.shares - self.held_shares()

    # -- steps -----------------------------------------------------------------------
    def tick(self) -> None:
        self.clock.advance(timedelta(seconds=1))

    def facts(self, mine: Mine, *events: OrderEvent) -> None:
        mine.order = self.service.apply_events(mine.order.id, list(events))  # type: ignore[arg-type]

    def submit(self, buy: bool, qty: int, limit: Decimal) -> None:
        expected = self.fits(buy, qty, limit)
        request = OrderRequest.parse(
            symbol=SYMBOL,
            side="buy" if buy else "sell",
            type="limit",
            time_in_force="gtc",
            qty=str(qty),
            limit_price=str(limit),
        )
        order = self.service.submit(self.account, request).order
        assert (order.status is S.PENDING_NEW) == expected, order.reject_reason
        self.orders[order.id] = Mine(order, qty, limit, buy)

    def replace(self, old: Mine, qty: int | None, limit: Decimal | None) -> bool:
        new_qty, new_limit = qty or old.left, limit or old.limit
        expected = self.fits(old.buy, new_qty, new_limit)
        request = ReplaceRequest.parse(
            old.order,
            qty=None if qty is None else str(qty),
            limit_price=None if limit is None else str(limit),
        )
        try:
            old.order, new = self.service.request_replace(self.account, old.order.id, request)  # type: ignore[arg-type]
        except RiskDenied as denied:
            assert not expected, f"replace refused although it fits: {denied}"
            return False
        assert expected, "replace accepted although both orders could overspend"
        self.orders[new.id] = Mine(new, new_qty, new_limit, old.buy, replaces=old.order.id)
        return True

    def fill(self, mine: Mine, qty: int, cents_better: int) -> None:
        step = Decimal(cents_better) / 100
        price = mine.limit - step if mine.buy else mine.limit + step
        price = max(price, Decimal("0.01"))
        self.executions += 1
        kind = K.FILL if qty == mine.left else K.PARTIAL_FILL
        event = OrderEvent(
            kind,
            at=self.clock.now(),
            execution_id=ExecutionId(f"{mine.order.id}-{self.executions}"),
            qty=Quantity(Decimal(qty)),
            price=Price(price),
        )
        self.facts(mine, event)
        mine.filled += qty
        self.cash += -qty * price if mine.buy else qty * price
        self.shares += qty if mine.buy else -qty
        if mine.order.status is S.FILLED and mine.order.replaced_by:
            # The old order filled before the replace landed: the broker rejects the new one.
            self.reject(self.orders[mine.order.replaced_by], "old order filled first")

    def reject(self, mine: Mine, reason: str) -> None:
        if mine.order.status is S.PENDING_NEW:
            self.facts(mine, OrderEvent(K.REJECT, at=self.clock.now(), reason=reason))

    def confirm(self, old: Mine, ok: bool) -> None:
        assert old.order.replaced_by is not None
        new = self.orders[old.order.replaced_by]
        if ok:
            self.facts(old, OrderEvent(K.REPLACED, at=self.clock.now(), replaced_by=new.order.id))
        else:
            self.facts(old, OrderEvent(K.REPLACE_REJECTED, at=self.clock.now()))
            self.reject(new, "replace refused")

    # -- what must hold after every step ---------------------------------------------
    def check(self) -> None:
        svc, account = self.service, self.account
        cash = svc.cash(account)
        assert cash == self.cash
        held = cash - svc.buying_power(account)
        assert held == self.held_cash(), "cash reservations differ from the open orders"
        assert cash - held >= 0
        with svc.db.session() as s:
            position = ledger_repo.position(s, account, SYMBOL)
            sells = exposure.open_sells(s, account, SYMBOL)
        promised = sum((o.remaining_qty or Decimal(0) for o in sells), Decimal(0))
        assert position == self.shares
        assert promised == self.held_shares(), "share reservations differ from the open sells"
        assert position - promised >= 0
        assert svc.check_invariants(account) == []


def _choices(run: Run) -> list[str]:
    """The actions possible now, repeated to weight them: executions while a replace is
    pending (the case under test) and replaces come up more often than the rest."""
    out = ["submit", "submit"]
    for mine in run.orders.values():
        status = mine.order.status
        old = run.orders.get(mine.replaces or "")
        if status is S.PENDING_NEW and (old is None or old.order.status is S.REPLACED):
            out += ["ack", "ack", "cancel"]
        if status in WORKING and mine.acked:
            weight = 4 if status is S.PENDING_REPLACE else 1
            out += (["fill", "partial", "partial"] if mine.left > 1 else ["fill"]) * weight
        if status in (S.NEW, S.PARTIALLY_FILLED):
            out += ["replace", "replace", "replace", "cancel"]
        if status is S.PENDING_REPLACE:
            out += ["replaced", "replace_rejected"]
        if status is S.PENDING_CANCEL:
            out += ["canceled"]
    return sorted(out)


def _pick(data: st.DataObject, run: Run, action: str) -> Mine:
    def eligible(m: Mine) -> bool:
        status = m.order.status
        old = run.orders.get(m.replaces or "")
        return {
            "ack": status is S.PENDING_NEW and (old is None or old.order.status is S.REPLACED),
            "cancel": status in (S.NEW, S.PARTIALLY_FILLED)
            or (status is S.PENDING_NEW and (old is None or old.order.status is S.REPLACED)),
            "fill": status in WORKING and m.acked,
            "partial": status in WORKING and m.acked and m.left > 1,
            "replace": status in (S.NEW, S.PARTIALLY_FILLED),
            "replaced": status is S.PENDING_REPLACE,
            "replace_rejected": status is S.PENDING_REPLACE,
            "canceled": status is S.PENDING_CANCEL,
        }[action]

    ids = [oid for oid, m in run.orders.items() if eligible(m)]
    return run.orders[data.draw(st.sampled_from(ids), label=f"{action} order")]


qtys = st.integers(min_value=1, max_value=8)
limits = st.integers(min_value=5, max_value=40).map(lambda d: Decimal(d))


def _step(data: st.DataObject, run: Run) -> None:
    action = data.draw(st.sampled_from(_choices(run)), label="action")
    if action == "submit":
        run.submit(data.draw(st.booleans(), label="buy"), data.draw(qtys), data.draw(limits))
        return
    mine = _pick(data, run, action)
    if action == "ack":
        run.facts(mine, OrderEvent(K.ACKNOWLEDGE, at=run.clock.now()))
        mine.acked = True
    elif action == "cancel":
        mine.order = run.service.request_cancel(run.account, mine.order.id)  # type: ignore[arg-type]
    elif action in ("fill", "partial"):
        if mine.order.status is S.PENDING_REPLACE:
            event(f"{action} of an order with a pending replace")
        shares = mine.left if action == "fill" else data.draw(st.integers(1, mine.left - 1))
        run.fill(mine, shares, data.draw(st.integers(0, 3), label="cents better"))
    elif action == "replace":
        new_qty = data.draw(st.none() | qtys, label="new qty")
        new_limit = data.draw(st.none() | limits, label="new limit")
        if new_qty is None and new_limit is None:
            new_limit = mine.limit + 1
        accepted = run.replace(mine, new_qty, new_limit)
        event("replace " + ("accepted" if accepted else "refused"))
    elif action in ("replaced", "replace_rejected"):
        run.confirm(mine, action == "replaced")
    elif action == "canceled":
        run.facts(mine, OrderEvent(K.CANCELED, at=run.clock.now()))


@pytest.mark.timeout(120)
@settings(
    max_examples=15,
    deadline=None,
    database=None,
    # No shrinking: each example is a few hundred statements on PostgreSQL, and a failure
    # already prints its steps (labelled draws) in order.
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    data=st.data(),
    cash=st.integers(min_value=100, max_value=1000),
    steps=st.integers(min_value=6, max_value=20),
)
def test_replace_never_lets_cash_or_shares_go_below_zero(
    orders_db: Database, calendar: MarketCalendar, data: st.DataObject, cash: int, steps: int
) -> None:
    run = Run(orders_db, calendar)
    run.service.fund(run.account, Decimal(cash))
    run.cash = Decimal(cash)
    # Start with 8 shares, bought through the service like any other.
    run.submit(True, 8, Decimal(10))
    first = next(iter(run.orders.values()))
    run.facts(first, OrderEvent(K.ACKNOWLEDGE, at=run.clock.now()))
    first.acked = True
    run.fill(first, 8, 0)
    run.check()
    for _ in range(steps):
        run.tick()
        _step(data, run)
        run.check()


def _fill(run: Run, mine: Mine, qty: int) -> None:
    run.tick()
    run.fill(mine, qty, 0)
    run.check()


def test_partial_fill_during_a_replace_cannot_overdraw(
    orders_db: Database, calendar: MarketCalendar
) -> None:
    """The case of the issue: 10 @ 50 replaced by 10 @ 60; the old order fills 9 before
    the replace lands and the replacement then fills all 10."""
    run = Run(orders_db, calendar)
    run.service.fund(run.account, Decimal(1000))
    run.cash = Decimal(1000)
    run.submit(True, 10, Decimal(50))
    (old,) = run.orders.values()
    run.facts(old, OrderEvent(K.ACKNOWLEDGE, at=run.clock.now()))
    old.acked = True
    run.replace(old, None, Decimal(60))  # 500 + 600 > 1000: refused
    assert old.order.status is S.NEW and len(run.orders) == 1
    run.service.fund(run.account, Decimal(100))
    run.cash += 100
    run.replace(old, None, Decimal(60))
    assert run.service.buying_power(run.account) == 0
    _fill(run, old, 9)  # 450 spent; 50 + 600 still held
    assert run.service.buying_power(run.account) == 0
    run.confirm(old, ok=True)
    run.check()
    assert run.service.buying_power(run.account) == Decimal(50)  # the old 1 x 50 released
    (new,) = (m for m in run.orders.values() if m.replaces == old.order.id)
    run.facts(new, OrderEvent(K.ACKNOWLEDGE, at=run.clock.now()))
    new.acked = True
    _fill(run, new, 10)
    assert run.service.cash(run.account) == Decimal(50)


def test_replacing_a_sell_keeps_both_sells_promised(
    orders_db: Database, calendar: MarketCalendar
) -> None:
    run = Run(orders_db, calendar)
    run.service.fund(run.account, Decimal(100))
    run.cash = Decimal(100)
    run.submit(True, 10, Decimal(10))
    (bought,) = run.orders.values()
    run.facts(bought, OrderEvent(K.ACKNOWLEDGE, at=run.clock.now()))
    bought.acked = True
    _fill(run, bought, 10)
    run.submit(False, 5, Decimal(12))
    sell = next(m for m in run.orders.values() if not m.buy)
    run.facts(sell, OrderEvent(K.ACKNOWLEDGE, at=run.clock.now()))
    sell.acked = True
    run.replace(sell, 6, None)  # 5 + 6 > 10 shares: refused
    assert sell.order.status is S.NEW
    run.replace(sell, None, Decimal(13))  # 5 + 5 <= 10
    assert sell.order.status is S.PENDING_REPLACE
    _fill(run, sell, 4)
    run.confirm(sell, ok=False)  # the replace is refused: the replacement is rejected
    run.check()
    assert sell.order.status is S.PARTIALLY_FILLED
