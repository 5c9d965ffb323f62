"""The runner on a replay feed with the paper broker: parity with the kernel (acceptance 1),
a promotion taking effect at the next bar (4), and a restart without a duplicate order (3).

Ray: the paper broker is an actor; run under ``flock /tmp/elson-ray.lock``.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cluster.orders import tables
from cluster.strategies.runner import RunnerConfig, Step, StrategyRunner
from domain.order_request import OrderRequest
from domain.strategy.runner_core import parse_client_order_id
from domain.strategy.runner_ports import InMemoryVersions
from domain.strategy.signals import Decision, decide, position_after, trace
from tests.integration.strategy_runner.replay import backtest_bars, play, replay_bars
from tests.unit.domain.strategy.test_signals import _kernel_trades, _runner_trades

SMA = {"n1": 5, "n2": 20}
FAST = {"n1": 3, "n2": 8}
STEP = {"n1": 3, "n2": 12}  # within the default 50% step limit of SMA


def _runner(desk: Any, versions: InMemoryVersions, instance: str) -> StrategyRunner:
    config = RunnerConfig(instance, "sma_cross", ("AAPL",), str(desk.account), Decimal(10))
    return StrategyRunner(config, versions, desk.service)


def _orders(desk: Any, instance: str) -> list[tuple[str, str, str, Decimal]]:
    """(client order id, side, status, filled qty) of the instance's orders, oldest first."""
    c = tables.orders.c
    with desk.service.db.session() as s:
        rows = s.execute(
            select(c.client_order_id, c.side, c.status, c.filled_qty)
            .where(c.strategy_id == instance)
            .order_by(c.created_at, c.id)
        ).all()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def _signals(steps: list[Step], bars: list[Any]) -> list[tuple[int, Decision]]:
    index = {b.start: i for i, b in enumerate(bars)}
    return [(index[s.bar_start], s.decision) for s in steps if s.decision is not Decision.HOLD]


async def test_runner_on_replay_when_same_bars_as_backtest_then_same_decisions(
    desk: Any, replay_file: Path
) -> None:
    bars = replay_bars(replay_file)
    versions = InMemoryVersions({"inst-parity": SMA})
    steps = await play(desk, _runner(desk, versions, "inst-parity"), bars)

    live = _signals(steps, bars)
    backtest = backtest_bars(bars)
    assert live == [(s.bar, s.decision) for s in trace(backtest, "sma_cross", SMA)]
    kernel = _kernel_trades(backtest, "sma_cross", SMA)
    assert len(kernel) >= 3
    assert _runner_trades([_as_signal(i, d) for i, d in live], len(bars)) == kernel

    # every decision that moved the (long-only) position placed one order, and it filled
    orders = _orders(desk, "inst-parity")
    assert orders and all(status == "filled" for _, _, status, _ in orders)
    assert len(orders) == len({o[0] for o in orders})
    held = Decimal(0)
    for _, side, _, qty in orders:
        held += qty if side == "buy" else -qty
    assert desk.position("AAPL") == held
    last = live[-1][1]
    assert held == (Decimal(10) if last is Decision.GO_LONG else Decimal(0))


def _as_signal(bar: int, decision: Decision) -> Any:
    from domain.strategy.signals import Signal

    return Signal(bar, decision)


