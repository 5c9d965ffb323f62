"""The risk engine: trading states, locks and broker breakers, one transition at a time.

Hosted by the ``RiskEngine`` actor (``actors.risk_engine``), which is the only writer. Each
change runs under one lock (so 100 concurrent callers are applied one after another, each
against the state the previous one left) and is committed to PostgreSQL, with its audit
row (``risk_transitions``) and its gateway events, before the call returns; memory is
updated only after the commit. A restart rebuilds from the same rows (``load``), so a
tripped breaker is still tripped and a halt still holds.

After every change the new snapshot goes to ``publish`` (the actor pushes it to Redis
pub/sub for the replicas' ``RiskView``); replicas also poll the version, so a lost push
costs at most their staleness bound.

Exchange halts (LULD pauses, market-wide halts) are locks by ``exchange`` on a symbol
scope (or the global scope), with their end time: they are audited, survive a restart
and release themselves (``tick``); the gate answers ``symbol_halted`` for them.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from cluster.db import Database
from cluster.eventlog import store as eventlog
from cluster.risk import gauges, store
from cluster.risk import protections as protection_rows
from cluster.risk.events import messages_for
from cluster.risk.protections import ProtectionSettings
from domain.breaker import Breaker, BreakerConfig, BreakerState, Transition
from domain.clock import Clock
from domain.errors import NotFound, ValidationFailed
from domain.risk.gate import EXCHANGE, RiskBook, limits_from_wire, limits_to_wire
from domain.risk.limits import RiskLimits
from domain.risk.snapshot import Lock, RiskSnapshot
from domain.risk.states import (
    Scope,
    ScopeKind,
    ScopeState,
    TradingState,
    next_state,
    target_event,
)

log = logging.getLogger(__name__)

Publish = Callable[[dict[str, Any]], None]


class RiskEngine:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        breaker_config: BreakerConfig | None = None,
        publish: Publish | None = None,
    ) -> None:
        self.db, self.clock = db, clock
        self.breaker_config = breaker_config or BreakerConfig()
        self.publish = publish
        self._mutex = threading.RLock()
        self._pending: list[Transition] = []
        self.load()

    # -- state ---------------------------------------------------------------------------
    def load(self) -> None:
        with self._mutex, self.db.session() as s:
            loaded = store.load(s)
            self.version = loaded.version
            self.states: dict[Scope, ScopeState] = loaded.states
            self.locks: dict[str, Lock] = {lock.id: lock for lock in loaded.locks}
            self.limits: dict[Scope, RiskLimits] = {
                scope: limits_from_wire(raw) for scope, raw in loaded.limits.items()
            }
            self.breakers: dict[str, Breaker] = {
                name: self._breaker(name, rec) for name, rec in loaded.breakers.items()
            }
        gauges.export(self.view(), list(self.breakers))

    def _breaker(self, name: str, record: dict[str, Any] | None = None) -> Breaker:
        if record is None:
            breaker = Breaker(self.breaker_config, name=name)
        else:
            breaker = Breaker.from_record(self.breaker_config, record, name=name)
        breaker.add_listener(self._pending.append)
        return breaker

    def view(self) -> RiskBook:
        with self._mutex:
            now = self.clock.now()
            refusing = frozenset(
                name
                for name, b in self.breakers.items()
                if b.state(now) in (BreakerState.OPEN, *_forced())
            )
            snapshot = RiskSnapshot(
                version=self.version,
                states=dict(self.states),
                locks=tuple(self.locks.values()),
                open_breakers=refusing,
            )
            return RiskBook(snapshot, dict(self.limits))

    def wire(self) -> dict[str, Any]:
        return self.view().to_wire()

    # -- trading states ------------------------------------------------------------------
    def set_state(
        self, scope: Scope, target: TradingState, *, reason: str, by: str
    ) -> dict[str, Any]:
        """Move ``scope`` to ``target`` (a legal move of the table); the same state again
        is answered without a transition (``changed: false``)."""
        with self._mutex:
            now = self.clock.now()
            held = self.states.get(scope)
            before = TradingState.ACTIVE if held is None else held.state
            event = target_event(before, target)
            if event is None:
                return {
                    "changed": False,
                    "scope": str(scope),
                    "previous": before.value,
                    "state": before.value,
                    "version": self.version,
                }
            after = next_state(before, event)
            state = ScopeState(scope, after, reason, now, by)
            with self.db.session() as s:
                store.put_state(s, state)
                version = store.record(
                    s,
                    at=now,
                    by=by,
                    kind="state",
                    subject=str(scope),
                    from_state=before.value,
                    to_state=after.value,
                    reason=reason,
                )
                data = {
                    "scope": str(scope),
                    "from": before.value,
                    "to": after.value,
                    "reason": reason,
                    "by": by,
                    "at": now.isoformat(),
                    "version": version,
                }
                eventlog.append(s, messages_for(scope, "trading_state_changed", data))
            if after is TradingState.ACTIVE:
                self.states.pop(scope, None)
            else:
                self.states[scope] = state
            self._committed(version)
            return {
                "changed": True,
                "scope": str(scope),
                "previous": before.value,
                "state": after.value,
                "version": version,
            }

    # -- locks ---------------------------------------------------------------------------
    def create_lock(
        self,
        scope: Scope,
        *,
        reason: str,
        by: str,
        until: datetime | None = None,
        duration: timedelta | None = None,
        lock_id: str | None = None,
    ) -> Lock:
        with self._mutex:
            now = self.clock.now()
            if duration is not None:
                until = now + duration
            lock = Lock(lock_id or str(uuid.uuid4()), scope, reason, now, until, by)
            if lock.id in self.locks:
                return self.locks[lock.id]
            with self.db.session() as s:
                store.add_lock(s, lock)
                version = store.record(
                    s,
                    at=now,
                    by=by,
                    kind="lock",
                    subject=str(scope),
                    from_state=None,
                    to_state=f"locked:{lock.id}",
                    reason=reason,
                )
                data = {**lock.to_wire(), "version": version}
                eventlog.append(s, messages_for(scope, "lock_created", data))
            self.locks[lock.id] = lock
            self._committed(version)
            return lock

    def release_lock(self, lock_id: str, *, by: str, reason: str = "released") -> Lock:
        with self._mutex:
            lock = self.locks.get(lock_id)
            if lock is None:
                raise NotFound(f"no active lock {lock_id}")
            self._release(lock, by, reason)
            return lock

    def _release(self, lock: Lock, by: str, reason: str) -> None:
        now = self.clock.now()
        with self.db.session() as s:
            store.release_lock(s, lock.id, now, by)
            version = store.record(
                s,
                at=now,
                by=by,
                kind="lock",
                subject=str(lock.scope),
                from_state=f"locked:{lock.id}",
                to_state="released",
                reason=reason,
            )
            data = {
                **lock.to_wire(),
                "released_by": by,
                "reason_released": reason,
                "version": version,
            }
            eventlog.append(s, messages_for(lock.scope, "lock_released", data))
        self.locks.pop(lock.id, None)
        self._committed(version)

    def exchange_halt(self, symbol: str | None, *, until: datetime | None, reason: str) -> Lock:
        """A LULD pause (``symbol``) or a market-wide halt (``None``) reported by the paper
        engine: a lock by ``exchange`` that ends at ``until`` (or by ``exchange_resume``)."""
        scope = Scope.global_() if symbol is None else Scope.symbol(symbol)
        with self._mutex:
            now = self.clock.now()
            for lock in self.locks.values():
                # an ended pause not yet released by ``tick`` does not cover a new one
                if lock.by == EXCHANGE and lock.scope == scope and lock.active(now):
                    return lock
            return self.create_lock(scope, reason=reason, by=EXCHANGE, until=until)

    def exchange_resume(self, symbol: str | None, *, reason: str) -> None:
        scope = Scope.global_() if symbol is None else Scope.symbol(symbol)
        with self._mutex:
            for lock in list(self.locks.values()):
                if lock.by == EXCHANGE and lock.scope == scope:
                    self._release(lock, EXCHANGE, reason)

    # -- limits --------------------------------------------------------------------------
    def set_limits(self, scope: Scope, limits: RiskLimits, *, by: str) -> dict[str, Any]:
        with self._mutex:
            now = self.clock.now()
            wire = limits_to_wire(limits)
            with self.db.session() as s:
                store.put_limits(s, scope, wire, now, by)
                version = store.record(
                    s,
                    at=now,
                    by=by,
                    kind="limits",
                    subject=str(scope),
                    from_state=None,
                    to_state="set",
                    reason=str(wire),
                )
            self.limits[scope] = limits
            self._committed(version)
            return {"scope": str(scope), "limits": wire, "version": version}

    # -- breakers ------------------------------------------------------------------------
    def broker_results(self, name: str, *, successes: int = 0, failures: int = 0) -> str:
        """Results of calls to a broker (the dispatcher reports each pass's)."""
        with self._mutex:
            breaker = self.breakers.get(name) or self._new_breaker(name)
            now = self.clock.now()
            for _ in range(failures):
                breaker.record_failure(now)
            for _ in range(successes):
                breaker.record_success(now)
            self._flush_breaker(
                name,
                breaker,
                by="broker-results",
                reason=f"{failures} failures, {successes} successes",
            )
            return breaker.state(now).value

    def trip_breaker(self, name: str, *, by: str, reason: str) -> str:
        with self._mutex:
            breaker = self.breakers.get(name) or self._new_breaker(name)
            now = self.clock.now()
            breaker.trip(now)
            self._flush_breaker(name, breaker, by=by, reason=reason)
            return breaker.state(now).value

    def reset_breaker(self, name: str, *, by: str, reason: str) -> str:
        with self._mutex:
            breaker = self.breakers.get(name) or self._new_breaker(name)
            now = self.clock.now()
            breaker.reset(now)
            self._flush_breaker(name, breaker, by=by, reason=reason)
            return breaker.state(now).value

    def _new_breaker(self, name: str) -> Breaker:
        breaker = self._breaker(name)
        self.breakers[name] = breaker
        return breaker

    def _flush_breaker(self, name: str, breaker: Breaker, *, by: str, reason: str) -> None:
        """Store the breaker's record and one audit row per transition it made, in one
        transaction; without a transition only the record (its failure window) moves."""
        moved, self._pending[:] = list(self._pending), []
        now = self.clock.now()
        # A read (``view``) may have cooled other breakers since their last flush: their
        # moves are stored and audited here too, each under its own name, by the clock.
        others = sorted({t.name for t in moved} - {name})
        with self.db.session() as s:
            store.put_breaker(s, name, breaker.state(now).value, breaker.to_record(), now)
            for other in others:
                held = self.breakers[other]
                store.put_breaker(s, other, held.state(now).value, held.to_record(), now)
            version = None
            for t in moved:
                own = t.name == name
                version = store.record(
                    s,
                    at=t.at,
                    by=by if own else "clock",
                    kind="breaker",
                    subject=f"breaker:{t.name}",
                    from_state=t.from_state.value,
                    to_state=t.to_state.value,
                    reason=f"{t.event.value}: {reason if own else 'cooled'}",
                )
                kind = "breaker_closed" if t.to_state is BreakerState.CLOSED else "breaker_opened"
                if t.to_state is not BreakerState.HALF_OPEN:
                    data = {
                        "breaker": t.name,
                        "from": t.from_state.value,
                        "to": t.to_state.value,
                        "event": t.event.value,
                        "reason": reason,
                        "at": t.at.isoformat(),
                        "version": version,
                    }
                    eventlog.append(s, messages_for(Scope.global_(), kind, data))
        if version is not None:
            self._committed(version)

    # -- time ----------------------------------------------------------------------------
    def tick(self) -> int:
        """Let time act: expired locks are released (audited), cooled breakers go
        half-open. Returns how many transitions it made."""
        made = 0
        with self._mutex:
            now = self.clock.now()
            for lock in list(self.locks.values()):
                if not lock.active(now):
                    self._release(lock, "clock", "expired")
                    made += 1
            for name, breaker in self.breakers.items():
                breaker.state(now)
                if self._pending:
                    made += len(self._pending)
                    self._flush_breaker(name, breaker, by="clock", reason="cooled")
        return made

    def audit(self, *, subject: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        with self.db.session() as s:
            return store.transitions(s, subject=subject, limit=limit)

    def _committed(self, version: int) -> None:
        self.version = max(self.version, version)
        if self.publish is not None:
            try:
                self.publish(self.wire())
            except Exception:  # replicas poll the version: a lost push only delays them
                log.warning("risk snapshot push failed", exc_info=True)
        gauges.export(self.view(), list(self.breakers))

    # -- loss protections (``cluster.risk.protections`` acts on them) -------------------
    def set_protections(
        self, scope: Scope, settings: ProtectionSettings, *, by: str
    ) -> dict[str, Any]:
        """Store a scope's loss protections (audited as ``limits``); the monitor reads
        them on its next evaluation. Only accounts and strategies have losses of their own."""
        if scope.kind not in (ScopeKind.ACCOUNT, ScopeKind.STRATEGY):
            raise ValidationFailed(
                "scope", "account-or-strategy", "protections need an account or strategy scope"
            )
        with self._mutex:
            now = self.clock.now()
            wire = settings.to_wire()
            with self.db.session() as s:
                protection_rows.put_settings(s, scope, wire, now, by)
                version = store.record(
                    s,
                    at=now,
                    by=by,
                    kind="limits",
                    subject=str(scope),
                    from_state=None,
                    to_state="protections",
                    reason=str(wire),
                )
            self._committed(version)
            return {"scope": str(scope), "protections": wire, "version": version}

    def protections(self) -> dict[Scope, ProtectionSettings]:
        with self.db.session() as s:
            return protection_rows.load_settings(s)


def _forced() -> tuple[BreakerState, ...]:
    forced = getattr(BreakerState, "FORCED_OPEN", None)
    return () if forced is None else (forced,)
