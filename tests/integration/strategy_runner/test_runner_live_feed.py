"""The runner actor on the live feed (``feed=True``): real feed shard actors close bars of a
made-up symbol, ``FeedBarSource`` hands them to the runner, and its orders go through the
order path (the actor's own ``OrderService``: quotes from the feed, the risk gate) to the
paper broker. Its decisions are the kernel's ``trace`` of the same bars, and no bar
produces two orders.

The shards run a replay of bars that the test releases through a gate file (the shard runs
in a Ray worker, out of the test's reach): a quote at each bar's close, then the bar. The
test is also the dispatcher (as ``replay.play`` is): after the bar that placed an order it
submits the order to the paper broker and fills it at the next bar's open, before that bar
is released; the paper account has no shorting, so a sell needs the buy's shares.

Everything lives in a Ray namespace and a Redis key prefix of its own, so the session's
feed shards (same names, other symbols) are neither adopted nor written over.

Ray: run under ``flock /tmp/elson-ray.lock``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import ray
from sqlalchemy import select, text

from actors.adaptive_params import AdaptiveParamsActor
from actors.feed_shard import create_shard
from actors.strategy_runner import StrategyRunnerActor, runner_name, stop_runner
from cluster.marketdata.provider import BaseProvider, ErrorHook, ProviderState, Snapshot
from cluster.marketdata.replay import load_events
from cluster.orders import tables
from cluster.settings import Settings
from cluster.strategies.runner import RunnerConfig
from domain.clock import Clock
from domain.marketdata import Bar, Quote
from domain.strategy.runner_core import parse_client_order_id
from domain.strategy.signals import Decision, trace
from tests.integration.paper.conftest import WEDNESDAY
from tests.integration.strategy_runner.replay import (
    CENT,
    MINUTE,
    backtest_bars,
    replay_bars,
    write_replay,
)
from tests.kit.quotes import call

SYMBOL = "ZQRF"  # made up: no other test's feed, quotes or orders touch it
SHARDS = 2
SMA = {"n1": 5, "n2": 20}
GATE = "gate.json"
FACTORY = "tests.integration.strategy_runner.test_runner_live_feed:make_gated"
WAIT_S = 25.0  # the whole feed must be handled within this (it takes a few seconds)


class GatedBars(BaseProvider):
    """The folder's ``bars.csv`` played up to the count in its gate file, each bar after
    a quote at its close (the order path's reservation reads the feed's latest quote)."""

    def __init__(
        self,
        folder: Path,
        *,
        clock: Clock | None = None,
        on_error: ErrorHook | None = None,
        name: str = "gated",
    ) -> None:
        super().__init__(name=name, clock=clock, on_error=on_error)
        self.folder = folder
        self.bars: list[Bar] = []
        self.sent = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if not self._begin_start():
            return
        events = load_events(self.folder / "bars.csv", provider=self.name)
        self.bars = [e for e in events if isinstance(e, Bar)]
        self._transition(ProviderState.RUNNING)
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        await self._finish_stop(task)

    async def subscribe(self, symbols: Any) -> None:
        self._add_symbols(symbols)

    async def unsubscribe(self, symbols: Any) -> None:
        self._remove_symbols(symbols)

    async def snapshot(self, symbols: Any) -> dict[str, Snapshot]:
        return self._latest_snapshot(symbols)

    def _gate(self) -> int:
        try:
            return int(json.loads((self.folder / GATE).read_text())["upto"])
        except (OSError, ValueError, KeyError):
            return 0

    async def _run(self) -> None:
        while True:
            while self.sent < min(self._gate(), len(self.bars)):
                bar = self.bars[self.sent]
                self.sent += 1
                if not self._wanted(bar.symbol):
                    continue
                now = self._clock.now()
                await self._emit(
                    Quote(
                        symbol=bar.symbol, bid_price=bar.close - CENT, bid_size=100,
                        ask_price=bar.close + CENT, ask_size=100, exchange_ts=now,
                        received_ts=now, provider=self.name, seq=self._next_seq(bar.symbol),
                    )
                )  # fmt: skip
                await self._emit(
                    dataclasses.replace(bar, received_ts=now, seq=self._next_seq(bar.symbol))
                )
            await asyncio.sleep(0.02)


def make_gated(*, arg: str, **deps: Any) -> GatedBars:
    """Factory for ``FeedShard(provider_factories=...)``: ``arg`` is the folder."""
    keep = {k: deps[k] for k in ("clock", "on_error", "name") if k in deps}
    return GatedBars(Path(arg), **keep)


def _release(folder: Path, upto: int) -> None:
    """Let the shards' provider play the first ``upto`` bars (atomic replace)."""
    tmp = folder / f"{GATE}.tmp"
    tmp.write_text(json.dumps({"upto": upto}))
    tmp.replace(folder / GATE)


def _owner(desk: Any) -> str:
    with desk.service.db.session() as session:
        found = session.execute(
            text("SELECT owner_user_id FROM accounts WHERE id = :a"), {"a": str(desk.account)}
        ).scalar_one()
    return str(found)


def _orders(desk: Any, instance: str) -> list[tuple[str, str, str, str, Decimal]]:
    """(id, client order id, side, status, filled qty) of the instance's orders."""
    c = tables.orders.c
    with desk.service.db.session() as s:
        rows = s.execute(
            select(c.id, c.client_order_id, c.side, c.status, c.filled_qty)
            .where(c.strategy_id == instance)
            .order_by(c.created_at, c.id)
        ).all()
    return [(str(r[0]), r[1], r[2], r[3], r[4]) for r in rows]


