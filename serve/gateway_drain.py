"""Graceful drain of a gateway replica: stop accepting, close every socket 1012 with a
reconnect window, and let the replica exit within a bound.

Why the gateway starts the drain itself: Ray Serve (2.60) shuts a replica down by first
waiting until it has no ongoing requests, and only then calls the deployment's
``__del__`` (which runs the ASGI lifespan shutdown). A WebSocket is an ongoing request
for its whole life, so a drain started from ``__del__`` comes after Serve has waited out
``graceful_shutdown_timeout_s`` and killed the replica: every socket ends 1006. So:

- ``watch_replica`` polls the replica's own "shutting down" flag (set the moment the
  controller asks it to stop: scale-down, upgrade, ``serve.delete``) and drains then;
  with no sockets left, Serve's wait ends at its next ``graceful_shutdown_wait_loop_s``.
- ``hook_sigterm``: a SIGTERM sent to the replica process (a pod eviction, an operator)
  runs Ray's worker handler, which exits at once or waits on the in-flight sockets. The
  hook drains first, then hands the signal back to Ray's handler, at the latest after
  ``bound_s``.

Both reach into Ray internals (``ReplicaActor._replica_impl._shutting_down``; the name
``raise_sys_exit_with_custom_error_message`` that Ray's SIGTERM handler calls in
``ray._private.worker``), checked against Ray 2.60 by the Serve tests. If a Ray upgrade
moves them, both log a warning and do nothing: ``__del__`` still drains, late.

The reconnect window sent to clients (``retry_after_s``) grows with the sockets this
replica drops: ``n / rate_per_s`` seconds, so the fleet comes back at about
``rate_per_s`` connections a second (``serve.ws_reconnect``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable
from typing import Any, Protocol

from serve.gateway_schemas import CloseCode

log = logging.getLogger(__name__)
#: how long a drain waits for sockets to close; Serve's ``graceful_shutdown_timeout_s``
#: for the gateway (``serve.app``, ``kuberay/``) is this plus ``SERVE_MARGIN_S``
DRAIN_S = 10.0
SERVE_MARGIN_S = 5.0
#: how often Serve re-counts ongoing requests while stopping a replica (default 2 s)
SERVE_WAIT_LOOP_S = 1.0
#: how often Serve checks the replica (default 10 s): a replica that died (SIGTERM) is
#: replaced after about this long, and its clients wait for that
SERVE_HEALTH_CHECK_S = 2.0


class _Conn(Protocol):
    def fail(
        self,
        code: int,
        reason: str,
        *,
        error: str | None = None,
        detail: str | None = None,
        retry_after_s: float | None = None,
    ) -> None: ...


def retry_window_s(
    sockets: int, rate_per_s: float, *, low: float = 1.0, high: float = 60.0
) -> float:
    """The window ``sockets`` clients should spread their reconnects over."""
    return round(min(high, max(low, sockets / rate_per_s)), 1)


class Drain:
    """One replica's drain: idempotent, bounded, observable (``draining``, ``done``)."""

    def __init__(
        self, connections: dict[int, Any], *, bound_s: float = 10.0, rate_per_s: float = 20.0
    ) -> None:
        self.connections, self.bound_s, self.rate_per_s = connections, bound_s, rate_per_s
        self.draining = False
        #: whether this replica's shutdown signals reach the drain (``/ws/stats``): Serve's
        #: stop flag ("watching", "unavailable", or "off" outside Serve), the SIGTERM hook
        self.replica_watch = "off"
        self.sigterm_hook = False
        self.done = asyncio.Event()
        self._empty = asyncio.Event()
        self._task: asyncio.Task[int] | None = None

    def snapshot(self) -> dict[str, object]:
        return {
            "draining": self.draining,
            "replica_watch": self.replica_watch,
            "sigterm_hook": self.sigterm_hook,
        }

    def hint_s(self) -> float:
        return retry_window_s(len(self.connections), self.rate_per_s)

    def refuse(self, conn: _Conn) -> None:
        """A socket that arrived while draining: closed 1012 right after ``accept``."""
        conn.fail(
            CloseCode.SERVICE_RESTART,
            "service restart",
            error="service-restart",
            retry_after_s=self.hint_s(),
        )

    def socket_closed(self) -> None:
        if not self.connections:
            self._empty.set()

    def start(self) -> asyncio.Task[int]:
        """Begin (once); the task's result is how many sockets were still open at the bound."""
        if self._task is None:
            self.draining = True
            self._task = asyncio.get_running_loop().create_task(self._run(), name="ws-drain")
        return self._task

    async def _run(self) -> int:
        conns = list(self.connections.values())
        hint = self.hint_s()
        log.warning(
            "gateway draining: closing %d sockets 1012 (retry within %s s)", len(conns), hint
        )
        for conn in conns:
            conn.fail(
                CloseCode.SERVICE_RESTART,
                "service restart",
                error="service-restart",
                retry_after_s=hint,
            )
        if not self.connections:
            self._empty.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.bound_s):
                await self._empty.wait()
        left = len(self.connections)
        if left:
            log.warning("gateway drain: %d sockets still open after %.1f s", left, self.bound_s)
        self.done.set()
        return left


# ---- the Serve replica's shutdown signals ----
def replica_shutting_down() -> bool | None:
    """Ray Serve's flag for this replica (None: not in a replica, or Ray moved it)."""
    try:
        import ray

        if not ray.is_initialized():
            return None
        worker = ray._private.worker.global_worker
        actor = worker.actors.get(worker.actor_id)
        impl = getattr(actor, "_replica_impl", None)
        flag = getattr(impl, "_shutting_down", None)
    except Exception:
        return None
    return None if flag is None else bool(flag)


async def watch_replica(start_drain: Callable[[], Any], *, period_s: float = 0.2) -> None:
    """Drain as soon as Serve starts stopping this replica."""
    if replica_shutting_down() is None:
        log.warning("gateway: Serve's replica shutdown flag not found; drain runs from __del__")
        return
    while not replica_shutting_down():  # noqa: ASYNC110 (Ray's flag has no event to await)
        await asyncio.sleep(period_s)
    start_drain()


def hook_sigterm(loop: asyncio.AbstractEventLoop, drain: Callable[[], Any], bound_s: float) -> bool:
    """Make Ray's worker SIGTERM handler drain first (see the module docstring)."""
    try:
        import ray._private.worker as ray_worker

        original = ray_worker.raise_sys_exit_with_custom_error_message
    except (ImportError, AttributeError):
        log.warning("gateway: Ray's SIGTERM handler not found; SIGTERM does not drain")
        return False
    fired = threading.Event()

    def resend() -> None:
        ray_worker.raise_sys_exit_with_custom_error_message = original  # type: ignore[attr-defined]
        os.kill(os.getpid(), signal.SIGTERM)

    def on_sigterm(message: str, exit_code: int = 1) -> None:
        if fired.is_set():
            original(message, exit_code=exit_code)
            return
        fired.set()
        log.warning("gateway: SIGTERM, draining before exit (at most %.1f s)", bound_s)
        timer = threading.Timer(bound_s, resend)
        timer.daemon = True
        timer.start()

        def drained(_task: asyncio.Task[Any]) -> None:
            timer.cancel()
            resend()

        def begin() -> None:
            task = drain()
            if isinstance(task, asyncio.Task):
                task.add_done_callback(drained)

        loop.call_soon_threadsafe(begin)

    ray_worker.raise_sys_exit_with_custom_error_message = on_sigterm  # type: ignore[attr-defined]
    return True
