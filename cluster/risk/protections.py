"""Loss protections that act by themselves: the daily loss, the drawdown from peak equity,
the stop-loss streak and the cooldown after a stop-out (rules: ``domain.risk.protections``).

``ProtectionMonitor.evaluate`` runs in the ``RiskEngine`` actor's loop (every
``risk_protection_s``). For each scope with settings (``risk_protections``) it gathers the
facts (equity now, closed trades), measures them against the watermarks kept in
``risk_watermarks`` (day-start and peak equity, so a restart resets nothing) and acts
through the engine, which audits every change:

- a loss breach moves the scope to its ``on_breach`` state once: once a New York day for
  the daily loss, once per peak for the drawdown, so an operator's resume holds; it never
  loosens a stricter state already set;
- a stop-out streak or a cooldown creates a lock whose id names the trade that caused it,
  so a repeated evaluation (or a restart) never creates a twin.

Facts come from a ``FactSource`` per scope kind. Accounts have one (``AccountFacts``,
the ledger and the order book). Orders carry no strategy yet, so a strategy's settings can
be stored but act only once a strategy source is passed in (its equity and exits).
"""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, Protocol

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from cluster.orders import ledger_repo
from cluster.orders.tables import fills, journal_entries, orders
from cluster.risk.tables import risk_locks, risk_protections, risk_watermarks
from domain.clock import Clock, require_aware
from domain.errors import ValidationFailed
from domain.ids import AccountId
from domain.ledger import to_cents
from domain.money import EXACT
from domain.orders import OrderType, Side
from domain.risk.protections import (
    ClosedTrade,
    Cooldown,
    LossLimits,
    StopLossGuard,
    cooldown_lock,
    day_start,
    loss_breach,
    streak_lock,
)
from domain.risk.snapshot import Lock
from domain.risk.states import Scope, ScopeKind, TradingState

if TYPE_CHECKING:
    from cluster.orders.service import OrderService
    from cluster.risk.engine import RiskEngine

log = logging.getLogger(__name__)

ZERO = Decimal(0)
DAILY_LOSS_BY: Final = "protection:daily_loss"
DRAWDOWN_BY: Final = "protection:drawdown"
#: an exit by one of these order types that lost money is a stop-out
STOP_TYPES: Final = frozenset({OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP})
#: closed trades remembered per account (more than any guard's streak needs)
KEEP_EXITS: Final = 500


