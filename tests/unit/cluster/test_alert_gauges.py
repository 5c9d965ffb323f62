"""The gauges and counters the alerts read are set where the events happen: halted risk
scopes by kind and open broker breakers (the risk engine's book), gateway closes by
reason with ``slow-consumer`` told apart, finished optimization jobs by status."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import prometheus_client as pc
import pytest

from cluster import metrics
from cluster.risk import gauges
from domain.risk.gate import RiskBook
from domain.risk.snapshot import RiskSnapshot
from domain.risk.states import Scope, ScopeState, TradingState
from serve.gateway_conn import count_close
from serve.gateway_schemas import CloseCode

NOW = datetime(2026, 12, 7, 15, tzinfo=UTC)


@pytest.fixture(autouse=True)
def local_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Read what was recorded from this process's prometheus registry, even when an
    earlier test of the session started Ray (metrics then go to Ray's exporter)."""
    monkeypatch.setattr(metrics, "_in_ray", lambda: False)
    monkeypatch.setattr(metrics, "_made", {})
    yield


def _value(name: str, **labels: str) -> float:
    return pc.REGISTRY.get_sample_value(name, labels) or 0.0


def _book(*halted: Scope, open_breakers: frozenset[str] = frozenset()) -> RiskBook:
    states = {
        s: ScopeState(scope=s, state=TradingState.HALTED, reason="t", since=NOW, by="ops")
        for s in halted
    }
    return RiskBook(RiskSnapshot(version=1, states=states, open_breakers=open_breakers), {})


def test_halted_scopes_are_counted_by_kind_and_breakers_by_broker() -> None:
    book = _book(Scope.global_(), Scope.account("a1"), Scope.account("a2"))
    assert gauges.halted_by_kind(book) == {"global": 1, "account": 2, "strategy": 0, "symbol": 0}
    gauges.export(_book(Scope.global_(), open_breakers=frozenset({"alpaca"})), ["alpaca", "paper"])
    assert _value("elson_trading_halted", scope_kind="global") == 1
    assert _value("elson_broker_breaker_open", broker="alpaca") == 1
    assert _value("elson_broker_breaker_open", broker="paper") == 0
    gauges.export(_book(), ["alpaca", "paper"])
    assert _value("elson_trading_halted", scope_kind="global") == 0
    assert _value("elson_broker_breaker_open", broker="alpaca") == 0


def test_gateway_closes_are_counted_by_reason_with_slow_consumers_apart() -> None:
    before = {
        r: _value("elson_ws_closes_total", reason=r)
        for r in ("slow-consumer", "slow", "normal", "other")
    }
    count_close(CloseCode.SLOW, "slow consumer: send timed out")
    count_close(CloseCode.SLOW, "too many subscriptions")
    count_close(CloseCode.NORMAL, "")
    count_close(4999, "")
    after = {r: _value("elson_ws_closes_total", reason=r) for r in before}
    assert {r: after[r] - before[r] for r in before} == {
        "slow-consumer": 1,
        "slow": 1,
        "normal": 1,
        "other": 1,
    }
