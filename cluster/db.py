"""PostgreSQL access: engines sized from the server's own limit, sessions that fail fast.

Pool sizing (documented in the README):

    budget      = max_connections - superuser_reserved_connections - reserve
    per_process = floor(budget / pooled_processes)            (must be >= 1)
    pool_size   = max(1, ceil(per_process * 2 / 3))
    max_overflow= per_process - pool_size

so ``pooled_processes * (pool_size + max_overflow) <= budget`` always holds, and a
process never asks the server for a connection it cannot have. A request that finds its
pool exhausted waits ``pool_timeout`` and then fails with ``TransientError`` (the API
answers 503 ``dependency-unavailable``), never with a server-side "too many connections".
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from cluster import metrics
from domain.errors import TransientError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PoolSize:
    pool_size: int
    max_overflow: int

    @property
    def total(self) -> int:
        return self.pool_size + self.max_overflow


class PoolBudgetError(ValueError):
    pass


def pool_budget(max_connections: int, reserved: int, processes: int) -> PoolSize:
    """Per-process pool so that ``processes`` pools never exceed ``max_connections - reserved``."""
    if processes < 1:
        raise PoolBudgetError("at least one pooled process is required")
    budget = max_connections - reserved
    per_process = budget // processes
    if per_process < 1:
        raise PoolBudgetError(
            f"max_connections={max_connections} minus reserve={reserved} leaves {budget} "
            f"connections for {processes} pooled processes: raise max_connections or lower "
            "ELSON_API_REPLICAS / ELSON_JOB_WORKERS"
        )
    pool_size = max(1, math.ceil(per_process * 2 / 3))
    return PoolSize(pool_size=pool_size, max_overflow=per_process - pool_size)


def server_connection_limits(url: str) -> tuple[int, int]:
    """(max_connections, superuser_reserved_connections) as the server reports them."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            max_conn = int(conn.execute(text("SHOW max_connections")).scalar_one())
            su_reserved = int(
                conn.execute(text("SHOW superuser_reserved_connections")).scalar_one()
            )
        return max_conn, su_reserved
    finally:
        engine.dispose()


class Database:
    """One engine per process, built from frozen config (never at import time)."""

    def __init__(
        self,
        url: str,
        pool: PoolSize,
        *,
        pool_timeout_s: float = 5.0,
        statement_timeout_ms: int = 15_000,
        process_label: str | None = None,
    ) -> None:
        self.url = url
        self.pool = pool
        # A component (api, gateway, broker...), never a pid: metric labels stay bounded.
        self.process_label = process_label or "api"
        self.engine: Engine = create_engine(
            url,
            pool_size=pool.pool_size,
            max_overflow=pool.max_overflow,
            pool_timeout=pool_timeout_s,
            pool_pre_ping=True,
            pool_recycle=1800,
            hide_parameters=True,  # parameters may hold PII; keep them out of errors/logs
            connect_args={"options": f"-c statement_timeout={statement_timeout_ms}"},
        )
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        metrics.add_gauge_source(id(self), self.export_pool_stats)

    @classmethod
    def for_settings(
        cls,
        url: str,
        *,
        reserve: int,
        processes: int,
        pool_timeout_s: float,
        statement_timeout_ms: int,
        process_label: str | None = None,
    ) -> Database:
        max_conn, su_reserved = server_connection_limits(url)
        pool = pool_budget(max_conn, su_reserved + reserve, processes)
        return cls(
            url,
            pool,
            pool_timeout_s=pool_timeout_s,
            statement_timeout_ms=statement_timeout_ms,
            process_label=process_label,
        )

    @classmethod
    def from_settings(cls, settings: Any, process_label: str | None = None) -> Database:
        """The process's pool from its settings (the one way every process builds it)."""
        if settings.database_url is None:
            raise RuntimeError("no database URL: bootstrap resolves the embedded one first")
        return cls.for_settings(
            settings.database_url.get_secret_value(),
            reserve=settings.db_connection_reserve,
            processes=settings.pooled_processes,
            pool_timeout_s=settings.db_pool_timeout_s,
            statement_timeout_ms=settings.db_statement_timeout_ms,
            process_label=process_label,
        )

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: commit on success, roll back on any error.

        Driver and pool errors are translated here, where they enter: an exhausted pool or
        an unreachable server becomes ``TransientError``.
        """
        try:
            with self._sessions() as session, session.begin():
                yield session
        except PoolTimeout as exc:
            raise TransientError(
                f"database pool exhausted ({self.pool.total} connections busy)"
            ) from exc
        except OperationalError as exc:
            if _is_connection_problem(exc):
                raise TransientError("database unavailable") from exc
            raise
        finally:
            self.export_pool_stats()

    def ping(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except PoolTimeout as exc:
            raise TransientError("database pool exhausted") from exc
        except DBAPIError as exc:
            raise TransientError("database unavailable") from exc
        finally:
            self.export_pool_stats()

    def pool_stats(self) -> dict[str, int]:
        p = self.engine.pool
        return {
            "size": p.size(),  # type: ignore[attr-defined]
            "checked_out": p.checkedout(),  # type: ignore[attr-defined]
            "overflow": max(0, p.overflow()),  # type: ignore[attr-defined]
            "checked_in": p.checkedin(),  # type: ignore[attr-defined]
            "limit": self.pool.total,
        }

    def export_pool_stats(self) -> None:
        try:
            gauge = metrics.db_pool_gauge()
            for state, value in self.pool_stats().items():
                gauge.set(value, {"component": self.process_label, "state": state})
        except Exception:  # metrics must never break a request
            log.debug("pool metrics export failed", exc_info=True)

    def dispose(self) -> None:
        metrics.remove_gauge_source(id(self))
        self.engine.dispose()


def _is_connection_problem(exc: OperationalError) -> bool:
    msg = str(exc.orig).lower() if exc.orig is not None else str(exc).lower()
    return any(
        s in msg
        for s in ("connection", "could not connect", "server closed", "terminating", "timeout")
    )
