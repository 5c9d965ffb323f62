"""Where a risk event goes: the ``risk`` stream of the account it concerns.

Changes to an account's scope go to ``risk:<account_id>`` (the gateway's ``risk`` channel);
changes to the global, strategy and symbol scopes and to broker breakers concern every
account, and go once to ``risk:global`` rather than to every account's stream (an account
sees their effect as ``order_denied`` on its own stream, and ``GET /v1/risk/states``).
"""

from __future__ import annotations

from typing import Any

from domain.risk.states import Scope, ScopeKind

GLOBAL_STREAM = "risk:global"
EVENT_NAMES = (
    "trading_state_changed",
    "breaker_opened",
    "breaker_closed",
    "lock_created",
    "lock_released",
    "order_denied",
)


def stream_of(scope: Scope) -> str:
    return f"risk:{scope.key}" if scope.kind is ScopeKind.ACCOUNT else GLOBAL_STREAM


def messages_for(
    scope: Scope, name: str, data: dict[str, Any]
) -> list[tuple[str, str, dict[str, Any]]]:
    assert name in EVENT_NAMES, name
    return [(stream_of(scope), name, data)]
