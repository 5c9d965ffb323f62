"""The kill switch: halt a scope, cancel every open order in it (acknowledged or not), and
optionally flatten its positions, in one call.

Order of work: the halt is committed first (so no new order of the scope gets through
once it is acknowledged); then a cancel request for every open order of the scope (a
``pending_new`` order that never left the outbox ends ``canceled`` without the broker);
then, with ``flatten``, once those cancels have settled (an open sell would otherwise
still hold the shares), one market sell per long position. Flatten orders carry the
``FLATTEN_PREFIX`` client order id: the broker boundary lets a reducing order with it
through a halt (the submit-side gate never exempts anything, so a client cannot use it).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from cluster.orders import tables
from cluster.orders.service import OrderService
from cluster.risk.engine import RiskEngine
from cluster.tables import accounts
from domain.errors import DomainError, ValidationFailed
from domain.ids import AccountId
from domain.order_request import OrderRequest
from domain.orders import Side
from domain.risk.gate import FLATTEN_PREFIX
from domain.risk.states import Scope, ScopeKind, TradingState

_OPEN = tables.OPEN_STATUSES


@dataclass
class KillReport:
    scope: str
    halted: dict[str, Any]
    canceled: list[str] = field(default_factory=list)
    flattened: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def to_wire(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "halt": self.halted,
            "canceled": self.canceled,
            "flatten_orders": self.flattened,
            "refused": self.refused,
        }


def _open_orders(orders: OrderService, scope: Scope) -> list[tuple[str, str]]:
    t = tables.orders
    q = select(t.c.account_id, t.c.id).where(t.c.status.in_(_OPEN))
    if scope.kind is ScopeKind.ACCOUNT:
        q = q.where(t.c.account_id == uuid.UUID(scope.key))
    elif scope.kind is ScopeKind.SYMBOL:
        q = q.where(t.c.symbol == scope.key)
    with orders.db.session() as s:
        return [(str(a), str(o)) for a, o in s.execute(q.order_by(t.c.created_at))]


def _accounts(orders: OrderService, scope: Scope) -> list[str]:
    if scope.kind is ScopeKind.ACCOUNT:
        return [scope.key]
    with orders.db.session() as s:
        return [str(a) for a in s.execute(select(accounts.c.id)).scalars()]


def kill_switch(
    engine: RiskEngine,
    orders: OrderService,
    scope: Scope,
    *,
    by: str,
    reason: str,
    flatten: bool = False,
    settle_s: float = 15.0,
) -> KillReport:
    if scope.kind is ScopeKind.STRATEGY:
        raise ValidationFailed("scope", "kill-switch-scope", "strategies have no orders yet")
    if scope.kind is ScopeKind.ACCOUNT:
        try:
            uuid.UUID(scope.key)
        except ValueError as exc:  # checked before the halt: nothing to undo
            raise ValidationFailed("scope", "account-id", "an account scope names an id") from exc
    why = f"kill switch{' with flatten' if flatten else ''}: {reason}"
    report = KillReport(str(scope), engine.set_state(scope, TradingState.HALTED, reason=why, by=by))
    for account, order_id in _open_orders(orders, scope):
        try:
            orders.request_cancel(AccountId(account), order_id)  # type: ignore[arg-type]
            report.canceled.append(order_id)
        except DomainError as exc:
            report.refused.append(f"cancel {order_id}: {exc.message}")
    if not flatten:
        return report
    deadline = time.monotonic() + settle_s
    while _open_orders(orders, scope) and time.monotonic() < deadline:
        time.sleep(0.05)
    for account in _accounts(orders, scope):
        for p in orders.positions(AccountId(account)):
            if scope.kind is ScopeKind.SYMBOL and p.symbol != scope.key:
                continue
            if p.qty <= 0:
                continue
            request = OrderRequest.parse(
                symbol=p.symbol,
                side=Side.SELL.value,
                type="market",
                time_in_force="day",
                qty=str(p.qty),
                client_order_id=f"{FLATTEN_PREFIX}{uuid.uuid4().hex[:20]}",
            )
            result = orders.submit(AccountId(account), request)
            if result.order.reject_reason:
                report.refused.append(f"flatten {p.symbol}: {result.order.reject_reason}")
            else:
                report.flattened.append(str(result.order.id))
    return report
