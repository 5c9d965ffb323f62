"""Real resource requests on a cluster: every platform actor group and Ray pod asks for
CPU and memory, so the autoscaler sees the demand (local runs keep 0, see
actors.bootstrap.platform_actor); the database pool budget counts the replicas that run."""

from __future__ import annotations

import inspect
import json

import pytest

import cluster.names
from actors.bootstrap import actor_group, platform_actor
from cluster.settings import load_settings
from tests.kit import kuberay as k


def actor_groups() -> set[str]:
    """Every group of named platform actors in cluster.names (constants and name functions)."""
    names: set[str] = set()
    for attr, value in vars(cluster.names).items():
        if isinstance(value, str) and value.startswith("elson."):
            names.add(value)
        elif inspect.isfunction(value) and attr != "get_actor":
            params = inspect.signature(value).parameters
            if len(params) == 1:
                out = value("0")
                if isinstance(out, str) and out.startswith("elson."):
                    names.add(out)
    return {actor_group(n) for n in names}


def test_actor_groups_are_found() -> None:
    assert {
        "feed_shard",
        "paper_broker",
        "dispatcher",
        "event_relay",
        "risk_engine",
    } <= actor_groups()


@pytest.mark.parametrize("overlay", k.OVERLAYS)
def test_every_actor_group_asks_for_cpu_and_memory(overlay: str) -> None:
    config = k.one(k.rendered(overlay), "ConfigMap", "elson-config")["data"]
    cpus = json.loads(config["ELSON_ACTOR_CPUS"])
    memory = json.loads(config["ELSON_ACTOR_MEMORY_MB"])
    for group in actor_groups():
        assert cpus.get(group, 0) > 0, f"{overlay}: actor group {group} asks for no CPU"
        assert memory.get(group, 0) >= 128, f"{overlay}: actor group {group} asks for no memory"


def test_platform_actor_takes_the_groups_request_and_keeps_zero_locally() -> None:
    local = load_settings(env="test")
    assert platform_actor("elson.feed_shard.3", local)["num_cpus"] == 0
    s = local.with_overrides(actor_cpus={"feed_shard": 0.5}, actor_memory_mb={"feed_shard": 1024})
    options = platform_actor("elson.feed_shard.3", s)
    assert options["num_cpus"] == 0.5 and options["memory"] == 1024 * 1024 * 1024


@pytest.mark.parametrize("overlay", k.OVERLAYS)
def test_every_ray_container_requests_what_it_is_limited_to(overlay: str) -> None:
    for doc in [*k.rendered(overlay), *k.templates()]:
        if doc["kind"] not in ("RayService", "RayJob"):
            continue
        for group in k.ray_groups(doc):
            res = group["template"]["spec"]["containers"][0]["resources"]
            assert res["requests"] == res["limits"], group.get("groupName", "head")
            assert res["requests"]["cpu"] and res["requests"]["memory"]


@pytest.mark.parametrize("overlay", k.OVERLAYS)
def test_autoscaling_is_in_tree_with_bounds(overlay: str) -> None:
    cluster_spec = k.one(k.rendered(overlay), "RayService")["spec"]["rayClusterConfig"]
    assert cluster_spec["enableInTreeAutoscaling"] is True
    for group in cluster_spec["workerGroupSpecs"]:
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
