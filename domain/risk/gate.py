"""The whole pre-trade risk gate as one value: a snapshot plus the limits per scope.

``RiskBook`` is what a Serve replica holds and what the dispatcher re-checks at the broker
boundary. Its ``denial`` runs, in a fixed order: the broker's breaker, an exchange halt
(a lock by ``exchange``: a LULD pause of the symbol, or a market-wide halt on the global
scope), the trading states and locks of the scopes the order touches
(``RiskSnapshot.denial``), then the limits of every scope that applies (each must pass).

The facts that cost a query (the position, the account's recent order count) are asked
only when a rule needs them: ``needs_position`` says so up front, and the recent count
is a callback the caller answers from the database under the account lock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from domain.errors import RiskDenied, ValidationFailed
from domain.orders import Side
from domain.risk.codes import Denial, ReasonCode
from domain.risk.limits import RiskLimits, limit_denial
from domain.risk.snapshot import Lock, RiskSnapshot
from domain.risk.states import Scope, TradingState

__all__ = ["EXCHANGE", "RiskBook", "denied_error", "limits_from_wire", "limits_to_wire"]

#: Client order id prefix of the kill switch's flatten orders: the broker boundary lets a
#: reducing order with it through a halt (``RiskBook.boundary_denial``).
FLATTEN_PREFIX = "risk-flatten-"

#: Who sets exchange halts (``Lock.by``): the gate answers ``symbol_halted`` for them.
EXCHANGE = "exchange"

_DECIMALS = ("max_order_notional", "max_position_qty", "max_position_notional")


def denied_error(denial: Denial, *, order_id: str | None = None) -> RiskDenied:
    """The error a route raises for a denial: its problem type is the code's slug
    (``/problems/trading-halted``), and it names the stored rejected order if any."""
    error = RiskDenied(denial.code.value, denial.message)
    error.problem_slug = denial.code.slug  # type: ignore[attr-defined]
    error.order_id = order_id  # type: ignore[attr-defined]
    return error


def limits_to_wire(limits: RiskLimits) -> dict[str, Any]:
    out: dict[str, Any] = {
        name: None if getattr(limits, name) is None else str(getattr(limits, name))
        for name in _DECIMALS
    }
    out["max_orders"] = limits.max_orders
    out["per_s"] = limits.per.total_seconds()
    return out


def limits_from_wire(data: Mapping[str, Any]) -> RiskLimits:
    if not isinstance(data, Mapping):
        raise ValidationFailed("limits", "wire-format", "limits must be an object")
    try:
        values: dict[str, Any] = {
            name: None if data.get(name) is None else Decimal(str(data[name])) for name in _DECIMALS
        }
        max_orders = data.get("max_orders")
        values["max_orders"] = None if max_orders is None else int(max_orders)
        values["per"] = timedelta(seconds=float(data.get("per_s", 1.0)))
    except (ArithmeticError, TypeError, ValueError) as exc:
        raise ValidationFailed("limits", "wire-format", f"bad limits: {exc}") from exc
    return RiskLimits(**values)


@dataclass(frozen=True)
class RiskBook:
    snapshot: RiskSnapshot = field(default_factory=RiskSnapshot.empty)
    limits: Mapping[Scope, RiskLimits] = field(default_factory=dict)

    @property
    def version(self) -> int:
        return self.snapshot.version

    def exchange_halt(self, symbol: str, now: datetime) -> Lock | None:
        scopes = (Scope.global_(), Scope.symbol(symbol))
        for lock in self.snapshot.locks:
            if lock.by == EXCHANGE and lock.scope in scopes and lock.active(now):
                return lock
        return None

    def applicable_limits(
        self, account_id: str, symbol: str, strategy_id: str | None = None
    ) -> list[RiskLimits]:
        scopes = RiskSnapshot.scopes_for(account_id, symbol, strategy_id)
        return [self.limits[s] for s in scopes if s in self.limits]

    def rate_window(
        self, account_id: str, symbol: str, strategy_id: str | None = None
    ) -> timedelta | None:
        """The longest window of an order-rate limit that applies (the caller counts the
        account's orders in it with the account lock), or ``None``."""
        windows = [
            lim.per
            for lim in self.applicable_limits(account_id, symbol, strategy_id)
            if lim.max_orders is not None
        ]
        return max(windows, default=None)

    def needs_position(
        self, account_id: str, symbol: str, strategy_id: str | None, now: datetime
    ) -> bool:
        """Whether ``denial`` will read the position: a non-active state, a lock, or a
        position limit applies."""
        state, _ = self.snapshot.effective(account_id, symbol, strategy_id)
        if state is not TradingState.ACTIVE:
            return True
        scopes = set(RiskSnapshot.scopes_for(account_id, symbol, strategy_id))
        if any(lock.scope in scopes for lock in self.snapshot.active_locks(now)):
            return True
        return any(
            lim.max_position_qty is not None or lim.max_position_notional is not None
            for lim in self.applicable_limits(account_id, symbol, strategy_id)
        )

    def denial(
        self,
        *,
        account_id: str,
        symbol: str,
        strategy_id: str | None,
        side: Side,
        qty: Decimal | None,
        notional: Decimal | None,
        price: Decimal | None,
        position: Decimal,
        broker: str | None,
        now: datetime,
        recent_orders: Callable[[timedelta], int] = lambda per: 0,
    ) -> Denial | None:
        snap = self.snapshot
        if broker is not None and broker in snap.open_breakers:
            return snap.denial(
                account_id=account_id,
                symbol=symbol,
                strategy_id=strategy_id,
                side=side,
                qty=qty,
                position=position,
                broker=broker,
                now=now,
            )
        halt = self.exchange_halt(symbol, now)
        if halt is not None:
            until = "until released" if halt.until is None else f"until {halt.until.isoformat()}"
            where = "the market" if halt.scope == Scope.global_() else symbol
            return Denial(ReasonCode.SYMBOL_HALTED, f"{where} is halted {until}: {halt.reason}")
        found = snap.denial(
            account_id=account_id,
            symbol=symbol,
            strategy_id=strategy_id,
            side=side,
            qty=qty,
            position=position,
            broker=broker,
            now=now,
        )
        if found is not None:
            return found
        for limits in self.applicable_limits(account_id, symbol, strategy_id):
            count = recent_orders(limits.per) if limits.max_orders is not None else 0
            found = limit_denial(
                limits,
                side=side,
                qty=qty,
                notional=notional,
                price=price,
                position=position,
                recent_orders=count,
            )
            if found is not None:
                return found
        return None

    def boundary_denial(
        self, *, account_id: str, symbol: str, side: Side, client_order_id: str, now: datetime
    ) -> Denial | None:
        """The broker boundary's re-check of a stored order before it is sent: only halts
        (an order accepted in the replica's staleness window is caught here). The kill
        switch's own flatten sells pass a halt of their scope (never an exchange halt)."""
        halt = self.exchange_halt(symbol, now)
        if halt is not None:
            return Denial(ReasonCode.SYMBOL_HALTED, f"{symbol} is halted: {halt.reason}")
        state, held = self.snapshot.effective(account_id, symbol)
        if state is not TradingState.HALTED or held is None:
            return None
        if side is Side.SELL and client_order_id.startswith(FLATTEN_PREFIX):
            return None
        code = (
            ReasonCode.SYMBOL_HALTED
            if held.scope.kind.value == "symbol"
            else ReasonCode.TRADING_HALTED
        )
        return Denial(code, f"trading is halted for {held.scope}: {held.reason}")

    def to_wire(self) -> dict[str, Any]:
        snap = self.snapshot.to_wire()
        snap["limits"] = {str(scope): limits_to_wire(lim) for scope, lim in self.limits.items()}
        return snap

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> RiskBook:
        raw = dict(data)
        limits = raw.pop("limits", {}) or {}
        return cls(
            RiskSnapshot.from_wire(raw),
            {Scope.parse(k): limits_from_wire(v) for k, v in limits.items()},
        )
