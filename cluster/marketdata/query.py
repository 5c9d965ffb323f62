"""Read side of the feed for REST: latest values, recent bars and feed status.

Calls go to the shard that owns each symbol (``sharding.shard_of``), in parallel, each
bounded by a timeout; a missing, dead or slow shard is a ``TransientError`` (503 and
retry), never a hang. ``cluster`` must not import ``actors``, so shards are looked up by
name and their methods called by name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from cluster import names
from cluster.marketdata.sharding import partition, shard_of
from domain.errors import TransientError
from domain.marketdata import Bar, Quote

__all__ = ["MarketDataQuery"]


class MarketDataQuery:
    def __init__(self, namespace: str, n_shards: int, *, timeout_s: float = 2.0) -> None:
        self.namespace, self.n_shards, self.timeout_s = namespace, n_shards, timeout_s

    async def _call(self, shard: int, method: str, *args: Any) -> Any:
        name = names.feed_shard(shard)
        handle = names.get_actor(name, self.namespace)
        if handle is None:
            raise TransientError(f"market data shard {shard} is not running")
        try:
            return await asyncio.wait_for(getattr(handle, method).remote(*args), self.timeout_s)
        except TimeoutError as exc:
            raise TransientError(f"market data shard {shard} did not answer in time") from exc
        except Exception as exc:  # RayActorError and friends: restarting or gone
            raise TransientError(f"market data shard {shard}: {type(exc).__name__}") from exc

    async def snapshots(self, symbols: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Per symbol: ``seq`` and the wire dicts of ``quote``, ``trade``, ``bar`` (or None).

        Symbols no shard knows are absent from the answer.
        """
        groups = partition(symbols, self.n_shards)
        replies = await asyncio.gather(
            *(self._call(shard, "snapshot", syms) for shard, syms in groups.items())
        )
        out: dict[str, dict[str, Any]] = {}
        for reply in replies:
            out.update(reply)
        return out

    async def latest_quote(self, symbol: str) -> Quote | None:
        snap = (await self.snapshots([symbol])).get(symbol.upper())
        if snap is None or snap.get("quote") is None:
            return None
        return Quote.from_wire(snap["quote"])

    async def bars(self, symbol: str, limit: int = 120) -> list[Bar]:
        wires = await self._call(shard_of(symbol, self.n_shards), "bars", symbol.upper(), limit)
        return [Bar.from_wire(w) for w in wires]

    async def feed_status(self) -> dict[str, Any]:
        """Every shard's status; a shard that does not answer is listed as down."""
        results = await asyncio.gather(
            *(self._call(i, "status") for i in range(self.n_shards)), return_exceptions=True
        )
        shards: list[dict[str, Any]] = []
        for index, result in enumerate(results):
            if isinstance(result, BaseException):
                shards.append({"shard": index, "state": "down", "error": str(result)})
            else:
                shards.append({"state": _state(result), **result})
        worst = {s["state"] for s in shards}
        overall = "down" if "down" in worst else "degraded" if "degraded" in worst else "up"
        return {"state": overall, "shards": shards}


def _state(status: dict[str, Any]) -> str:
    degraded = status.get("cache", {}).get("state") == "degraded" or any(
        info.get("degraded") for info in status.get("symbols", {}).values()
    )
    return "degraded" if degraded else "up"
