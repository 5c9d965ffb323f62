"""The runner as a Ray actor: killed mid-stream, Ray restarts it, it resumes on the current
version (asked of the adaptive-parameter actor) and no bar produces two orders (acceptance 3, the
runner's half). Orders go through the actor's own OrderService (quotes from the feed
cache in Redis, the risk view) to the test's PostgreSQL; no broker fills them here.

Ray: run under ``flock /tmp/elson-ray.lock``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import ray
from sqlalchemy import select, text

from actors.adaptive_params import AdaptiveParamsActor
from actors.strategy_runner import StrategyRunnerActor, runner_name, stop_runner
from cluster.clock import clock_for
from cluster.orders import tables
from cluster.redis_client import ResilientRedis
from cluster.settings import Settings
from cluster.strategies.runner import RunnerConfig
from domain.marketdata import Bar, Quote
from domain.strategy.runner_core import parse_client_order_id
from domain.strategy.signals import trace
from tests.integration.paper.conftest import WEDNESDAY
from tests.integration.strategy_runner.replay import backtest_bars, replay_bars
from tests.kit.quotes import call

SMA = {"n1": 5, "n2": 20}
STEP = {"n1": 3, "n2": 12}  # within the default 50% step limit


def _owner(desk: Any) -> str:
    with desk.service.db.session() as session:
        found = session.execute(
            text("SELECT owner_user_id FROM accounts WHERE id = :a"), {"a": str(desk.account)}
        ).scalar_one()
    return str(found)


def _quote(settings: Settings, redis: ResilientRedis, bar: Bar) -> None:
    """The feed cache's latest quote, stamped now on the platform's (shifted) clock."""
    now = clock_for(settings.clock_start, settings.clock_anchor).now()
    q = Quote(
        symbol=bar.symbol, bid_price=bar.close - Decimal("0.01"), bid_size=100,
        ask_price=bar.close + Decimal("0.01"), ask_size=100, exchange_ts=now,
        received_ts=now, provider="script",
    )  # fmt: skip
    key = redis.key("feed", "last", bar.symbol)
    redis.call("hset", lambda r: r.hset(key, mapping={"quote": json.dumps(q.to_wire())}))


async def _push(actor: Any, s: Settings, redis: ResilientRedis, bars: list[Bar]) -> list[Any]:
    steps = []
    for i in range(0, len(bars), 30):  # a batch per call, as the feed delivers them
        chunk = bars[i : i + 30]
        _quote(s, redis, chunk[-1])
        steps.extend(await call(actor.on_bars.remote([b.to_wire() for b in chunk])))
    return steps


async def _restarted(actor: Any, before: str) -> None:
    for _ in range(300):  # Ray restarts it in about a second; bounded, not timed
        try:
            if (await call(actor.ping.remote(), 10))["incarnation"] != before:
                return
        except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError):
            await asyncio.sleep(0.1)
    raise AssertionError("the runner actor did not come back")


async def test_runner_actor_killed_then_resumes_on_current_version_without_duplicates(
    make_desk: Any, paper_settings: Settings, replay_file: Path
) -> None:
    desk = await make_desk()
    # its own key prefix: the session platform's feed shards write AAPL's quote to the
    # shared feed cache, which would overwrite the quotes this test writes for its bars
    s = paper_settings.with_overrides(
        clock_start=WEDNESDAY,
        clock_anchor=None,
        redis_key_prefix=f"{paper_settings.redis_key_prefix}runner-{uuid.uuid4().hex[:8]}:",
    )
    redis = ResilientRedis.from_settings(s)
    owner = _owner(desk)
    suffix = uuid.uuid4().hex[:8]
    params_name = f"test.adaptive_params.{suffix}"
    adaptive = (
        ray.remote(AdaptiveParamsActor)
        .options(name=params_name, namespace=s.ray_namespace, max_restarts=-1, num_cpus=0)
        .remote(s, 3600.0)
    )
    spec = {
        "strategy": "sma_cross", "symbols": ["AAPL"], "bar_interval": "1m",
        "account_id": str(desk.account), "params": SMA,
        "sizing": {"mode": "fixed", "quantity": "10"},
        "guardrails": {"margin": 0, "min_trades": 0, "max_step": 0.5, "cooldown_s": 0},
    }  # fmt: skip
    created = await call(adaptive.create.remote(spec, owner, owner))
    config = RunnerConfig.from_instance(created)
    instance = config.instance_id
    actor = (
        ray.remote(StrategyRunnerActor)
        .options(name=runner_name(instance), namespace=s.ray_namespace, max_restarts=-1, num_cpus=0)
        .remote(s, config.to_wire(), versions_actor=params_name, feed=False)
    )
    bars = replay_bars(replay_file)
    k = next(x for x in trace(backtest_bars(bars), "sma_cross", SMA) if x.bar > 60).bar
    try:
        first = await _push(actor, s, redis, bars[: k + 1])
        assert first[-1]["client_order_id"] is not None  # its last bar placed an order
        before = (await call(actor.ping.remote()))["incarnation"]
        before_params = (await call(adaptive.ping.remote()))["incarnation"]
        ray.kill(actor, no_restart=False)  # mid-stream: Ray re-runs both constructors
        ray.kill(adaptive, no_restart=False)
        await _restarted(adaptive, before_params)
        await _restarted(actor, before)
        promoted = await call(adaptive.promote.remote(instance, owner, params=STEP))
        assert promoted["outcome"] == "promoted", promoted
        again = await _push(actor, s, redis, bars)  # the feed hands everything again
        assert await stop_runner(s, instance)  # stops cleanly, then ends for good
    finally:
        ray.kill(actor, no_restart=True)
        ray.kill(adaptive, no_restart=True)
        redis.close()

    assert again and again[0]["bar_start"] == bars[k + 1].start.isoformat()
    assert {x["version"] for x in first} == {1} and {x["version"] for x in again} == {2}
    c = tables.orders.c
    with desk.service.db.session() as session:
        ids = session.execute(select(c.client_order_id).where(c.strategy_id == instance)).scalars()
        parsed = [parse_client_order_id(i) for i in ids]
    per_bar = Counter(p[3] for p in parsed if p is not None)
    assert len(per_bar) >= 2 and max(per_bar.values()) == 1, per_bar
    assert any(p is not None and p[1] == 2 for p in parsed)