# -- settings --------------------------------------------------------------------------
@dataclass(frozen=True)
class ProtectionSettings:
    """One scope's protections; a rule left ``None`` is off."""

    limits: LossLimits = field(default_factory=LossLimits)
    stop_loss_guard: StopLossGuard | None = None
    cooldown: Cooldown | None = None

    def to_wire(self) -> dict[str, Any]:
        g, lim = self.stop_loss_guard, self.limits
        return {
            "daily_loss": None if lim.daily_loss is None else str(lim.daily_loss),
            "max_drawdown_pct": None if lim.max_drawdown_pct is None else str(lim.max_drawdown_pct),
            "on_breach": TradingState(lim.on_breach).value,
            "stop_loss_guard": None
            if g is None
            else {
                "trades": g.trades,
                "lookback_s": g.lookback.total_seconds(),
                "lock_for_s": g.lock_for.total_seconds(),
            },
            "cooldown_s": None
            if self.cooldown is None
            else self.cooldown.after_stop_out.total_seconds(),
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> ProtectionSettings:
        if not isinstance(data, Mapping):
            raise ValidationFailed("protections", "wire-format", "protections must be an object")
        try:
            limits = LossLimits(
                daily_loss=_decimal(data.get("daily_loss")),
                max_drawdown_pct=_decimal(data.get("max_drawdown_pct")),
                on_breach=TradingState(data.get("on_breach") or TradingState.REDUCING.value),
            )
            g = data.get("stop_loss_guard")
            guard = None
            if g is not None:
                guard = StopLossGuard(
                    trades=int(g["trades"]),
                    lookback=timedelta(seconds=float(g["lookback_s"])),
                    lock_for=timedelta(seconds=float(g["lock_for_s"])),
                )
            cool = data.get("cooldown_s")
            cooldown = None if cool is None else Cooldown(timedelta(seconds=float(cool)))
        except (ArithmeticError, KeyError, TypeError, ValueError) as exc:
            raise ValidationFailed("protections", "wire-format", f"bad protections: {exc}") from exc
        return cls(limits, guard, cooldown)


def _decimal(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def put_settings(s: Session, scope: Scope, wire: dict[str, Any], at: datetime, by: str) -> None:
    values = {"scope": str(scope), "settings": wire, "updated_at": at, "by": by}
    stmt = pg_insert(risk_protections).values(**values)
    s.execute(stmt.on_conflict_do_update(index_elements=["scope"], set_=values))


def load_settings(s: Session) -> dict[Scope, ProtectionSettings]:
    out: dict[Scope, ProtectionSettings] = {}
    for row in s.execute(select(risk_protections)).mappings():
        out[Scope.parse(row["scope"])] = ProtectionSettings.from_wire(row["settings"])
    return out


# -- watermarks ------------------------------------------------------------------------
@dataclass(frozen=True)
class Watermark:
    epoch: int
    day_start: datetime
    day_start_equity: Decimal
    peak_equity: Decimal
    daily_breached_on: datetime | None = None
    drawdown_breached_peak: Decimal | None = None


def load_watermark(s: Session, scope: Scope) -> Watermark | None:
    row = (
        s.execute(select(risk_watermarks).where(risk_watermarks.c.scope == str(scope)))
        .mappings()
        .one_or_none()
    )
    if row is None:
        return None
    return Watermark(
        epoch=int(row["epoch"]),
        day_start=row["day_start"],
        day_start_equity=Decimal(row["day_start_equity"]),
        peak_equity=Decimal(row["peak_equity"]),
        daily_breached_on=row["daily_breached_on"],
        drawdown_breached_peak=row["drawdown_breached_peak"],
    )


def put_watermark(s: Session, scope: Scope, mark: Watermark, at: datetime) -> None:
    values = {"scope": str(scope), "updated_at": at, **asdict(mark)}
    stmt = pg_insert(risk_watermarks).values(**values)
    s.execute(stmt.on_conflict_do_update(index_elements=["scope"], set_=values))


def advance(mark: Watermark | None, equity: Decimal, epoch: int, now: datetime) -> Watermark:
    """The watermarks after seeing ``equity`` at ``now``: the first look of a New York day
    sets its start; the peak only rises; a new epoch (a paper reset) starts over."""
    start = day_start(now)
    if mark is None or mark.epoch != epoch:
        return Watermark(epoch, start, equity, equity)
    if mark.day_start != start:
        mark = replace(mark, day_start=start, day_start_equity=equity)
    if equity > mark.peak_equity:
        mark = replace(mark, peak_equity=equity)
    return mark


# -- facts -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Exit:
    """A closed trade and the id of the order that closed it (names its locks)."""

    id: str
    trade: ClosedTrade


@dataclass(frozen=True)
class Facts:
    equity: Decimal
    exits: Sequence[Exit]  # oldest first
    epoch: int = 0


class FactSource(Protocol):
    def facts(self, key: str, now: datetime) -> Facts: ...


@dataclass
class _Book:
    """An account's fills folded so far: average cost per symbol and the recent exits."""

    epoch: int
    seq: int
    folded: int = 0
    qty: dict[str, Decimal] = field(default_factory=dict)
    cost: dict[str, Decimal] = field(default_factory=dict)
    exits: OrderedDict[str, tuple[datetime, Decimal, bool]] = field(default_factory=OrderedDict)

    def fold(self, rows: Iterable[Any]) -> None:
        """Average cost as ``domain.cost_basis.cost_bases`` keeps it; a sell against a long
        realizes proceeds minus the cost it removes minus its fee, summed per exit order."""
        for r in rows:
            sym, fq, price = r.symbol, Decimal(r.qty), Decimal(r.price)
            q, c = self.qty.get(sym, ZERO), self.cost.get(sym, ZERO)
            if r.side == Side.BUY.value:
                q, c = q + fq, c + to_cents(EXACT.multiply(fq, price))
            elif q > 0:
                closed = min(fq, q)
                removed = EXACT.divide(EXACT.multiply(c, closed), q)
                pnl = to_cents(EXACT.multiply(closed, price)) - removed - Decimal(r.fee)
                c, q = EXACT.subtract(c, removed), q - fq
                key = str(r.order_id)
                _, before, _ = self.exits.pop(key, (r.at, ZERO, False))
                self.exits[key] = (r.at, before + pnl, OrderType(r.type) in STOP_TYPES)
            self.qty[sym], self.cost[sym] = q, (c if q > 0 else ZERO)
            self.seq = max(self.seq, int(r.seq))
            self.folded += 1
        while len(self.exits) > KEEP_EXITS:
            self.exits.popitem(last=False)

    def closed(self) -> list[Exit]:
        out = [
            Exit(key, ClosedTrade(at, to_cents(pnl), stop and pnl < 0))
            for key, (at, pnl, stop) in self.exits.items()
        ]
        return sorted(out, key=lambda e: e.trade.at)


class AccountFacts:
    """An account's equity (``OrderService.account_summary``) and closed trades from its
    fills since the last reset; fills are read incrementally (by ledger sequence)."""

    def __init__(self, orders: OrderService) -> None:
        self.orders = orders
        self._books: dict[str, _Book] = {}

    def facts(self, key: str, now: datetime) -> Facts:
        equity = self.orders.account_summary(AccountId(key)).valuation.equity
        with self.orders.db.session() as s:
            epoch = ledger_repo.last_reset_seq(s, key)
            book = self._books.get(key)
            # ledger sequences are taken at insert, not at commit: a fill that committed
            # late below what was read already shows up in the count, and the book restarts
            if (
                book is None
                or book.epoch != epoch
                or _count(s, key, epoch, book.seq) != book.folded
            ):
                book = self._books[key] = _Book(epoch, epoch)
            book.fold(_fills_between(s, key, book.seq))
        return Facts(equity, book.closed(), epoch)


def _fills_between(s: Session, account_id: str, after: int) -> list[Any]:
    f, j, o = fills.c, journal_entries.c, orders.c
    stmt = (
        select(f.order_id, f.symbol, f.side, f.qty, f.price, f.fee, f.at, o.type, j.seq)
        .join(journal_entries, j.id == "fill:" + f.execution_id)
        .join(orders, o.id == f.order_id)
        .where(f.account_id == uuid.UUID(account_id), j.seq > after)
        .order_by(j.seq)
    )
    return list(s.execute(stmt).all())


def _count(s: Session, account_id: str, after: int, upto: int) -> int:
    f, j = fills.c, journal_entries.c
    stmt = (
        select(func.count())
        .select_from(fills)
        .join(journal_entries, j.id == "fill:" + f.execution_id)
        .where(f.account_id == uuid.UUID(account_id), j.seq > after, j.seq <= upto)
    )
    return int(s.execute(stmt).scalar_one())


# -- the monitor -----------------------------------------------------------------------
class ProtectionMonitor:
    def __init__(
        self,
        engine: RiskEngine,
        orders: OrderService,
        clock: Clock,
        *,
        sources: Mapping[ScopeKind, FactSource] | None = None,
    ) -> None:
        self.engine, self.clock = engine, clock
        self.sources: dict[ScopeKind, FactSource] = {ScopeKind.ACCOUNT: AccountFacts(orders)}
        self.sources.update(sources or {})

    def evaluate(self, now: datetime | None = None) -> list[str]:
        """Measure every scope with settings and act; returns what it did, one line each.
        A scope that fails is logged and skipped: it must not starve the others."""
        now = require_aware("now", now or self.clock.now())
        with self.engine.db.session() as s:
            configured = load_settings(s)
        done: list[str] = []
        for scope, settings in sorted(configured.items()):
            source = self.sources.get(scope.kind)
            if source is None:
                continue  # a strategy without a source of facts yet
            try:
                facts = source.facts(scope.key, now)
                done += self._losses(scope, settings.limits, facts, now)
                done += self._locks(scope, settings, facts.exits, now)
            except Exception:
                log.exception("protections of %s failed", scope)
                done.append(f"{scope}: evaluation failed")
        return done

    def _losses(self, scope: Scope, limits: LossLimits, facts: Facts, now: datetime) -> list[str]:
        if limits.daily_loss is None and limits.max_drawdown_pct is None:
            return []
        with self.engine.db.session() as s:
            before = load_watermark(s, scope)
        mark = advance(before, facts.equity, facts.epoch, now)
        done: list[str] = []
        kw = {"equity": facts.equity, "day_start_equity": mark.day_start_equity}
        if limits.daily_loss is not None and mark.daily_breached_on != mark.day_start:
            daily = replace(limits, max_drawdown_pct=None)
            hit = loss_breach(daily, peak_equity=mark.peak_equity, **kw)
            if hit is not None:
                done.append(self._enter(scope, *hit, by=DAILY_LOSS_BY))
                mark = replace(mark, daily_breached_on=mark.day_start)
        acted_at = mark.drawdown_breached_peak
        if limits.max_drawdown_pct is not None and (
            acted_at is None or mark.peak_equity > acted_at
        ):
            drawdown = replace(limits, daily_loss=None)
            hit = loss_breach(drawdown, peak_equity=mark.peak_equity, **kw)
            if hit is not None:
                done.append(self._enter(scope, *hit, by=DRAWDOWN_BY))
                mark = replace(mark, drawdown_breached_peak=mark.peak_equity)
        if mark != before:
            with self.engine.db.session() as s:
                put_watermark(s, scope, mark, now)
        return done

    def _enter(self, scope: Scope, target: TradingState, reason: str, *, by: str) -> str:
        """Never loosens: a scope already as strict (an operator's halt) is left alone."""
        held = self.engine.states.get(scope)
        if held is not None and held.state.severity >= target.severity:
            return f"{scope}: {by} breached, already {held.state.value}"
        self.engine.set_state(scope, target, reason=reason, by=by)
        return f"{scope}: {by} -> {target.value} ({reason})"

    def _locks(
        self, scope: Scope, settings: ProtectionSettings, exits: Sequence[Exit], now: datetime
    ) -> list[str]:
        past = [e for e in exits if e.trade.at <= now]
        if not past or (settings.stop_loss_guard is None and settings.cooldown is None):
            return []
        last = past[-1]
        wanted: list[Lock | None] = []
        if settings.stop_loss_guard is not None:
            trades = [e.trade for e in past]
            lock_id = f"protection:streak:{scope}:{last.id}"
            wanted.append(
                streak_lock(settings.stop_loss_guard, scope, trades, now, lock_id=lock_id)
            )
        if settings.cooldown is not None:
            lock_id = f"protection:cooldown:{scope}:{last.id}"
            wanted.append(cooldown_lock(settings.cooldown, scope, last.trade, now, lock_id=lock_id))
        locks = [lock for lock in wanted if lock is not None]
        known = self._known({lock.id for lock in locks})
        done = []
        for lock in locks:
            if lock.id in known:
                continue
            self.engine.create_lock(
                scope, reason=lock.reason, by=lock.by, until=lock.until, lock_id=lock.id
            )
            done.append(f"{scope}: {lock.by} locked until {lock.until} ({lock.reason})")
        return done

    def _known(self, ids: set[str]) -> set[str]:
        """Lock ids that exist, active or released: a released lock is not made again."""
        if not ids:
            return set()
        with self.engine.db.session() as s:
            rows = s.execute(select(risk_locks.c.id).where(risk_locks.c.id.in_(ids)))
            return {r[0] for r in rows}