async def test_promotion_while_trading_then_takes_effect_at_next_bar(
    desk: Any, replay_file: Path
) -> None:
    bars = replay_bars(replay_file)
    versions = InMemoryVersions({"inst-promo": SMA})
    runner = _runner(desk, versions, "inst-promo")
    k = 90
    first = await play(desk, runner, bars[:k])
    assert versions.promote("inst-promo", FAST) == 2  # between bar k-1 and bar k
    second = await play(desk, runner, bars[k:])

    assert {s.version for s in first} == {1}
    assert {s.version for s in second} == {2}
    assert second[0].bar_start == bars[k].start
    # from bar k on, each decision is the kernel's rule under the promoted parameters
    backtest = backtest_bars(bars)
    for step in second:
        i = next(j for j, b in enumerate(bars) if b.start == step.bar_start)
        sign = _sign_before(runner.steps, step)
        assert step.decision is decide(backtest.slice(0, i + 1), "sma_cross", FAST, sign)
    versions_ordered = [parse_client_order_id(o[0]) for o in _orders(desk, "inst-promo")]
    assert any(p is not None and p[1] == 2 for p in versions_ordered)
    assert all(p is not None and (p[1] == 1) == (p[3] < bars[k].start) for p in versions_ordered)
    # the fast set trades differently from the slow one after bar k: the change is visible
    slow = [s for s in trace(backtest, "sma_cross", SMA) if s.bar >= k]
    assert [(s.bar, s.decision) for s in slow] != _signals(second, bars)


async def test_promotion_through_adaptive_book_then_takes_effect_at_next_bar(
    desk: Any, replay_file: Path
) -> None:
    """Acceptance 4 with the real parameter state (``StrategyBook``, guardrails, audit):
    a manual promotion between two bars is what the runner trades from the next bar."""
    from sqlalchemy import text

    from cluster.strategies.engine import StrategyBook
    from cluster.strategies.host import StrategyHost
    from cluster.strategies.runner_versions import HostVersions

    with desk.service.db.session() as s:
        owner = str(
            s.execute(
                text("SELECT owner_user_id FROM accounts WHERE id = :a"), {"a": str(desk.account)}
            ).scalar_one()
        )
    book = StrategyBook(desk.service.db, desk.service.clock)
    host = StrategyHost(book)
    created = await host.create(
        {
            "strategy": "sma_cross", "symbols": ["AAPL"], "bar_interval": "1m",
            "account_id": str(desk.account), "params": SMA,
            "sizing": {"mode": "fixed", "quantity": "10"},
            "guardrails": {"margin": 0, "min_trades": 0, "max_step": 0.5, "cooldown_s": 0},
        },
        owner, owner,
    )  # fmt: skip
    config = RunnerConfig.from_instance(created)
    assert config.unit_qty == Decimal(10)
    runner = StrategyRunner(config, HostVersions(host), desk.service)
    bars = replay_bars(replay_file)
    k = 90
    first = await play(desk, runner, bars[:k])
    decision = await host.promote(config.instance_id, owner, params=STEP)
    assert decision["outcome"] == "promoted", decision
    second = await play(desk, runner, bars[k:])

    assert {s.version for s in first} == {1} and {s.version for s in second} == {2}
    backtest = backtest_bars(bars)
    for step in second:
        i = next(j for j, b in enumerate(bars) if b.start == step.bar_start)
        sign = _sign_before(runner.steps, step)
        assert step.decision is decide(backtest.slice(0, i + 1), "sma_cross", STEP, sign)
    coids = [parse_client_order_id(o[0]) for o in _orders(desk, config.instance_id)]
    assert any(p is not None and p[1] == 2 and p[3] >= bars[k].start for p in coids)
    slow = [(s.bar, s.decision) for s in trace(backtest, "sma_cross", SMA) if s.bar >= k]
    assert slow != _signals(second, bars)  # the promoted set trades visibly differently


def _sign_before(steps: list[Step], step: Step) -> int:
    position = 0
    for s in steps:
        if s is step:
            return position
        position = max(0, position_after(position, s.decision))  # long only
    raise AssertionError("step not found")


