"""Which feed shard owns a symbol.

Why crc32 and not ``hash()``: Python salts ``str`` hashes per process, and every process
(shards, broker, gateway, REST replicas) must agree on the owner without talking to each
other. crc32 of the upper-cased ticker is stable across processes, hosts and releases.
Changing the shard count moves symbols; that happens only at a deploy.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

from domain.errors import ValidationFailed

__all__ = ["partition", "shard_of"]


def shard_of(symbol: str, n_shards: int) -> int:
    """Index in ``[0, n_shards)`` of the shard that owns ``symbol``."""
    if n_shards < 1:
        raise ValidationFailed("n_shards", "at-least-1")
    return zlib.crc32(symbol.strip().upper().encode("ascii")) % n_shards


def partition(symbols: Iterable[str], n_shards: int) -> dict[int, list[str]]:
    """Symbols grouped by owning shard (upper-cased, de-duplicated, order kept)."""
    out: dict[int, list[str]] = {}
    seen: set[str] = set()
    for raw in symbols:
        symbol = raw.strip().upper()
        if not symbol or symbol in seen:
            continue
        seen.add(symbol)
        out.setdefault(shard_of(symbol, n_shards), []).append(symbol)
    return out
