"""The revocation watch: closes sockets whose token expired, whose session was revoked,
or whose session could not be verified for too long (all 4401).

Why fail closed, and bounded: a check that cannot run (database down, a query that hangs)
must not keep a revoked session's sockets open forever, yet one slow query must not drop
every socket. So each socket keeps the instant its session was last confirmed (at
authentication, then by every successful check); a socket whose session has gone
unconfirmed for ``unverified_s`` is closed 4401 with ``session-unverified`` at the end of
the next check pass. A pass is bounded by ``timeout_s``: a session whose check did not
finish in time counts as unconfirmed for that pass. So a socket closes at most
``unverified_s + interval_s + timeout_s`` after its last confirmation.

Time: token expiry and the unconfirmed age are measured on ``now``, which must be real
time (``cluster.clock.SystemClock``): the dev clock (``ELSON_CLOCK_START``) shifts the
market, never token lifetimes, which the auth service issues and checks on real time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from serve.gateway_conn import Connection
from serve.gateway_protocol import _call
from serve.gateway_schemas import CloseCode

log = logging.getLogger(__name__)

IsActive = Callable[[str], bool | Awaitable[bool]]


class SessionWatch:
    """One loop per replica checks each distinct session every ``interval_s``."""

    def __init__(
        self,
        is_active: IsActive | None,
        *,
        interval_s: float,
        now: Callable[[], datetime],
        unverified_s: float = 10.0,
        timeout_s: float | None = None,
    ) -> None:
        self.is_active, self.interval_s, self.now = is_active, interval_s, now
        self.unverified = timedelta(seconds=unverified_s)
        self._bound = f"{unverified_s:g} s"
        self.timeout_s = interval_s if timeout_s is None else timeout_s
        self.failed_checks = 0  # checks that raised or timed out, for this process's life
        self._conns: dict[int, Connection] = {}
        self._confirmed: dict[int, datetime] = {}
        self._task: asyncio.Task[None] | None = None

    def add(self, conn: Connection) -> None:
        """Watch ``conn``; its session was confirmed just now (it authenticated)."""
        self._conns[conn.id] = conn
        self.confirmed(conn)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="ws-watch")

    def confirmed(self, conn: Connection) -> None:
        """The session of ``conn`` was verified elsewhere (a re-``authenticate``)."""
        self._confirmed[conn.id] = self.now()

    def remove(self, conn: Connection) -> None:
        self._conns.pop(conn.id, None)
        self._confirmed.pop(conn.id, None)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.check_once()
            except Exception:  # the loop must outlive one bad pass; ages keep growing
                log.warning("session watch pass failed", exc_info=True)

    async def check_once(self) -> None:
        now = self.now()
        by_session: dict[str, list[Connection]] = {}
        for conn in list(self._conns.values()):
            p = conn.principal
            if p is None:
                continue
            self._confirmed.setdefault(conn.id, now)
            if p.expires_at <= now:
                conn.fail(CloseCode.UNAUTHORIZED, "token expired", error="token-expired")
                continue
            by_session.setdefault(str(p.session_id), []).append(conn)
        if self.is_active is None or not by_session:
            return
        answers = await self._ask(list(by_session))
        after = self.now()
        for session_id, conns in by_session.items():
            active = answers.get(session_id)
            for conn in conns:
                if active is True:
                    self._confirmed[conn.id] = now
                elif active is False:
                    conn.fail(CloseCode.UNAUTHORIZED, "session revoked", error="session-revoked")
                elif after - self._confirmed.get(conn.id, now) >= self.unverified:
                    conn.fail(
                        CloseCode.UNAUTHORIZED,
                        "session could not be verified",
                        error="session-unverified",
                        detail=f"no successful session check for {self._bound}",
                    )

    async def _ask(self, session_ids: list[str]) -> dict[str, bool]:
        """``is_active`` per session; a session missing from the answer is unconfirmed."""
        assert self.is_active is not None
        answers: dict[str, bool] = {}
        try:
            async with asyncio.timeout(self.timeout_s):
                for session_id in session_ids:
                    try:
                        answers[session_id] = bool(await _call(self.is_active, session_id))
                    except Exception:
                        self.failed_checks += 1
                        log.warning("session check failed for %s", session_id, exc_info=True)
        except TimeoutError:
            self.failed_checks += 1
            log.warning("session checks took over %.1f s", self.timeout_s)
        return answers

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