@pytest.mark.parametrize("promote_while_down", [False, True])
async def test_runner_killed_mid_stream_then_resumes_without_duplicate(
    desk: Any, replay_file: Path, promote_while_down: bool
) -> None:
    bars = replay_bars(replay_file)
    instance = f"inst-restart-{int(promote_while_down)}"
    versions = InMemoryVersions({instance: SMA})
    first = _runner(desk, versions, instance)
    k = next(s for s in trace(backtest_bars(bars), "sma_cross", SMA) if s.bar > 60).bar
    await play(desk, first, bars[: k + 1])  # the last bar handled placed an order
    assert first.steps[-1].order_id is not None
    del first  # killed: its memory is gone

    if promote_while_down:
        versions.promote(instance, FAST)
    again = _runner(desk, versions, instance)
    await again.restore()
    steps = await play(desk, again, bars)  # the feed sends everything again

    assert steps and steps[0].bar_start == bars[k + 1].start
    assert {s.version for s in steps} == {2 if promote_while_down else 1}
    per_bar = Counter(p[3] for p in map(parse_client_order_id, _ids(desk, instance)) if p)
    assert per_bar and max(per_bar.values()) == 1, per_bar
    if not promote_while_down:  # the same decisions as a runner that never stopped
        expected = [(s.bar, s.decision) for s in trace(backtest_bars(bars), "sma_cross", SMA)]
        assert _signals(steps, bars) == [e for e in expected if e[0] > k]


def _ids(desk: Any, instance: str) -> list[str]:
    return [o[0] for o in _orders(desk, instance)]


async def test_same_bar_same_version_twice_then_one_order(desk: Any, replay_file: Path) -> None:
    bars = replay_bars(replay_file)
    k = next(s for s in trace(backtest_bars(bars), "sma_cross", SMA) if s.bar > 30).bar
    versions = InMemoryVersions({"inst-twice": SMA})
    one, two = _runner(desk, versions, "inst-twice"), _runner(desk, versions, "inst-twice")
    one.preload(bars[:k])
    two.preload(bars[:k])
    desk.driver.book("AAPL", str(bars[k].close), str(bars[k].close + Decimal("0.02")))
    a = await one.on_bar(bars[k])
    b = await two.on_bar(bars[k])  # a runner that crashed before it recorded its order
    assert a is not None and a.order_id is not None and a.created and a.client_order_id
    # the open order already counts in the intended position: nothing more to do
    assert b is not None and b.decision is a.decision and b.order_id is None
    # and the order path itself answers a repeated client order id with the stored order
    again = desk.service.submit(
        desk.account,
        OrderRequest.parse(
            symbol="AAPL", side="buy", type="market", time_in_force="day", qty="10",
            client_order_id=a.client_order_id,
        ),
        strategy_id="inst-twice",
    )  # fmt: skip
    assert str(again.order.id) == a.order_id and not again.created
    assert again.order.strategy_id == "inst-twice"
    assert len(_ids(desk, "inst-twice")) == 1


async def test_strategy_scope_halted_then_runner_order_rejected_by_risk_gate(
    desk: Any, paper_settings: Any, replay_file: Path
) -> None:
    """The order path hands the runner's ``strategy_id`` to the risk gate: halting the
    instance's strategy scope refuses its orders (and only its: the account still trades)."""
    from cluster.risk.engine import RiskEngine
    from cluster.risk.view import risk_view_for
    from domain.risk.states import Scope, TradingState

    instance = f"inst-halted-{desk.account[:8]}"
    RiskEngine(desk.service.db, desk.service.clock).set_state(
        Scope.strategy(instance), TradingState.HALTED, reason="test", by="ops"
    )
    desk.service.risk = risk_view_for(paper_settings, desk.service.db, background=False)
    bars = replay_bars(replay_file)
    k = next(s for s in trace(backtest_bars(bars), "sma_cross", SMA) if s.bar > 30).bar
    runner = _runner(desk, InMemoryVersions({instance: SMA}), instance)
    runner.preload(bars[:k])
    desk.driver.book("AAPL", str(bars[k].close), str(bars[k].close + Decimal("0.02")))
    step = await runner.on_bar(bars[k])
    assert step is not None and step.order_id is not None and step.status == "rejected"
    order = desk.service.get_order(step.order_id)
    assert order.strategy_id == instance and order.reject_code == "trading_halted", order
    person = desk.service.submit(
        desk.account,
        OrderRequest.parse(symbol="AAPL", side="buy", type="market", time_in_force="day", qty="1"),
    )
    assert person.order.status.value == "pending_new" and person.order.strategy_id is None