async def _handled(actor: Any, n: int, deadline: float) -> None:
    """Until the runner has taken a step on ``n`` bars (each bar it gets is one step)."""
    loop = asyncio.get_running_loop()
    while (await call(actor.ping.remote()))["steps"] < n:
        if loop.time() > deadline:
            status = await call(actor.status.remote())
            raise AssertionError(f"the runner took no step on bar {n - 1}: {status}")
        await asyncio.sleep(0.05)


async def _dispatch(desk: Any, instance: str, bars: list[Bar], j: int) -> None:
    """The dispatcher's job: unsent orders to the paper broker, filled at the next open."""
    close_at = bars[j].start + MINUTE
    nxt = bars[j + 1].open if j + 1 < len(bars) else bars[j].close
    for order_id, _, _, status, _ in _orders(desk, instance):
        if status != "pending_new":
            continue
        await desk.driver.at(close_at - timedelta(seconds=1))
        await call(desk.actor.submit.remote(order_id))
        await desk.driver.step(close_at, (SYMBOL, str(nxt - CENT), str(nxt + CENT)))


async def test_runner_on_live_feed_then_kernel_decisions_and_one_order_per_bar(
    make_desk: Any, paper_settings: Settings, tmp_path: Path
) -> None:
    desk = await make_desk()
    bars = replay_bars(write_replay(tmp_path / "bars.csv", SYMBOL, WEDNESDAY, n=180))
    _release(tmp_path, 0)
    tag = uuid.uuid4().hex[:8]
    s = paper_settings.with_overrides(
        ray_namespace=f"runnerfeed-{tag}",
        redis_key_prefix=f"{paper_settings.redis_key_prefix}runnerfeed-{tag}:",
        clock_start=WEDNESDAY,
        clock_anchor=datetime.now(UTC),  # every actor on the same shifted clock
        feed_shards=SHARDS,
        feed_symbols=SYMBOL,
        feed_providers=f"gated:{tmp_path}",
        feed_always_open=True,
    )
    shards = [create_shard(s, i, {"gated": FACTORY}) for i in range(SHARDS)]
    params_name = f"test.adaptive_params.{tag}"
    adaptive: Any = (
        ray.remote(AdaptiveParamsActor)
        .options(name=params_name, namespace=s.ray_namespace, num_cpus=0)
        .remote(s, 3600.0)
    )
    handles: list[Any] = [*shards, adaptive]
    try:
        await asyncio.gather(*(call(h.ping.remote(), 60) for h in shards))
        owner = _owner(desk)
        spec = {
            "strategy": "sma_cross", "symbols": [SYMBOL], "bar_interval": "1m",
            "account_id": str(desk.account), "params": SMA,
            "sizing": {"mode": "fixed", "quantity": "10"},
            "guardrails": {"margin": 0, "min_trades": 0, "max_step": 0.5, "cooldown_s": 0},
        }  # fmt: skip
        config = RunnerConfig.from_instance(await call(adaptive.create.remote(spec, owner, owner)))
        instance = config.instance_id
        actor: Any = (
            ray.remote(StrategyRunnerActor)
            .options(name=runner_name(instance), namespace=s.ray_namespace, num_cpus=0)
            .remote(s, config.to_wire(), versions_actor=params_name)  # feed=True
        )
        handles.append(actor)
        await call(actor.ping.remote(), 60)  # restored, asked the shards, feed task running

        expected = trace(backtest_bars(bars), "sma_cross", SMA)
        assert len(expected) >= 3
        # stop after every decision bar (to fill its order) and every 40 bars (status
        # keeps the last 50 steps)
        stops = {x.bar for x in expected} | set(range(39, len(bars), 40)) | {len(bars) - 1}
        deadline = asyncio.get_running_loop().time() + WAIT_S
        steps: dict[str, dict[str, Any]] = {}
        for j in sorted(stops):
            _release(tmp_path, j + 1)
            await _handled(actor, j + 1, deadline)
            for w in (await call(actor.status.remote()))["steps"]:
                steps[w["bar_start"]] = w
            await _dispatch(desk, instance, bars, j)
        assert await stop_runner(s, instance)  # stops cleanly, then ends for good
    finally:
        for h in handles:
            with contextlib.suppress(Exception):
                ray.kill(h, no_restart=True)

    index = {b.start.isoformat(): i for i, b in enumerate(bars)}
    assert sorted(index[k] for k in steps) == list(range(len(bars)))  # each bar, once
    live = [
        (index[k], Decision[w["decision"].upper()])
        for k, w in sorted(steps.items(), key=lambda kv: index[kv[0]])
        if w["decision"] != "hold"
    ]
    assert live == [(x.bar, x.decision) for x in expected]
    assert {w["version"] for w in steps.values()} == {1}

    orders = _orders(desk, instance)
    assert len(orders) >= 2 and all(o[3] == "filled" for o in orders), orders
    coids = [o[1] for o in orders]
    assert len(coids) == len(set(coids))
    per_bar = Counter(p[3] for p in map(parse_client_order_id, coids) if p is not None)
    assert len(per_bar) == len(orders) and max(per_bar.values()) == 1, per_bar
    decided = {bars[x.bar].start for x in expected}
    assert set(per_bar) <= decided  # every order was placed on a decision bar
    held = sum((o[4] if o[2] == "buy" else -o[4] for o in orders), Decimal(0))
    assert desk.position(SYMBOL) == held
