"""The paper broker fed by the real market-data feed shards (simulated provider), through
``FeedQuoteSource``: a market order fills from live quotes with nobody calling
``on_quotes``."""

from __future__ import annotations

import asyncio
import time
import uuid
from decimal import Decimal
from typing import Any

import ray

from cluster import names
from cluster.settings import Settings
from tests.integration.paper.conftest import Desk


async def test_feed_quotes_when_order_working_then_fills_without_scripted_quotes(
    make_desk: Any, paper_settings: Settings
) -> None:
    from actors.feed_supervisor import ensure as ensure_feed
    from actors.feed_supervisor import shard_names

    # a namespace of its own: the session's Serve deployment runs feeds under the default one
    namespace = f"elson-paper-feed-{uuid.uuid4().hex[:6]}"
    feed = paper_settings.with_overrides(
        ray_namespace=namespace, feed_shards=1, feed_always_open=True, feed_tick_interval_s=0.2
    )
    started = await asyncio.to_thread(ensure_feed, feed)
    try:
        desk: Desk = await make_desk(
            ray_namespace=namespace, paper_quote_feed=True, feed_shards=1, feed_always_open=True
        )
        desk.driver.book("AAPL", "99.90", "100.00")  # the service's reservation quote
        order = await desk.place(symbol="AAPL", side="buy", type="market", qty="1")
        deadline = time.monotonic() + 30
        while desk.order(order.id).status.value != "filled":
            assert time.monotonic() < deadline, "no fill from the feed within 30 s"
            await asyncio.sleep(0.2)  # real quotes from a real shard: nothing to fake
        filled = desk.order(order.id)
        assert filled.filled_qty == 1 and filled.filled_avg_price is not None
        assert filled.filled_avg_price > 0
        detail = dict(desk.events(order.id))["fill"]["fill_detail"]
        assert Decimal(detail["reference_price"]) == filled.filled_avg_price
    finally:
        for name in started or [names.FEED_SUPERVISOR, *shard_names(feed)]:
            handle = names.get_actor(name, feed.ray_namespace)
            if handle is not None:
                ray.kill(handle, no_restart=True)
