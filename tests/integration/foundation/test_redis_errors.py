"""A command Redis refuses is a bug, not an outage: not retried, not counted, not turned
into ``RedisUnavailable`` (which callers answer with a fallback), on both Redis servers."""

from __future__ import annotations

import time

import pytest
import redis
import redis.asyncio as aredis

from cluster import metrics
from cluster.redis_client import (
    AsyncResilientRedis,
    RedisCommandError,
    RedisUnavailable,
    ResilientRedis,
)
from tests.kit.redis_server import free_port


def test_call_when_command_refused_then_not_retried_nor_counted(
    redis_url: str, redis_prefix: str
) -> None:
    client = ResilientRedis(redis_url, prefix=redis_prefix, attempts=3)
    calls = 0
    before = metrics.redis_failures().local_total

    def wrong_arguments(r: redis.Redis) -> object:
        nonlocal calls
        calls += 1
        return r.execute_command("SET", client.key("only-a-key"))

    try:
        with pytest.raises(RedisCommandError, match="wrong number of arguments") as caught:
            client.call("probe-set", wrong_arguments)
        assert not isinstance(caught.value, RedisUnavailable)
        assert calls == 1
        assert client.health.ok and client.health.failures == 0
        assert metrics.redis_failures().local_total == before
        assert client.ping()  # and the client still works
    finally:
        client.close()


async def test_async_call_when_lua_errors_then_not_retried_nor_counted(
    redis_url: str, redis_prefix: str
) -> None:
    client = AsyncResilientRedis(redis_url, prefix=redis_prefix, attempts=3)
    calls = 0
    before = metrics.redis_failures().local_total

    async def bad_script(r: aredis.Redis) -> object:
        nonlocal calls
        calls += 1
        return await r.eval("return redis.call('INCR')", 0)  # type: ignore[misc]

    try:
        with pytest.raises(RedisCommandError):
            await client.call("probe-eval", bad_script)
        assert calls == 1
        assert client.health.ok and client.health.failures == 0
        assert metrics.redis_failures().local_total == before
    finally:
        await client.close()


def test_call_when_server_down_then_retried_counted_and_unavailable() -> None:
    """The other side of the line: a connection error is an outage."""
    client = ResilientRedis(
        f"redis://127.0.0.1:{free_port()}/0", prefix="t:", timeout_s=0.2, attempts=3
    )
    before = metrics.redis_failures().local_total
    try:
        started = time.monotonic()
        with pytest.raises(RedisUnavailable):
            client.call("probe-get", lambda r: r.get("x"))
        assert time.monotonic() - started < 2.0  # 3 attempts, jitter capped at 0.2 s
        assert client.health.failures == 1 and not client.health.ok
        assert metrics.redis_failures().local_total == before + 1
    finally:
        client.close()
