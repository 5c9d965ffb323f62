"""Fill ``services.marketdata`` (called by ``serve.services.build_services``)."""

from __future__ import annotations

from typing import Any

from cluster.marketdata.query import MarketDataQuery


def wire(services: Any) -> None:
    s = services.settings
    services.marketdata = MarketDataQuery(s.ray_namespace, s.feed_shards)
