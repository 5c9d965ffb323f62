"""Wait for a PostgreSQL ``NOTIFY`` on one channel, with a timeout (a missed or lost
notification costs at most one timeout: callers poll after it anyway).

Writers call ``pg_notify`` inside their transaction, so a wake-up is delivered only if
the change committed. A dropped connection is reopened on the next ``wait``.
"""

from __future__ import annotations

import logging
import time

import psycopg

log = logging.getLogger(__name__)


def libpq_url(url: str) -> str:
    """``postgresql+psycopg://...`` (SQLAlchemy) -> ``postgresql://...`` (libpq)."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest}"


class Listener:
    def __init__(self, url: str, channel: str) -> None:
        self.url, self.channel = libpq_url(url), channel
        self._conn: psycopg.Connection | None = None

    def _connect(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
            conn.execute(f"LISTEN {self.channel}")
            self._conn = conn
        return self._conn

    def wait(self, timeout_s: float) -> bool:
        """True when a notification arrived within ``timeout_s``."""
        try:
            conn = self._connect()
            for _ in conn.notifies(timeout=timeout_s, stop_after=1):
                return True
            return False
        except psycopg.Error as exc:
            log.warning("LISTEN %s failed: %s", self.channel, exc)
            self.close()
            time.sleep(min(timeout_s, 1.0))
            return False

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                pass
            self._conn = None
