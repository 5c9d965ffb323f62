"""kuberay/ manifests validate against the KubeRay 1.7 CRDs kept in tests/kit/schemas/kuberay
(origin and version in its SOURCE.md), and the Serve config inside them names only keys Ray
knows (Ray accepts misspelled keys silently). Nothing here reads outside the repository."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "tests" / "kit" / "schemas"
CRD_FILES = {
    ("ray.io", "RayService"): "kuberay/ray.io_rayservices.yaml",
    ("ray.io", "RayCluster"): "kuberay/ray.io_rayclusters.yaml",
    ("ray.io", "RayJob"): "kuberay/ray.io_rayjobs.yaml",
}
MANIFESTS = sorted((ROOT / "kuberay").glob("*.yaml"))


def crd_schema(group: str, kind: str, version: str) -> dict[str, Any]:
    path = SCHEMAS / CRD_FILES[(group, kind)]
    assert path.exists(), f"CRD schema missing: {path} (copy it with its SOURCE.md entry)"
    crd = yaml.safe_load(path.read_text())
    for v in crd["spec"]["versions"]:
        if v["name"] == version:
            return v["schema"]["openAPIV3Schema"]  # type: ignore[no-any-return]
    raise AssertionError(f"{kind} has no version {version}")


def documents() -> list[tuple[Path, dict[str, Any]]]:
    out = []
    for path in MANIFESTS:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                out.append((path, doc))
    return out


def test_there_is_a_rayservice() -> None:
    assert any(doc["kind"] == "RayService" for _, doc in documents())


@pytest.mark.parametrize(("path", "doc"), documents(), ids=lambda x: getattr(x, "name", ""))
def test_manifest_validates_against_its_crd(path: Path, doc: dict[str, Any]) -> None:
    group, version = doc["apiVersion"].split("/")
    if group != "ray.io":
        pytest.fail(f"{path.name}: no schema wired for {doc['apiVersion']}")
    jsonschema.validate(doc, crd_schema(group, doc["kind"], version))


def _ray_specs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    cluster = (
        doc["spec"].get("rayClusterConfig") or doc["spec"].get("rayClusterSpec") or doc["spec"]
    )
    return [cluster["headGroupSpec"], *cluster.get("workerGroupSpecs", [])]


@pytest.mark.parametrize(("path", "doc"), documents(), ids=lambda x: getattr(x, "name", ""))
def test_ray_start_params_are_strings_and_ray_container_first(
    path: Path, doc: dict[str, Any]
) -> None:
    for group in _ray_specs(doc):
        for key, value in group.get("rayStartParams", {}).items():
            assert isinstance(value, str), f"{path.name}: rayStartParams.{key} must be a string"
        assert group["template"]["spec"]["containers"][0]["name"].startswith("ray-")


def _check_keys(obj: Any, model: Any, where: str) -> None:
    fields = getattr(model, "model_fields", None) or model.__fields__
    for key in obj:
        assert key in fields, f"{where}: unknown Serve config key {key!r}"


def test_serve_config_uses_known_keys_and_our_builders() -> None:
    from ray.serve.schema import DeploymentSchema, ServeApplicationSchema, ServeDeploySchema

    for path, doc in documents():
        if doc["kind"] != "RayService":
            continue
        config = yaml.safe_load(doc["spec"]["serveConfigV2"])
        _check_keys(config, ServeDeploySchema, path.name)
        ServeDeploySchema.model_validate(config) if hasattr(
            ServeDeploySchema, "model_validate"
        ) else None
        for app in config["applications"]:
            _check_keys(app, ServeApplicationSchema, f"{path.name}:{app['name']}")
            for dep in app.get("deployments", []):
                _check_keys(dep, DeploymentSchema, f"{path.name}:{app['name']}:{dep['name']}")
            module, func = app["import_path"].split(":")
            assert callable(getattr(importlib.import_module(module), func))
        assert {a["import_path"] for a in config["applications"]} == {
            "serve.app:build_app",
            "serve.app:build_gateway",
        }


def test_no_secret_values_in_manifests() -> None:
    for path, doc in documents():
        text = yaml.safe_dump(doc)
        for var in ("ELSON_JWT_SECRET", "ELSON_PII_KEY", "ELSON_DATABASE_URL", "ELSON_REDIS_URL"):
            if var in text:
                env = [
                    e
                    for g in _ray_specs(doc)
                    for c in g["template"]["spec"]["containers"]
                    for e in c.get("env", [])
                    if e["name"] == var
                ]
                assert env and all("valueFrom" in e and "value" not in e for e in env), (path, var)


def test_misspelled_serve_key_is_caught() -> None:
    from ray.serve.schema import DeploymentSchema

    with pytest.raises(AssertionError, match="max_ongoing_request"):
        _check_keys({"max_ongoing_request": 5}, DeploymentSchema, "probe")


def test_manifest_with_wrong_type_is_refused_by_the_crd() -> None:
    _, doc = next((p, d) for p, d in documents() if d["kind"] == "RayService")
    broken = yaml.safe_load(yaml.safe_dump(doc))
    broken["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["replicas"] = "two"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, crd_schema("ray.io", "RayService", "v1"))
