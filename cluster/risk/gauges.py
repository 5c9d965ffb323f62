"""The risk book as gauges, for the alerts (``kuberay/base/alerts.yaml``): how many scopes
of each kind are halted (``elson_trading_halted{scope_kind}``) and whether each broker's
breaker refuses orders (``elson_broker_breaker_open{broker}``). Low cardinality only:
scope kinds and broker names, never a scope's id. Exported by the one writer (the
``RiskEngine``) after every committed change."""

from __future__ import annotations

import logging

from cluster import metrics
from domain.risk.gate import RiskBook
from domain.risk.states import ScopeKind, TradingState

log = logging.getLogger(__name__)


def halted_by_kind(book: RiskBook) -> dict[str, int]:
    counts = {kind.value: 0 for kind in ScopeKind}
    for scope, state in book.snapshot.states.items():
        if state.state is TradingState.HALTED:
            counts[scope.kind.value] += 1
    return counts


def export(book: RiskBook, brokers: list[str]) -> None:
    try:
        halted = metrics.gauge(
            "elson_trading_halted", "Halted risk scopes, by scope kind", ("scope_kind",)
        )
        for kind, count in halted_by_kind(book).items():
            halted.set(count, {"scope_kind": kind})
        open_ = metrics.gauge(
            "elson_broker_breaker_open", "1 while a broker's breaker refuses orders", ("broker",)
        )
        for name in brokers:
            open_.set(1 if name in book.snapshot.open_breakers else 0, {"broker": name})
    except Exception:  # metrics never break the engine
        log.debug("risk gauges export failed", exc_info=True)
