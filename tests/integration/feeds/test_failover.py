"""Failover through a real shard actor: a scripted primary, the simulator as standby.

Thresholds are small (staleness 0.5 s, check 0.25 s, hysteresis 1 s) so each case runs in
seconds; the pure policy is covered by tests/unit/domain/test_failover.py.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import ray

from cluster.settings import Settings
from tests.integration.feeds.conftest import (
    SCRIPTED,
    feed_settings,
    metric_total,
    running_feed,
    wait_for,
)
from tests.kit.scripted_provider import write_control

pytestmark = pytest.mark.ray

SLACK_S = 0.35  # scheduling on a shared 2-core machine, and the provider's 50 ms cadence


def status(shard: Any) -> dict[str, Any]:
    return ray.get(shard.status.remote(), timeout=10)  # type: ignore[no-any-return]


def active(shard: Any, symbol: str = "AAPL") -> str:
    return str(status(shard)["symbols"][symbol]["active"])


def switches(shard: Any) -> list[dict[str, Any]]:
    return [s for s in status(shard)["switches"] if not s["degraded"]]


def started(tmp_path: Path, settings: Settings) -> tuple[Settings, Path]:
    control = tmp_path / "control.json"
    write_control(control, "ok")
    s = feed_settings(settings, feed_providers=f"scripted:{control},simulated")
    return s, control


def published_switches(s: Settings) -> list[Any]:
    """Switch events on the ``feed`` stream of the event bus (for the gateway)."""
    from cluster.events import EventBus
    from cluster.redis_client import ResilientRedis

    assert s.redis_url is not None
    redis = ResilientRedis(s.redis_url.get_secret_value(), prefix=s.redis_key_prefix)
    try:
        found = EventBus(redis, prefix=s.redis_key_prefix).read_since("feed", 0)
    finally:
        redis.close()
    assert isinstance(found, list), found
    return found


def at(record: dict[str, Any]) -> float:
    return datetime.fromisoformat(record["at"]).timestamp()


def test_when_primary_goes_stale_then_switches_within_staleness_plus_one_check(
    settings: Settings, ray_cluster: None, tmp_path: Path
) -> None:
    s, control = started(tmp_path, settings)
    with running_feed(s, SCRIPTED) as shards:
        shard = shards[0]
        wait_for(lambda: status(shard)["symbols"]["AAPL"]["seq"] > 5, 10, what="ticks")
        assert active(shard) == "scripted"

        silent_at = time.time()
        write_control(control, "silent")
        wait_for(
            lambda: {active(shard, sym) for sym in ("AAPL", "MSFT")} == {"simulated"},
            5,
            what="switch to simulated",
        )

        # one switch for both, or one per check when their last ticks straddled a check
        found = switches(shard)
        assert 1 <= len(found) <= 2, found
        for switch in found:
            assert switch["from"] == "scripted" and switch["to"] == "simulated"
            assert "stale" in switch["reason"]
            took = at(switch) - silent_at
            print(f"\nstale switch after {took:.3f}s (bound {0.5 + 0.25:.2f}s + slack)")
            assert took <= 0.5 + 0.25 + SLACK_S
        assert sorted(sym for switch in found for sym in switch["symbols"]) == ["AAPL", "MSFT"]
        bus_events = wait_for(lambda: published_switches(s), 5, 0.1, "switch on the bus")
        assert [e.data["to"] for e in bus_events] == ["simulated"]
        assert bus_events[0].type == "feed.switch"
        wait_for(
            lambda: metric_total("elson_feed_switches_total", reason="stale") >= 2,
            20,
            0.5,
            "elson_feed_switches_total in the cluster's metrics",
        )


def test_when_primary_errors_repeatedly_then_breaker_opens_and_switches(
    settings: Settings, ray_cluster: None, tmp_path: Path
) -> None:
    s, control = started(tmp_path, settings)
    with running_feed(s, SCRIPTED) as shards:
        shard = shards[0]
        wait_for(lambda: status(shard)["symbols"]["AAPL"]["seq"] > 5, 10, what="ticks")

        write_control(control, "error")  # still quoting: only the error rate is bad
        wait_for(lambda: active(shard) == "simulated", 5, what="switch on breaker")

        first = switches(shard)[0]
        assert first["reason"] == "breaker_open"
        info = status(shard)
        assert info["providers"]["scripted"]["errors"] >= 5
        assert info["symbols"]["AAPL"]["providers"]["scripted"]["breaker"] in ("open", "half_open")


def test_when_primary_recovers_then_fails_back_only_after_hysteresis(
    settings: Settings, ray_cluster: None, tmp_path: Path
) -> None:
    s, control = started(tmp_path, settings)
    with running_feed(s, SCRIPTED) as shards:
        shard = shards[0]
        wait_for(lambda: status(shard)["symbols"]["AAPL"]["seq"] > 5, 10, what="ticks")
        write_control(control, "silent")
        wait_for(lambda: active(shard) == "simulated", 5, what="failover")

        healthy_at = time.time()
        write_control(control, "ok")
        time.sleep(0.6)  # healthy again, but for less than the 1 s hysteresis
        assert active(shard) == "simulated"
        wait_for(lambda: active(shard) == "scripted", 5, what="failback")

        back = switches(shard)[-1]
        assert back["reason"] == "failback" and back["to"] == "scripted"
        took = at(back) - healthy_at
        print(f"\nfailback after {took:.3f}s healthy (hysteresis 1.0s)")
        assert 1.0 <= took <= 1.0 + 0.25 + SLACK_S


def test_when_primary_flaps_faster_than_hysteresis_then_no_failback(
    settings: Settings, ray_cluster: None, tmp_path: Path
) -> None:
    s, control = started(tmp_path, settings)
    s = s.with_overrides(feed_hysteresis_s=2.0)
    with running_feed(s, SCRIPTED) as shards:
        shard = shards[0]
        wait_for(lambda: status(shard)["symbols"]["AAPL"]["seq"] > 5, 10, what="ticks")

        # Quoting 0.6 s, silent 1.0 s (stale from 0.5 s after the last quote), repeated: each
        # healthy spell lasts about 0.6 + 0.5 = 1.1 s, short of the 2 s hysteresis.
        write_control(control, "flap", ok_s=0.6, silent_s=1.0)
        wait_for(lambda: active(shard) == "simulated", 5, what="first failover")
        time.sleep(5.0)  # three flaps

        moves = switches(shard)
        print(f"\nswitches while flapping for 5 s: {[(m['from'], m['to']) for m in moves]}")
        assert [(m["from"], m["to"]) for m in moves] == [("scripted", "simulated")]
        assert active(shard) == "simulated"
