"""Acceptance 3: the RayService runs what `elson up` runs.

`elson up` (cluster.bootstrap.Platform._start_serve) is run with Serve's start/run and
the builders recorded instead of deployed; the RayService's applications must name the
same builder functions under the same app names and route prefixes, and their ``args``
must follow the builders' argument schema (serve.app.AppArgs, extra keys refused), which
together with the manifest's environment builds the same Settings class `elson up` passes.
Then the real builders are called with those args (actors not created) and what they
build is compared with the Serve config's overrides and the pool budget's replica counts.
"""

from __future__ import annotations

import copy
import importlib
from typing import Any

import pytest
import yaml
from ray import serve as ray_serve
from ray.serve.deployment import Application

import serve.app
from cluster.bootstrap import Platform
from cluster.settings import Settings, load_settings
from tests.kit import kuberay as k

DUMMY_SECRET = "s" * 48


def _elson_up_apps(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, Any, Any]]:
    """(name, route_prefix, builder, args) for every app `elson up` runs."""
    runs: list[tuple[str, str, Any, Any]] = []

    def recorder(builder: Any) -> Any:
        return lambda args=None: ("built", builder, args)

    for name in ("build_app", "build_gateway"):
        monkeypatch.setattr(serve.app, name, recorder(getattr(serve.app, name)))
    monkeypatch.setattr(ray_serve, "start", lambda **_: None)

    def run(app: Any, *, name: str, route_prefix: str, blocking: bool) -> None:
        _, builder, args = app
        runs.append((name, route_prefix, builder, args))

    monkeypatch.setattr(ray_serve, "run", run)
    Platform(load_settings(env="test"))._start_serve()
    return runs


def _manifest_env(docs: tuple[k.Doc, ...]) -> dict[str, str]:
    """What a Ray container's environment holds: its ConfigMaps (secrets come from Vault)."""
    rayservice = k.one(docs, "RayService")
    container = k.ray_groups(rayservice)[0]["template"]["spec"]["containers"][0]
    env: dict[str, str] = {}
    for source in container["envFrom"]:
        assert "configMapRef" in source, f"secrets come from Vault, not {source}"
        env.update(k.one(docs, "ConfigMap", source["configMapRef"]["name"])["data"])
    for item in container.get("env", []):
        env[item["name"]] = item["value"]
    return env


class _VaultStub:
    """Vault's answer at start-up: a value for every secret the settings ask for (the
    outside world; the real client is tested against tests/kit's HTTPS Vault in issue 13)."""

    where = "vault (stub)"

    def read(self, names: Any) -> dict[str, str]:
        values = {
            "database_url": "postgresql+psycopg://elson:" + DUMMY_SECRET + "@db.internal/elson",
            "redis_url": "rediss://:" + DUMMY_SECRET + "@cache.internal:6380/0",
        }
        # pii_key is the local key-encryption key: with transit (the overlays) Vault wraps
        # the data keys and there is no local key to read
        return {n: values.get(n, DUMMY_SECRET) for n in names if n != "pii_key"}

    def close(self) -> None:
        pass


def _manifest_settings(
    overlay: str | tuple[k.Doc, ...], monkeypatch: pytest.MonkeyPatch, args: Any
) -> Settings:
    """The settings the builders make from the RayService's args in the overlay's pods
    (an overlay's name, or its rendered documents): the app's own start-up
    (cluster.secrets.startup) with Vault answered by a stub."""
    import os

    import cluster.secrets.startup as startup

    docs = k.rendered(overlay) if isinstance(overlay, str) else overlay
    for key in list(os.environ):
        if key.startswith("ELSON_"):
            monkeypatch.delenv(key)
    for key, value in _manifest_env(docs).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(startup, "open_source", lambda boot: _VaultStub())
    return serve.app._settings(args)


