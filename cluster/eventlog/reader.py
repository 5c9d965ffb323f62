"""The record as the gateway reads it: ``store.read_after`` and ``store.head`` off the event
loop, on the gateway process's own pool. A database failure is ``TransientError``."""

from __future__ import annotations

import asyncio

from cluster.db import Database
from cluster.eventlog import store
from cluster.events import Event, Gap


class RecordReader:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _read(self, stream: str, after: int, limit: int) -> list[Event] | Gap:
        with self.db.session() as s:
            return store.read_after(s, stream, after, limit)

    def _head(self, stream: str) -> int:
        with self.db.session() as s:
            return store.head(s, stream)

    async def read_after(self, stream: str, after: int, limit: int) -> list[Event] | Gap:
        return await asyncio.to_thread(self._read, stream, after, limit)

    async def head(self, stream: str) -> int:
        return await asyncio.to_thread(self._head, stream)
