"""When the gateway client reconnects: full jitter from the first retry, over a window
that scales with how many clients are expected to drop together.

Why not plain ``Backoff``: with a first window of 0.2 s and the attempt count reset by
every successful connect, 300 clients dropped by one replica restart all came back within
one second (issue 20). Here the first wait is uniform over ``max(base, expected_clients /
rate_per_s, server hint)`` seconds, so the gateway sees at most about ``rate_per_s``
reconnects a second; the window doubles per failed attempt up to ``cap`` (or the floor,
if larger); and the attempt count resets only after a connection stayed up ``healthy_s``,
so a gateway that accepts and then drops at once does not reset everyone's backoff.

The server's hint (``retry_after_s`` in the ``error`` message before a 1012/1013 close, or
``retry_after_s=N`` in the close reason) widens the first window: the gateway knows how
many sockets it is dropping, the client only guesses.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cluster.retry import Backoff

_HINT = re.compile(r"retry_after_s=([0-9]+(?:\.[0-9]+)?)")
#: the longest first window a server hint may impose (a bad hint must not park clients)
MAX_HINT_S = 300.0


def hint_from(error: Mapping[str, Any] | None, close_reason: str | None) -> float | None:
    """The server's ``retry_after_s``: from the ``error`` message, else the close reason."""
    value: Any = None if error is None else error.get("retry_after_s")
    if value is None and close_reason:
        found = _HINT.search(close_reason)
        value = None if found is None else found.group(1)
    try:
        hint = float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
    if hint is None or not 0 < hint < float("inf"):
        return None
    return min(hint, MAX_HINT_S)


DEFAULT_BACKOFF = Backoff(base_s=0.5, cap_s=30.0, max_attempts=20)


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    backoff: Backoff = DEFAULT_BACKOFF
    #: how many clients are likely to drop together (this one's fleet)
    expected_clients: int = 1
    #: reconnects a second the fleet should offer the gateway at most
    rate_per_s: float = 20.0
    #: a connection that lasted this long resets the attempt count
    healthy_s: float = 30.0

    def floor_s(self, hint_s: float | None = None) -> float:
        """The first window: never below the base, the fleet's spread or the hint."""
        spread = max(1, self.expected_clients) / self.rate_per_s
        return max(self.backoff.base_s, spread, hint_s or 0.0)

    def window_s(self, attempt: int, hint_s: float | None = None) -> float:
        floor = self.floor_s(hint_s)
        cap = max(self.backoff.cap_s, floor)
        if attempt >= 64 or floor * 2.0**attempt >= cap:
            return cap
        return floor * 2.0**attempt

    def delay_s(self, attempt: int, rng: random.Random | None, hint_s: float | None) -> float:
        """Full jitter: uniform over the whole window, from the first retry on."""
        return (rng or random).uniform(0.0, self.window_s(attempt, hint_s))


class ReconnectState:
    """The attempt count across connections (monotonic seconds come from the caller)."""

    def __init__(self, policy: ReconnectPolicy) -> None:
        self.policy = policy
        self.attempt = 0
        self._up_since: float | None = None

    def connected(self, now: float) -> None:
        self._up_since = now

    def dropped(self, now: float) -> None:
        """A connection ended; only one that stayed healthy resets the backoff."""
        if self._up_since is not None and now - self._up_since >= self.policy.healthy_s:
            self.attempt = 0
        self._up_since = None

    def next_delay(self, rng: random.Random | None, hint_s: float | None) -> float:
        delay = self.policy.delay_s(self.attempt, rng, hint_s)
        self.attempt += 1
        return delay

    def exhausted(self) -> bool:
        return self.policy.backoff.exhausted(self.attempt)