@pytest.mark.parametrize("overlay", k.OVERLAYS)
def test_rayservice_apps_are_the_apps_elson_up_runs(
    overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = k.serve_config(k.rendered(overlay))
    manifest = []
    for app in config["applications"]:
        module, func = app["import_path"].split(":")
        builder = getattr(importlib.import_module(module), func)
        manifest.append((app["name"], app["route_prefix"], builder))
    # `elson up`, recorded: the same functions the manifest's import paths resolve to
    up = _elson_up_apps(monkeypatch)
    assert len(up) == len(manifest) == 2
    assert sorted(manifest, key=str) == sorted([(n, r, b) for n, r, b, _ in up], key=str)
    # `elson up` passes its Settings whole, which the builders take as they are
    for *_, args in up:
        assert isinstance(args, Settings) and serve.app._settings(args) is args


@pytest.mark.parametrize("overlay", k.OVERLAYS)
def test_rayservice_args_follow_the_builders_schema_and_build_settings(
    overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for app in k.serve_config(k.rendered(overlay))["applications"]:
        serve.app.AppArgs.model_validate(app["args"])
        settings = _manifest_settings(overlay, monkeypatch, app["args"])
        assert isinstance(settings, Settings) and settings.env.value == overlay


def test_args_with_an_unknown_key_are_refused() -> None:
    with pytest.raises(ValueError, match="setings"):
        serve.app.AppArgs.model_validate({"setings": {}})


def _built(builder: Any, args: Any, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The deployments a builder builds (its actors are not created)."""
    import actors.bootstrap

    monkeypatch.setattr(actors.bootstrap, "ensure_actors", lambda settings: [])
    app = builder(args)
    assert isinstance(app, Application)
    return [app._bound_deployment]


def assert_serve_config_in_step(docs: tuple[k.Doc, ...], monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard: every app's deployments are the ones its builder builds from the
    manifest's settings, with the same replica counts and ``max_ongoing_requests``, and the
    replica counts are the ones the pool budget counts (ELSON_GATEWAY_REPLICAS, and
    ELSON_API_REPLICAS for the API's autoscaling upper bound)."""
    config = k.serve_config(docs)
    for app in config["applications"]:
        settings = _manifest_settings(docs, monkeypatch, app["args"])
        func = app["import_path"].split(":")[1]
        built = {d.name: d for d in _built(getattr(serve.app, func), settings, monkeypatch)}
        declared = {d["name"]: d for d in app["deployments"]}
        assert set(declared) == set(built), app["name"]
        for name, dep in declared.items():
            code = built[name]
            if "num_replicas" in dep:
                # the gateway: a fixed count, the one the pool budget counts
                assert dep["num_replicas"] == code.num_replicas, (
                    f"{name}: num_replicas {dep['num_replicas']} in serveConfigV2, "
                    f"{code.num_replicas} built from ELSON_GATEWAY_REPLICAS"
                )
            if "autoscaling_config" in dep:
                # the API: the budget counts its upper bound
                top = dep["autoscaling_config"]["max_replicas"]
                assert settings.api_replicas == top, (
                    f"{name}: max_replicas {top} in serveConfigV2, "
                    f"ELSON_API_REPLICAS {settings.api_replicas}"
                )
            assert dep["max_ongoing_requests"] == code.max_ongoing_requests, name
    gateway = next(a for a in config["applications"] if a["import_path"].endswith("gateway"))
    settings = _manifest_settings(docs, monkeypatch, gateway["args"])
    declared_replicas = gateway["deployments"][0]["num_replicas"]
    assert settings.gateway_replicas == declared_replicas, (
        f"ELSON_GATEWAY_REPLICAS {settings.gateway_replicas}, gateway num_replicas "
        f"{declared_replicas}"
    )


@pytest.mark.parametrize("overlay", k.OVERLAYS)
def test_serve_config_matches_what_the_builders_build_and_the_pool_budget(
    overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert_serve_config_in_step(k.rendered(overlay), monkeypatch)


def _with_serve_config(docs: tuple[k.Doc, ...], change: Any) -> tuple[k.Doc, ...]:
    """A copy of the rendered documents with ``change(config)`` applied to serveConfigV2."""
    out = copy.deepcopy(docs)
    rayservice = k.one(out, "RayService")
    config = k.serve_config(out)
    change(config)
    rayservice["spec"]["serveConfigV2"] = yaml.safe_dump(config, sort_keys=False)
    return out


def _with_config_map(docs: tuple[k.Doc, ...], key: str, value: str | None) -> tuple[k.Doc, ...]:
    """A copy with one variable of the Ray containers' ConfigMaps set (or removed)."""
    out = copy.deepcopy(docs)
    found = [d for d in out if d["kind"] == "ConfigMap" and key in d.get("data", {})]
    assert found, f"no ConfigMap holds {key}"
    for doc in found:
        if value is None:
            del doc["data"][key]
        else:
            doc["data"][key] = value
    return out


def _gateway(config: dict[str, Any]) -> dict[str, Any]:
    app = next(a for a in config["applications"] if a["import_path"].endswith("gateway"))
    return app["deployments"][0]  # type: ignore[no-any-return]


def _api(config: dict[str, Any]) -> dict[str, Any]:
    app = next(a for a in config["applications"] if not a["import_path"].endswith("gateway"))
    dep = next(d for d in app["deployments"] if "autoscaling_config" in d)
    return dep  # type: ignore[no-any-return]


@pytest.mark.parametrize("overlay", k.OVERLAYS)
def test_a_gateway_replica_count_out_of_step_is_caught(
    overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = k.rendered(overlay)
    # the defect issue 15 found: ELSON_GATEWAY_REPLICAS unset while the gateway runs more
    unset = _with_config_map(docs, "ELSON_GATEWAY_REPLICAS", None)
    with pytest.raises(AssertionError, match=r"num_replicas \d+ in serveConfigV2, 1 built"):
        assert_serve_config_in_step(unset, monkeypatch)
    # serveConfigV2 raised without the variable following
    declared = _gateway(k.serve_config(docs))["num_replicas"]
    more = _with_serve_config(docs, lambda c: _gateway(c).update(num_replicas=declared + 1))
    with pytest.raises(AssertionError, match=rf"num_replicas {declared + 1} in serveConfigV2"):
        assert_serve_config_in_step(more, monkeypatch)


@pytest.mark.parametrize("overlay", k.OVERLAYS)
def test_an_api_replica_bound_out_of_step_is_caught(
    overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = k.rendered(overlay)
    top = _api(k.serve_config(docs))["autoscaling_config"]["max_replicas"]
    raised = _with_serve_config(
        docs, lambda c: _api(c)["autoscaling_config"].update(max_replicas=top + 2)
    )
    with pytest.raises(AssertionError, match=rf"max_replicas {top + 2} in serveConfigV2"):
        assert_serve_config_in_step(raised, monkeypatch)
