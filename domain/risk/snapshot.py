"""A versioned, immutable picture of the risk state, read on the order hot path.

The risk actor owns the states, locks and breakers; serve replicas keep the latest
``RiskSnapshot`` it pushed and check every order against it without a round trip. The
snapshot is plain data with a JSON wire form (``to_wire``/``from_wire``), and ``denial``
is the whole gate: the same answer in a replica, the router and the paper broker.

Precedence in ``denial`` is fixed, most specific cause first, so a client sees the
reason that will still hold after the others clear: broker unavailable, symbol halted,
scope halted, locked, reduce-only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from domain.clock import require_aware
from domain.errors import ValidationFailed
from domain.orders import Side
from domain.risk.codes import Denial, ReasonCode
from domain.risk.states import (
    Scope,
    ScopeKind,
    ScopeState,
    TradingState,
    _mapping,
    _optional_time,
    _text,
    _time,
)

__all__ = ["Lock", "RiskSnapshot", "reduces_exposure"]

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Lock:
    """A scope refused new exposure until ``until`` (``None``: until released by hand).

    Locks come from protections (a stop-loss streak, a cooldown) and from operators;
    unlike a halt they let reducing orders through, so a locked strategy can still exit.
    """

    id: str
    scope: Scope
    reason: str
    created_at: datetime
    until: datetime | None
    by: str

    def __post_init__(self) -> None:
        if not self.id:
            raise ValidationFailed("id", "required", "a lock needs an id")
        object.__setattr__(self, "created_at", require_aware("created_at", self.created_at))
        if self.until is not None:
            until = require_aware("until", self.until)
            if until <= self.created_at:
                raise ValidationFailed("until", "after-created", "a lock must end after it starts")
            object.__setattr__(self, "until", until)

    def active(self, now: datetime) -> bool:
        """Released at ``until`` exactly (the lock covers ``[created_at, until)``)."""
        return self.until is None or now < self.until

    def to_wire(self) -> dict[str, str | None]:
        return {
            "id": self.id,
            "scope": str(self.scope),
            "reason": self.reason,
            "created_at": self.created_at.isoformat(),
            "until": None if self.until is None else self.until.isoformat(),
            "by": self.by,
        }

    @classmethod
    def from_wire(cls, data: object) -> Lock:
        record = _mapping(data, "lock")
        return cls(
            id=_text(record, "id"),
            scope=Scope.parse(_text(record, "scope")),
            reason=_text(record, "reason"),
            created_at=_time(record, "created_at"),
            until=_optional_time(record, "until"),
            by=_text(record, "by"),
        )


def reduces_exposure(side: Side, qty: Decimal | None, position: Decimal) -> bool:
    """Does the order only shrink the position (never flip it)?

    A sell of at most the long position, or a buy of at most the short position. A
    notional order (``qty`` ``None``) has no size until it fills: a notional sell of a
    long position reduces (the paper broker caps it at the position), a notional buy
    reduces only a short one.
    """
    if side is Side.SELL:
        return position > ZERO and (qty is None or qty <= position)
    return position < ZERO and (qty is None or qty <= -position)


@dataclass(frozen=True)
class RiskSnapshot:
    """States per scope, locks and open broker breakers at one ``version``.

    ``states`` holds only scopes that have been set; a missing scope is ``active``.
    ``open_breakers`` names the brokers whose breaker refuses orders now.
    """

    version: int
    states: Mapping[Scope, ScopeState] = field(default_factory=dict)
    locks: tuple[Lock, ...] = ()
    open_breakers: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if isinstance(self.version, bool) or not isinstance(self.version, int):
            raise ValidationFailed("version", "integer", "a snapshot version is an integer")
        if self.version < 0:
            raise ValidationFailed("version", "non-negative")
        states = dict(self.states)
        for scope, state in states.items():
            if state.scope != scope:
                raise ValidationFailed("states", "scope-mismatch", f"{scope} holds {state.scope}")
        object.__setattr__(self, "states", states)
        object.__setattr__(self, "locks", tuple(self.locks))
        object.__setattr__(self, "open_breakers", frozenset(self.open_breakers))

    @classmethod
    def empty(cls) -> RiskSnapshot:
        return cls(version=0)

    def state_of(self, scope: Scope) -> TradingState:
        held = self.states.get(scope)
        return TradingState.ACTIVE if held is None else held.state

    def active_locks(self, now: datetime) -> tuple[Lock, ...]:
        return tuple(lock for lock in self.locks if lock.active(now))

    @staticmethod
    def scopes_for(account_id: str, symbol: str, strategy_id: str | None = None) -> list[Scope]:
        """The scopes an order touches, broadest first."""
        scopes = [Scope.global_(), Scope.account(account_id)]
        if strategy_id is not None:
            scopes.append(Scope.strategy(strategy_id))
        scopes.append(Scope.symbol(symbol))
        return scopes

    def effective(
        self, account_id: str, symbol: str, strategy_id: str | None = None
    ) -> tuple[TradingState, ScopeState | None]:
        """The strictest state that applies and the scope state that set it.

        Ties go to the broader scope (a global halt explains itself better than the same
        halt on a symbol). ``None`` when the effective state is ``active``.
        """
        best: ScopeState | None = None
        for scope in self.scopes_for(account_id, symbol, strategy_id):
            held = self.states.get(scope)
            if held is not None and (best is None or held.state.severity > best.state.severity):
                best = held
        if best is None or best.state is TradingState.ACTIVE:
            return TradingState.ACTIVE, None
        return best.state, best

    def denial(
        self,
        *,
        account_id: str,
        symbol: str,
        strategy_id: str | None,
        side: Side,
        qty: Decimal | None,
        position: Decimal,
        broker: str | None,
        now: datetime,
    ) -> Denial | None:
        """The reason this new order may not go out, or ``None``. Cancels never ask."""
        if broker is not None and broker in self.open_breakers:
            return Denial(
                ReasonCode.BROKER_UNAVAILABLE,
                f"broker {broker} is unavailable (its circuit breaker is open); retry later",
            )
        scopes = self.scopes_for(account_id, symbol, strategy_id)
        halted = [
            held
            for scope in scopes
            if (held := self.states.get(scope)) is not None and held.state is TradingState.HALTED
        ]
        for held in halted:
            if held.scope.kind is ScopeKind.SYMBOL:
                return Denial(ReasonCode.SYMBOL_HALTED, _halt_message(held))
        if halted:
            return Denial(ReasonCode.TRADING_HALTED, _halt_message(halted[0]))
        reducing = reduces_exposure(side, qty, position)
        if not reducing:
            applicable = set(scopes)
            for lock in self.locks:
                if lock.scope in applicable and lock.active(now):
                    return Denial(ReasonCode.TRADING_LOCKED, _lock_message(lock))
        state, held_by = self.effective(account_id, symbol, strategy_id)
        if state is TradingState.REDUCING and not reducing:
            assert held_by is not None
            size = "a notional order" if qty is None else f"{qty.normalize():f}"
            return Denial(
                ReasonCode.REDUCE_ONLY,
                f"{held_by.scope} is reduce-only ({held_by.reason}, by {held_by.by}): "
                f"a {side.value} of {size} {symbol} would not reduce the position of "
                f"{position.normalize():f}",
            )
        return None

    def to_wire(self) -> dict[str, Any]:
        """JSON-able: ships between processes and into the gateway."""
        return {
            "version": self.version,
            "states": [self.states[scope].to_wire() for scope in sorted(self.states)],
            "locks": [lock.to_wire() for lock in self.locks],
            "open_breakers": sorted(self.open_breakers),
        }

    @classmethod
    def from_wire(cls, data: object) -> RiskSnapshot:
        record = _mapping(data, "snapshot")
        version = record.get("version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise ValidationFailed("version", "wire-format", "version must be an integer")
        states = [ScopeState.from_wire(item) for item in _list(record, "states")]
        breakers = _list(record, "open_breakers")
        if not all(isinstance(name, str) for name in breakers):
            raise ValidationFailed("open_breakers", "wire-format", "breaker names are text")
        return cls(
            version=version,
            states={state.scope: state for state in states},
            locks=tuple(Lock.from_wire(item) for item in _list(record, "locks")),
            open_breakers=frozenset(str(name) for name in breakers),
        )


def _list(record: Mapping[str, object], field: str) -> list[object]:
    value = record.get(field, [])
    if not isinstance(value, list):
        raise ValidationFailed(field, "wire-format", f"{field} must be a list")
    return value


def _halt_message(held: ScopeState) -> str:
    return f"trading is halted for {held.scope}: {held.reason} by {held.by}"


def _lock_message(lock: Lock) -> str:
    until = "until released" if lock.until is None else f"until {lock.until.isoformat()}"
    return f"trading is locked for {lock.scope} {until}: {lock.reason} by {lock.by}"
