"""The feed supervisor: creates the N feed shards and replaces any that died for good.

Ray restarts a shard that crashed (``max_restarts=-1``); what Ray will not bring back is a
shard killed with ``no_restart=True`` or lost beyond its restarts. Every second the
supervisor looks each shard up by name and pings it: a missing or dead shard is created
again (its constructor restores from the cache), a shard that is merely restarting or
slow is left alone. The supervisor itself is detached and named, so a second builder
adopts it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import ray
from ray.exceptions import ActorDiedError, GetTimeoutError, RayActorError

from actors.bootstrap import platform_actor
from actors.feed_shard import create_shard
from cluster import names
from cluster.settings import Settings

__all__ = ["FeedSupervisor", "ensure", "shard_names"]

log = logging.getLogger(__name__)

CHECK_INTERVAL_S = 1.0
PING_TIMEOUT_S = 2.0


def shard_names(settings: Settings) -> list[str]:
    return [names.feed_shard(i) for i in range(settings.feed_shards)]


class FeedSupervisor:
    def __init__(
        self, settings: Settings, provider_factories: dict[str, str] | None = None
    ) -> None:
        self.settings = settings
        self.factories = provider_factories
        self.replaced = 0
        self.checks = 0
        self._lock = asyncio.Lock()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            try:
                await self.check_once()
            except Exception:
                log.exception("feed supervisor: check failed")
            await asyncio.sleep(CHECK_INTERVAL_S)

    async def check_once(self) -> list[int]:
        """Create every missing or dead shard; returns the indexes created."""
        async with self._lock:
            self.checks += 1
            created = []
            ns = self.settings.ray_namespace
            for index in range(self.settings.feed_shards):
                handle = names.get_actor(names.feed_shard(index), ns)
                if handle is not None and await self._alive(handle):
                    continue
                create_shard(self.settings, index, self.factories)
                created.append(index)
            if created and self.checks > 1:
                self.replaced += len(created)
                log.warning("feed supervisor: replaced shard(s) %s", created)
            return created

    async def _alive(self, handle: Any) -> bool:
        """False only when the shard is dead for good; a restarting shard counts as alive."""
        try:
            await asyncio.wait_for(handle.ping.remote(), PING_TIMEOUT_S)
        except ActorDiedError:
            return False
        except (TimeoutError, GetTimeoutError, RayActorError):
            return True  # restarting or busy: Ray is handling it
        return True

    async def ping(self) -> dict[str, Any]:
        return {"shards": self.settings.feed_shards, "replaced": self.replaced}

    async def shard_names(self) -> list[str]:
        return shard_names(self.settings)

    async def stop_shards(self) -> None:
        """Stop the loop and kill every shard (tests, teardown). Kill the supervisor next."""
        self._task.cancel()
        for index in range(self.settings.feed_shards):
            handle = names.get_actor(names.feed_shard(index), self.settings.ray_namespace)
            if handle is None:
                continue
            try:
                await asyncio.wait_for(handle.shutdown.remote(), 5)  # type: ignore[attr-defined]
            except Exception:  # noqa: S110 - killing it anyway
                pass
            ray.kill(handle, no_restart=True)  # type: ignore[arg-type]


FeedSupervisorActor = ray.remote(FeedSupervisor)


def create_supervisor(settings: Settings, provider_factories: dict[str, str] | None = None) -> Any:
    options = platform_actor(names.FEED_SUPERVISOR, settings)
    return FeedSupervisorActor.options(**options).remote(  # type: ignore[attr-defined]
        settings, provider_factories
    )


def ensure(
    settings: Settings, provider_factories: dict[str, str] | None = None, timeout_s: float = 60.0
) -> list[str]:
    """Create or adopt the supervisor and its shards; the names readiness should check."""
    supervisor = create_supervisor(settings, provider_factories)
    ray.get(supervisor.check_once.remote(), timeout=timeout_s)
    handles = [names.get_actor(n, settings.ray_namespace) for n in shard_names(settings)]
    ray.get([h.ping.remote() for h in handles if h is not None], timeout=timeout_s)  # type: ignore[attr-defined]
    return [names.FEED_SUPERVISOR, *shard_names(settings)]
