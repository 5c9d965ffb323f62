"""The paper broker: a detached Ray actor around ``PaperEngine`` and ``OrderService``.

Concurrency: an asyncio actor. Every call that touches the engine or the database takes
one ``asyncio.Lock`` and runs its desk step (``actors.paper_desk``) in a worker thread, so
engine steps and their bookings happen one at a time and in order, while ``ping`` and
``fill_model`` answer without waiting behind a slow database write.

Restart safety: Ray re-runs the constructor after a crash (``max_restarts=-1``). It
rebuilds everything from storage: settings -> database, service, calendar, clock, fill
model; then ``PaperDesk.restore`` loads every open order with broker ``paper`` and puts it
back into the engine in its stored state (``PaperEngine.restore``: execution-id counter
after the fills already booked, stop trigger and trailing water mark as last stored).
Calls are at most once: a call that died with the old process is retried by its caller
(the router retries ``submit``/``cancel``/``replace``, which are idempotent here); a
quote handed in again after the restart never books a fill twice (per symbol, quotes
stamped at or before the last booked event are dropped; execution ids continue and the
DB dedupes them).

Time: a background task ticks ``engine.on_clock`` every ``settings.paper_tick_interval_s``
(day-order expiry at the session close, early closes included; release at the open;
opg/cls). ``set_clock`` pins a fake clock, in ``env=test`` only.

Quotes: ``on_quotes`` takes ``Quote.to_wire`` dicts (or TopOfBook fields). With
``settings.paper_quote_feed`` (default on) a ``QuoteSource`` (``actors.paper_feed``: the
feed shards through ``FeedClient``) pushes quotes of ``settings.symbols`` plus every
working order's symbol into the same path; tests turn it off and drive ``on_quotes``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import ray

from actors.bootstrap import platform_actor
from actors.paper_desk import PaperDesk
from actors.paper_feed import FeedQuoteSource, QuoteSource
from cluster import names
from cluster.clock import clock_for
from cluster.runtime import Runtime
from cluster.settings import Environment, Settings
from domain.clock import Clock, FakeClock
from domain.errors import Forbidden
from domain.ids import OrderId, parse_order_id
from domain.paper import FillModel, PaperEngine
from domain.risk.exchange import ExchangeHalts
from domain.risk.luld import HaltChange

log = logging.getLogger(__name__)
T = TypeVar("T")


class SwitchableClock:
    """The configured clock, replaceable by a fake one in tests (``set_clock``)."""

    def __init__(self, inner: Clock) -> None:
        self.inner = inner

    def now(self) -> datetime:
        return self.inner.now()


def halt_wire(change: HaltChange) -> dict[str, Any]:
    return {
        "symbol": change.symbol,
        "halted": change.halted,
        "until": None if change.until is None else change.until.isoformat(),
        "reason": f"{change.reason}: {change.detail}" if change.detail else change.reason,
    }


def fill_model_for(settings: Settings) -> FillModel:
    return FillModel(
        slippage_bps=settings.paper_slippage_bps,
        allow_partial=settings.paper_allow_partial,
        latency=timedelta(milliseconds=settings.paper_latency_ms),
        fees=settings.paper_fee_model(),
    )


class PaperBroker:
    def __init__(self, settings: Settings, *, quote_source: QuoteSource | None = None) -> None:
        self.settings = settings
        self.incarnation = uuid.uuid4().hex
        self.clock = SwitchableClock(clock_for(settings.clock_start, settings.clock_anchor))
        runtime = Runtime.for_actor(
            settings.with_overrides(broker="paper"), "paper_broker", clock=self.clock
        )
        self.db, self.service, calendar = runtime.db, runtime.orders, runtime.calendar
        self.model = fill_model_for(settings)
        halts = ExchangeHalts(
            frozenset(
                x.strip().upper() for x in settings.luld_tier1_symbols.split(",") if x.strip()
            ),
            settings.mwcb_index_symbol or None,
            session=calendar,
        )
        engine = PaperEngine(self.model, calendar, halts=halts)
        self.desk = PaperDesk(self.service, engine, self.clock)
        self.restored = self.desk.restore()
        self._lock = asyncio.Lock()
        self._halts: list[dict[str, Any]] = []
        loop = asyncio.get_event_loop()
        self._ticker = loop.create_task(self._tick_forever())
        if quote_source is None and settings.paper_quote_feed:
            quote_source = FeedQuoteSource(
                settings.ray_namespace,
                settings.feed_shards,
                consumer_id=f"paper-broker-{self.incarnation[:12]}",
            )
        self.quote_source = quote_source
        self._feed: asyncio.Task[None] | None = None
        if quote_source is not None:
            symbols = set(settings.symbols) | {str(o.symbol) for o in self.desk.mirror.values()}
            self._feed = loop.create_task(quote_source.run(symbols, self.on_quotes))
        log.info("paper broker %s up: %d order(s) restored", self.incarnation, self.restored)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        async with self._lock:
            return await asyncio.to_thread(fn, *args)

    async def _tick_forever(self) -> None:
        interval = self.settings.paper_tick_interval_s
        while True:
            await asyncio.sleep(interval)
            try:
                await self._run(self.desk.tick)
            except Exception:  # the loop must outlive one bad step
                log.exception("paper tick failed")

    # -- requests (router) -------------------------------------------------------------
    async def submit(self, order_id: str) -> dict[str, Any]:
        answer = await self._run(self.desk.submit, parse_order_id(order_id))
        order = self.desk.mirror.get(OrderId(answer["order_id"]))
        if self.quote_source is not None and order is not None:
            try:
                await asyncio.wait_for(self.quote_source.add([str(order.symbol)]), 5)
            except Exception:  # quotes for it arrive once the feed can subscribe
                log.warning("paper feed: cannot subscribe %s", order.symbol, exc_info=True)
        return answer

    async def cancel(self, order_id: str) -> dict[str, Any]:
        return await self._run(self.desk.cancel, parse_order_id(order_id))

    async def replace(self, old_id: str, new_id: str) -> dict[str, Any]:
        return await self._run(
            self.desk.replace, parse_order_id(old_id), parse_order_id(new_id, "new_id")
        )

    # -- inputs ------------------------------------------------------------------------
    async def on_quotes(self, quotes: list[dict[str, Any]]) -> dict[str, int]:
        counts = await self._run(self.desk.on_quotes, quotes)
        await self._forward_halts()
        return counts

    async def tick(self) -> dict[str, int]:
        counts = await self._run(self.desk.tick)
        await self._forward_halts()
        return counts

    async def _forward_halts(self) -> None:
        """Exchange halts the engine saw go to the risk engine, so orders for a halted
        symbol are refused at submit (``symbol_halted``); the engine fills nothing there
        either way. Kept and retried with the next batch if the risk engine is away."""
        self._halts.extend(halt_wire(c) for c in self.desk.take_halts())
        if not self._halts:
            return
        engine = names.get_actor(names.RISK_ENGINE, self.settings.ray_namespace)
        if engine is None:
            return
        try:
            await asyncio.wait_for(engine.exchange_halts.remote(self._halts), 5.0)  # type: ignore[attr-defined]
            self._halts = []
        except Exception:
            log.warning("could not forward %d exchange halt(s)", len(self._halts), exc_info=True)

    # -- queries -----------------------------------------------------------------------
    async def get_state(self, order_id: str) -> dict[str, Any]:
        return await self._run(self.desk.get_state, OrderId(str(order_id)))

    async def get_states(self, order_ids: list[str]) -> dict[str, dict[str, Any]]:
        """``get_state`` for many orders in one call (the reconciler's pass)."""
        return await self._run(self.desk.get_states, [OrderId(str(o)) for o in order_ids])

    async def list_open(self) -> list[dict[str, Any]]:
        return await self._run(self.desk.list_open)

    async def ping(self) -> dict[str, Any]:
        return {
            "incarnation": self.incarnation,
            "restored": self.restored,
            "working": len(self.desk.engine.working()),
            "unbooked": sum(len(v) for v in self.desk.unbooked.values()),
        }

    async def fill_model(self) -> dict[str, Any]:
        return {
            "slippage_bps": str(self.model.slippage_bps),
            "allow_partial": self.model.allow_partial,
            "latency_ms": self.model.latency // timedelta(milliseconds=1),
            "fees": {k: str(v) for k, v in vars(self.model.fees).items()},
        }

    # -- test hooks (refused outside env=test) -----------------------------------------
    def _test_only(self, what: str) -> None:
        if self.settings.env is not Environment.TEST:
            raise Forbidden(f"{what} is for tests only")

    async def set_clock(self, iso: str) -> str:
        self._test_only("set_clock")
        at = datetime.fromisoformat(iso)
        async with self._lock:
            if isinstance(self.clock.inner, FakeClock):
                self.clock.inner.set(at)
            else:
                self.clock.inner = FakeClock(at)
        return self.clock.now().isoformat()

    async def fail_next_applies(self, count: int) -> None:
        """Make the next ``count`` bookings fail as if the database were down."""
        self._test_only("fail_next_applies")
        async with self._lock:
            self.desk.fail_applies = count


def ensure(settings: Settings, *, name: str = names.PAPER_BROKER) -> list[str]:
    """Create or adopt the detached paper broker; returns its name for readiness."""
    if settings.broker != "paper":
        return []
    remote = ray.remote(PaperBroker)
    remote.options(**platform_actor(name, settings)).remote(settings)  # type: ignore[attr-defined]
    return [name]
