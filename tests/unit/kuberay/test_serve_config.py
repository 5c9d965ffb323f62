"""The RayService's serveConfigV2 in each overlay: valid for Ray Serve's own model, every
key one Ray declares, no socket-lifetime cap, real resources for every deployment."""

from __future__ import annotations

import pytest
from ray.serve.schema import ServeDeploySchema

from tests.kit import kuberay as k
from tests.kit.serve_config import unknown_keys


@pytest.mark.parametrize("overlay", k.OVERLAYS)
def test_serve_config_validates_with_serves_model(overlay: str) -> None:
    ServeDeploySchema.model_validate(k.serve_config(k.rendered(overlay)))


@pytest.mark.parametrize("overlay", k.OVERLAYS)
def test_serve_config_keys_are_all_known_to_serve(overlay: str) -> None:
    assert unknown_keys(k.serve_config(k.rendered(overlay)), ServeDeploySchema) == []


@pytest.mark.parametrize(
    ("where", "typo"),
    [
        ("deployment", "max_ongoing_request"),
        ("autoscaling", "max_replica"),
        ("actor", "num_cpu"),
        ("http", "request_timeout"),
        ("top", "aplications"),
    ],
)
def test_misspelled_serve_key_is_caught_at_every_level(where: str, typo: str) -> None:
    config = k.serve_config(k.rendered("production"))
    deployment = config["applications"][0]["deployments"][0]
    target = {
        "deployment": deployment,
        "autoscaling": deployment["autoscaling_config"],
        "actor": deployment["ray_actor_options"],
        "http": config["http_options"],
        "top": config,
    }[where]
    target[typo] = 1
    ServeDeploySchema.model_validate(config)  # Serve itself lets the typo through
    problems = unknown_keys(config, ServeDeploySchema)
    assert len(problems) == 1 and typo in problems[0]


@pytest.mark.parametrize("overlay", k.OVERLAYS)
def test_socket_lifetime_is_not_capped_by_the_request_timeout(overlay: str) -> None:
    # http_options.request_timeout_s also ends every WebSocket at that age
    http = k.serve_config(k.rendered(overlay)).get("http_options", {})
    assert http.get("request_timeout_s") is None


@pytest.mark.parametrize("overlay", k.OVERLAYS)
def test_every_deployment_asks_for_real_resources(overlay: str) -> None:
    for app in k.serve_config(k.rendered(overlay))["applications"]:
        for dep in app["deployments"]:
            options = dep.get("ray_actor_options", {})
            assert options.get("num_cpus", 0) >= 0.5, (app["name"], dep["name"])
            assert options.get("memory", 0) >= 512 * 1024 * 1024, (app["name"], dep["name"])
