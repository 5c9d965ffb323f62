"""The replica's risk view is a cache bounded by 250 ms: proven with a fake ``monotonic``
(no sleeps) against changes the engine commits to PostgreSQL."""

from __future__ import annotations

import uuid

from cluster.risk.engine import RiskEngine
from cluster.risk.view import RiskView
from domain.risk.states import Scope, TradingState
from tests.integration.risk.conftest import Ticker


def _halt(engine: RiskEngine) -> Scope:
    scope = Scope.account(str(uuid.uuid4()))
    engine.set_state(scope, TradingState.HALTED, reason="test", by="ops")
    return scope


def test_current_when_confirmed_within_the_bound_then_a_new_change_is_not_yet_seen(
    engine: RiskEngine, view: RiskView, ticker: Ticker
) -> None:
    assert view.bound_s == 0.25
    view.refresh()
    scope = _halt(engine)
    ticker.advance(0.25)  # exactly the bound: still fresh enough
    assert scope not in view.current().snapshot.states
    assert view.current().version < engine.version
    assert view.stats["sync_refreshes"] == 0


def test_current_when_the_confirmation_is_older_than_the_bound_then_the_change_is_seen(
    engine: RiskEngine, view: RiskView, ticker: Ticker
) -> None:
    view.refresh()
    scope = _halt(engine)
    ticker.advance(0.251)
    book = view.current()
    assert book.snapshot.state_of(scope) is TradingState.HALTED
    assert book.version == engine.version
    assert view.stats["sync_refreshes"] == 1
    ticker.advance(0.1)
    view.current()
    assert view.stats["sync_refreshes"] == 1  # confirmed again at the last read


def test_apply_push_when_newer_then_installed_before_the_poll_and_older_ignored(
    engine: RiskEngine, view: RiskView, ticker: Ticker
) -> None:
    view.refresh()
    old = engine.wire()
    scope = _halt(engine)
    view.apply_push(engine.wire())
    assert view.current().snapshot.state_of(scope) is TradingState.HALTED
    assert view.stats["sync_refreshes"] == 0
    view.apply_push(old)
    assert view.current().version == engine.version
    assert view.current().snapshot.state_of(scope) is TradingState.HALTED


def test_apply_push_when_no_confirmation_within_the_bound_then_current_still_asks_the_db(
    engine: RiskEngine, view: RiskView, ticker: Ticker
) -> None:
    view.apply_push(engine.wire())  # never confirmed: a push is not a confirmation
    view.current()
    assert view.stats["sync_refreshes"] == 1
    ticker.advance(1.0)
    view.apply_push(engine.wire())
    view.current()
    assert view.stats["sync_refreshes"] == 2


def test_engine_publish_when_wired_to_the_view_then_every_change_is_pushed(
    engine: RiskEngine, view: RiskView
) -> None:
    view.refresh()
    engine.publish = view.apply_push
    scope = _halt(engine)
    assert view.book.snapshot.state_of(scope) is TradingState.HALTED
    assert view.stats["pushes"] == 1
