"""Read and write the risk engine's rows. Every write goes with a ``risk_transitions`` row in
the same transaction, and that row's id is the new snapshot version: a replica that sees a
higher ``max(id)`` knows its snapshot is stale."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from cluster.risk.tables import (
    risk_breakers,
    risk_limits,
    risk_locks,
    risk_states,
    risk_transitions,
)
from domain.risk.snapshot import Lock
from domain.risk.states import Scope, ScopeState, TradingState


@dataclass
class Loaded:
    version: int = 0
    states: dict[Scope, ScopeState] = field(default_factory=dict)
    locks: list[Lock] = field(default_factory=list)
    breakers: dict[str, dict[str, Any]] = field(default_factory=dict)
    breaker_states: dict[str, str] = field(default_factory=dict)
    limits: dict[Scope, dict[str, Any]] = field(default_factory=dict)


def version(s: Session) -> int:
    return int(s.execute(select(func.coalesce(func.max(risk_transitions.c.id), 0))).scalar_one())


def load(s: Session) -> Loaded:
    """Everything a snapshot holds: states that are not ``active``, unreleased locks, every
    breaker record and every limit; read in one transaction with its version."""
    out = Loaded(version=version(s))
    for row in s.execute(select(risk_states)).mappings():
        state = ScopeState(
            Scope.parse(row["scope"]),
            TradingState(row["state"]),
            row["reason"],
            row["since"],
            row["by"],
        )
        if state.state is not TradingState.ACTIVE:
            out.states[state.scope] = state
    for row in s.execute(
        select(risk_locks).where(risk_locks.c.released_at.is_(None)).order_by(risk_locks.c.id)
    ).mappings():
        out.locks.append(lock_of(row))
    for row in s.execute(select(risk_breakers)).mappings():
        out.breakers[row["name"]] = dict(row["record"])
        out.breaker_states[row["name"]] = row["state"]
    for row in s.execute(select(risk_limits)).mappings():
        out.limits[Scope.parse(row["scope"])] = dict(row["limits"])
    return out


def lock_of(row: Any) -> Lock:
    return Lock(
        id=row["id"],
        scope=Scope.parse(row["scope"]),
        reason=row["reason"],
        created_at=row["created_at"],
        until=row["until"],
        by=row["by"],
    )


def record(
    s: Session,
    *,
    at: datetime,
    by: str,
    kind: str,
    subject: str,
    from_state: str | None,
    to_state: str,
    reason: str,
) -> int:
    """The audit row of one transition; returns its id (the new snapshot version)."""
    return int(
        s.execute(
            insert(risk_transitions)
            .values(
                at=at,
                by=by,
                kind=kind,
                subject=subject,
                from_state=from_state,
                to_state=to_state,
                reason=reason,
            )
            .returning(risk_transitions.c.id)
        ).scalar_one()
    )


def put_state(s: Session, state: ScopeState) -> None:
    values = {
        "scope": str(state.scope),
        "state": state.state.value,
        "reason": state.reason,
        "since": state.since,
        "by": state.by,
    }
    stmt = pg_insert(risk_states).values(**values)
    s.execute(stmt.on_conflict_do_update(index_elements=["scope"], set_=values))


def add_lock(s: Session, lock: Lock) -> None:
    s.execute(
        insert(risk_locks).values(
            id=lock.id,
            scope=str(lock.scope),
            reason=lock.reason,
            created_at=lock.created_at,
            until=lock.until,
            by=lock.by,
        )
    )


def release_lock(s: Session, lock_id: str, at: datetime, by: str) -> bool:
    done = s.execute(
        update(risk_locks)
        .where(risk_locks.c.id == lock_id, risk_locks.c.released_at.is_(None))
        .values(released_at=at, released_by=by)
    )
    return bool(getattr(done, "rowcount", 0))


def put_breaker(s: Session, name: str, state: str, rec: dict[str, Any], at: datetime) -> None:
    values = {"name": name, "state": state, "record": rec, "updated_at": at}
    stmt = pg_insert(risk_breakers).values(**values)
    s.execute(stmt.on_conflict_do_update(index_elements=["name"], set_=values))


def put_limits(s: Session, scope: Scope, limits: dict[str, Any], at: datetime, by: str) -> None:
    values = {"scope": str(scope), "limits": limits, "updated_at": at, "by": by}
    stmt = pg_insert(risk_limits).values(**values)
    s.execute(stmt.on_conflict_do_update(index_elements=["scope"], set_=values))


def transitions(
    s: Session, *, subject: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """The audit, newest first (optionally of one subject)."""
    q = select(risk_transitions).order_by(risk_transitions.c.id.desc()).limit(limit)
    if subject is not None:
        q = q.where(risk_transitions.c.subject == subject)
    return [dict(r) for r in s.execute(q).mappings()]
