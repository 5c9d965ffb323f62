"""Market data provider failover for one symbol or one chain of providers.

Why a policy object: a feed that goes quiet, errors, lags or quotes a price the others
disagree with must lose its traffic quickly, but must not win it back on the first
good second, or clients see prices flap between providers. So the policy is pure
(time and market state are passed in), ranks providers by chain order, and fails back
to a higher-priority provider only once it has been continuously healthy for
``hysteresis``.

Health is judged from what every provider in the chain sends: standby providers must
be subscribed (hot standby) or they look stale. Health is sampled when ``evaluate`` is
called (every ``check_interval`` by the caller), plus a breaker trip, which resets the
healthy streak at once. Outside regular hours only the breaker counts: feeds are quiet
and quotes thin, so staleness, latency and divergence would only produce noise.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from domain.breaker import Breaker, BreakerConfig, BreakerState, Transition
from domain.errors import ValidationFailed

__all__ = [
    "FailoverConfig",
    "FailoverPolicy",
    "ProviderHealth",
    "SwitchEvent",
    "Unhealthy",
]


class Unhealthy(StrEnum):
    """Why a provider is not fit to serve; also the ``reason`` codes of switches."""

    STALE = "stale"
    BREAKER_OPEN = "breaker_open"
    LATENCY = "latency"
    DIVERGENCE = "divergence"


@dataclass(frozen=True, slots=True)
class FailoverConfig:
    """Production defaults.

    - ``staleness`` 10 s: no tick for that long during regular hours means stale.
    - ``check_interval`` 1 s: how often the caller runs ``evaluate``.
    - ``divergence_bps`` 50: a mid this far from the other providers' median is wrong.
    - ``max_latency`` 2 s: EWMA of exchange-to-receive delay above this is too slow.
    - ``hysteresis`` 60 s: continuous health needed before traffic fails back.
    - ``breaker``: 5 errors in 5 minutes open it for 60 s.
    - ``latency_alpha`` 0.2: EWMA weight of the newest latency sample.
    """

    staleness: timedelta = timedelta(seconds=10)
    check_interval: timedelta = timedelta(seconds=1)
    divergence_bps: Decimal = Decimal(50)
    max_latency: timedelta = timedelta(seconds=2)
    hysteresis: timedelta = timedelta(seconds=60)
    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    latency_alpha: float = 0.2

    def __post_init__(self) -> None:
        for name in ("staleness", "check_interval", "max_latency"):
            if getattr(self, name) <= timedelta(0):
                raise ValidationFailed(name, "positive")
        if self.hysteresis < timedelta(0):
            raise ValidationFailed("hysteresis", "non-negative")
        if not self.divergence_bps > 0:
            raise ValidationFailed("divergence_bps", "positive")
        if not 0 < self.latency_alpha <= 1:
            raise ValidationFailed("latency_alpha", "in-(0,1]")


@dataclass(frozen=True, slots=True)
class SwitchEvent:
    """A change of active provider, or of the degraded flag (then from == to).

    ``reason`` is a stable code for metrics: the ``Unhealthy`` codes of the provider
    left (comma separated), ``failback``, ``degraded:<codes>`` or ``recovered``.
    """

    symbol_or_chain: str
    from_provider: str
    to_provider: str
    reason: str
    at: datetime
    degraded: bool = False


class ProviderHealth:
    """What we know about one provider; public attributes are for metrics."""

    def __init__(self, name: str, breaker: Breaker) -> None:
        self.name = name
        self.breaker = breaker
        self.last_received: datetime | None = None
        self.last_mid: Decimal | None = None
        self.last_mid_at: datetime | None = None
        self.latency: timedelta | None = None
        self.healthy_since: datetime | None = None

    def on_tick(
        self, exchange_ts: datetime, received_ts: datetime, mid: Decimal | None, alpha: float
    ) -> None:
        # Clock skew can make a sample negative; clamp rather than reward it.
        sample = max(received_ts - exchange_ts, timedelta(0))
        self.latency = (
            sample if self.latency is None else self.latency + (sample - self.latency) * alpha
        )
        if self.last_received is None or received_ts > self.last_received:
            self.last_received = received_ts
        if mid is not None:
            self.last_mid, self.last_mid_at = mid, received_ts
        # A tick proves the connection works: it is the half-open probe's verdict.
        self.breaker.record_success(received_ts)

    def fresh_mid(self, now: datetime, staleness: timedelta) -> Decimal | None:
        if self.last_mid_at is None or now - self.last_mid_at > staleness:
            return None
        return self.last_mid


class FailoverPolicy:
    """Chooses the active provider of ``chain`` (highest priority first)."""

    def __init__(
        self, chain: Sequence[str], config: FailoverConfig | None = None, *, key: str = ""
    ) -> None:
        if not chain:
            raise ValidationFailed("chain", "non-empty")
        if len(set(chain)) != len(chain):
            raise ValidationFailed("chain", "unique-providers")
        self.chain = tuple(chain)
        self.config = config or FailoverConfig()
        self.key = key or ",".join(self.chain)
        self._health = {p: ProviderHealth(p, Breaker(self.config.breaker, name=p)) for p in chain}
        self.active = self.chain[0]
        self.degraded = False
        self._started_at: datetime | None = None

    def health(self, provider: str) -> ProviderHealth:
        try:
            return self._health[provider]
        except KeyError as exc:
            raise ValidationFailed("provider", "not-in-chain") from exc

    def on_tick(
        self,
        provider: str,
        exchange_ts: datetime,
        received_ts: datetime,
        mid: Decimal | None = None,
    ) -> None:
        """Record a tick; ``mid`` is the quote midpoint when the tick has one."""
        self.health(provider).on_tick(exchange_ts, received_ts, mid, self.config.latency_alpha)

    def on_error(self, provider: str, now: datetime) -> Transition | None:
        """Record a provider error (disconnect, bad message, rate limit)."""
        health = self.health(provider)
        moved = health.breaker.record_failure(now)
        if moved is not None and moved.to_state is BreakerState.OPEN:
            health.healthy_since = None
        return moved

    def problems(self, provider: str, now: datetime, market_open: bool) -> list[Unhealthy]:
        """Everything wrong with ``provider`` at ``now``; empty means healthy."""
        health = self.health(provider)
        found: list[Unhealthy] = []
        if health.breaker.state(now) is not BreakerState.CLOSED:
            found.append(Unhealthy.BREAKER_OPEN)
        if not market_open:
            return found
        # A provider that never ticked gets the same grace from our first evaluate.
        seen = health.last_received or self._started_at or now
        if now - seen > self.config.staleness:
            found.append(Unhealthy.STALE)
        if health.latency is not None and health.latency > self.config.max_latency:
            found.append(Unhealthy.LATENCY)
        if self._diverges(health, now):
            found.append(Unhealthy.DIVERGENCE)
        return found

    def evaluate(self, now: datetime, market_open: bool) -> SwitchEvent | None:
        """Re-judge every provider; returns the switch (or degraded change) if any."""
        if self._started_at is None:
            self._started_at = now
        problems = {p: self.problems(p, now, market_open) for p in self.chain}
        for provider, found in problems.items():
            health = self._health[provider]
            if found:
                health.healthy_since = None
            elif health.healthy_since is None:
                health.healthy_since = now

        def settled(provider: str) -> bool:
            since = self._health[provider].healthy_since
            return since is not None and now - since >= self.config.hysteresis

        active = self.active
        if problems[active]:
            codes = ",".join(problems[active])
            healthy = [p for p in self.chain if p != active and not problems[p]]
            # Prefer a provider that has proven itself; any healthy one beats a broken one.
            target = next((p for p in healthy if settled(p)), healthy[0] if healthy else None)
            if target is not None:
                return self._switch(target, codes, now)
            if not self.degraded:
                self.degraded = True
                return SwitchEvent(self.key, active, active, f"degraded:{codes}", now, True)
            return None
        for provider in self.chain[: self.chain.index(active)]:
            if settled(provider):
                return self._switch(provider, "failback", now)
        if self.degraded:
            self.degraded = False
            return SwitchEvent(self.key, active, active, "recovered", now)
        return None

    def _switch(self, target: str, reason: str, now: datetime) -> SwitchEvent:
        event = SwitchEvent(self.key, self.active, target, reason, now)
        self.active, self.degraded = target, False
        return event

    def _diverges(self, health: ProviderHealth, now: datetime) -> bool:
        mid = health.fresh_mid(now, self.config.staleness)
        if mid is None:
            return False
        peers = [
            peer_mid
            for other in self._health.values()
            if other is not health
            and (peer_mid := other.fresh_mid(now, self.config.staleness)) is not None
        ]
        if not peers:
            return False
        # With one peer both sides diverge and the chain reports degraded: with two
        # providers we cannot tell which one is wrong, and saying so beats guessing.
        consensus = statistics.median(peers)
        if consensus <= 0:
            return False
        return abs(mid - consensus) / consensus * 10_000 > self.config.divergence_bps
