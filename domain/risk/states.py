"""Trading states per scope, as one transition table.

Why a table: a halt, a reduce-only switch and a resume are audited transitions that an
operator (or an automatic trigger) makes on one scope; the table is the whole list of
legal moves, and ``next_state`` is the only way a state changes. Same shape as
``domain.orders``.

``active`` trades freely; ``reducing`` accepts only orders that reduce exposure;
``halted`` accepts no new orders (cancels are always allowed). Scopes nest: global,
account, strategy, symbol; the strictest state among the scopes an order touches wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from domain.clock import require_aware
from domain.errors import Conflict, ValidationFailed
from domain.ids import Symbol

__all__ = [
    "TRANSITIONS",
    "IllegalRiskTransition",
    "Scope",
    "ScopeKind",
    "ScopeState",
    "TradingEvent",
    "TradingState",
    "next_state",
    "strictest",
    "target_event",
]


class TradingState(StrEnum):
    ACTIVE = "active"
    REDUCING = "reducing"  # only orders that reduce exposure
    HALTED = "halted"  # no new orders; cancels allowed

    @property
    def severity(self) -> int:
        return _SEVERITY[self]

    @classmethod
    def strictest(cls, *states: TradingState) -> TradingState:
        return strictest(*states)


_SEVERITY: Final[dict[TradingState, int]] = {
    TradingState.ACTIVE: 0,
    TradingState.REDUCING: 1,
    TradingState.HALTED: 2,
}


def strictest(*states: TradingState) -> TradingState:
    """The most restrictive of ``states``; ``active`` when none is given."""
    return max(states, key=_SEVERITY.__getitem__, default=TradingState.ACTIVE)


class TradingEvent(StrEnum):
    HALT = "halt"
    REDUCE = "reduce"
    RESUME = "resume"


_T = TradingState
_V = TradingEvent

TRANSITIONS: Final[dict[tuple[TradingState, TradingEvent], TradingState]] = {
    (_T.ACTIVE, _V.HALT): _T.HALTED,
    (_T.ACTIVE, _V.REDUCE): _T.REDUCING,
    (_T.REDUCING, _V.HALT): _T.HALTED,
    (_T.REDUCING, _V.RESUME): _T.ACTIVE,
    (_T.HALTED, _V.RESUME): _T.ACTIVE,
    # Stepping down from a halt to reduce-only lets an operator unwind positions
    # without reopening the scope to new exposure.
    (_T.HALTED, _V.REDUCE): _T.REDUCING,
    # Absent on purpose: an event that would not change the state (halt while halted,
    # reduce while reducing, resume while active). The actor answers a repeated request
    # idempotently; an audited no-op transition would only blur the log.
}


class IllegalRiskTransition(Conflict):
    """An event the trading-state table does not allow in the current state."""

    code = "illegal-risk-transition"

    def __init__(self, state: TradingState, event: TradingEvent) -> None:
        super().__init__(f"illegal trading state transition: {state.value} -> {event.value}")
        self.state = state
        self.event = event


def next_state(state: TradingState, event: TradingEvent) -> TradingState:
    target = TRANSITIONS.get((state, event))
    if target is None:
        raise IllegalRiskTransition(state, event)
    return target


def target_event(state_from: TradingState, state_to: TradingState) -> TradingEvent | None:
    """The event that moves ``state_from`` to ``state_to``; ``None`` when they are equal.

    Every pair of distinct states is one row of the table, so the answer always exists.
    """
    if state_from is state_to:
        return None
    return _EVENT_BETWEEN[(state_from, state_to)]


_EVENT_BETWEEN: Final[dict[tuple[TradingState, TradingState], TradingEvent]] = {
    (source, target): event for (source, event), target in TRANSITIONS.items()
}


class ScopeKind(StrEnum):
    GLOBAL = "global"
    ACCOUNT = "account"
    STRATEGY = "strategy"
    SYMBOL = "symbol"


_KEY_MAX: Final = 128


@dataclass(frozen=True, slots=True, order=True)
class Scope:
    """What a state or lock applies to. Text form ``kind:key`` (``global`` alone).

    Symbol keys are normalised to upper case (``symbol:aapl`` is ``symbol:AAPL``), so a
    halt set by hand matches the symbol on the order.
    """

    kind: ScopeKind
    key: str = ""

    def __post_init__(self) -> None:
        kind = ScopeKind(self.kind)
        object.__setattr__(self, "kind", kind)
        if kind is ScopeKind.GLOBAL:
            if self.key:
                raise ValidationFailed("scope", "global-has-no-key", "the global scope has no key")
            return
        key = self.key
        if not isinstance(key, str) or not key or len(key) > _KEY_MAX:
            raise ValidationFailed("scope", "scope-key", f"a {kind.value} scope needs a key")
        if not all("!" <= ch <= "~" for ch in key):
            raise ValidationFailed(
                "scope", "scope-key", "scope keys are printable ASCII without spaces"
            )
        if kind is ScopeKind.SYMBOL:
            object.__setattr__(self, "key", str(Symbol(key, "scope")))

    @classmethod
    def global_(cls) -> Scope:
        return cls(ScopeKind.GLOBAL)

    @classmethod
    def account(cls, account_id: str) -> Scope:
        return cls(ScopeKind.ACCOUNT, account_id)

    @classmethod
    def strategy(cls, strategy_id: str) -> Scope:
        return cls(ScopeKind.STRATEGY, strategy_id)

    @classmethod
    def symbol(cls, symbol: str) -> Scope:
        return cls(ScopeKind.SYMBOL, symbol)

    @classmethod
    def parse(cls, text: object) -> Scope:
        """``global``, ``account:<id>``, ``strategy:<id>`` or ``symbol:<ticker>``."""
        if not isinstance(text, str):
            raise ValidationFailed("scope", "scope-format", "a scope is text")
        kind, sep, key = text.partition(":")
        try:
            scope_kind = ScopeKind(kind)
        except ValueError as exc:
            raise ValidationFailed(
                "scope", "scope-format", f"unknown scope kind {kind!r} in {text!r}"
            ) from exc
        if scope_kind is ScopeKind.GLOBAL and sep:
            raise ValidationFailed("scope", "global-has-no-key", "the global scope has no key")
        return cls(scope_kind, key)

    @property
    def breadth(self) -> int:
        """0 for global up to 3 for symbol: ties between scopes go to the broader one."""
        return _BREADTH[self.kind]

    def __str__(self) -> str:
        if self.kind is ScopeKind.GLOBAL:
            return "global"
        return f"{self.kind.value}:{self.key}"


_BREADTH: Final[dict[ScopeKind, int]] = {
    ScopeKind.GLOBAL: 0,
    ScopeKind.ACCOUNT: 1,
    ScopeKind.STRATEGY: 2,
    ScopeKind.SYMBOL: 3,
}


@dataclass(frozen=True, slots=True)
class ScopeState:
    """The state of one scope, with who set it, why and since when (for audit and UI)."""

    scope: Scope
    state: TradingState
    reason: str
    since: datetime
    by: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", TradingState(self.state))
        object.__setattr__(self, "since", require_aware("since", self.since))

    def to_wire(self) -> dict[str, str]:
        return {
            "scope": str(self.scope),
            "state": self.state.value,
            "reason": self.reason,
            "since": self.since.isoformat(),
            "by": self.by,
        }

    @classmethod
    def from_wire(cls, data: object) -> ScopeState:
        record = _mapping(data, "scope_state")
        try:
            state = TradingState(_text(record, "state"))
        except ValueError as exc:
            raise ValidationFailed("state", "trading-state", "unknown trading state") from exc
        return cls(
            scope=Scope.parse(_text(record, "scope")),
            state=state,
            reason=_text(record, "reason"),
            since=_time(record, "since"),
            by=_text(record, "by"),
        )


# Wire helpers, shared with ``snapshot``: a malformed record is a ``ValidationFailed``
# naming the field, never a ``KeyError`` from deep inside a consumer.


def _mapping(data: object, field: str) -> Mapping[str, object]:
    if not isinstance(data, Mapping):
        raise ValidationFailed(field, "wire-format", f"{field} must be an object")
    return data


def _text(record: Mapping[str, object], field: str) -> str:
    value = record.get(field)
    if not isinstance(value, str):
        raise ValidationFailed(field, "wire-format", f"{field} must be text")
    return value


def _time(record: Mapping[str, object], field: str) -> datetime:
    try:
        value = datetime.fromisoformat(_text(record, field))
    except ValueError as exc:
        raise ValidationFailed(field, "wire-format", f"{field} must be an ISO time") from exc
    return require_aware(field, value)


def _optional_time(record: Mapping[str, object], field: str) -> datetime | None:
    return None if record.get(field) is None else _time(record, field)
