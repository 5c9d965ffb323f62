"""Both overlays render with kubectl kustomize and every resource validates against its CRD
or Kubernetes' own schema, unknown fields refused (tests/kit/kuberay.py)."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import jsonschema_rs
import kubernetes_validate
import pytest

from tests.kit import kuberay as k


@pytest.mark.parametrize("overlay", k.OVERLAYS)
def test_overlay_renders_every_part(overlay: str) -> None:
    kinds = {d["kind"] for d in k.rendered(overlay)}
    assert {
        "RayService",
        "SecretStore",
        "ExternalSecret",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "PodMonitor",
        "PrometheusRule",
        "CronJob",
        "Job",
    } <= kinds


@pytest.mark.parametrize("overlay", k.OVERLAYS)
def test_every_resource_validates(overlay: str) -> None:
    for doc in k.rendered(overlay):
        k.validate(doc)


def test_rayjob_template_validates() -> None:
    jobs = [d for d in k.templates() if d["kind"] == "RayJob"]
    assert jobs
    for doc in jobs:
        k.validate(doc)
        assert doc["spec"]["entrypoint"].startswith("python -m jobs.optimize")


@pytest.mark.parametrize("overlay", k.OVERLAYS)
def test_no_value_is_left_for_an_overlay_to_fill(overlay: str) -> None:
    for doc in k.rendered(overlay):
        for path, value in k.walk(doc):
            assert not (isinstance(value, str) and "set by the overlay" in value.lower()), path
            assert not (isinstance(value, str) and "SET-BY-OVERLAY" in value), path


def test_misspelled_field_in_a_custom_resource_is_refused() -> None:
    doc = copy.deepcopy(k.one(k.rendered("production"), "RayService"))
    doc["spec"]["rayClusterConfig"]["enableInTreeAutoscalling"] = True
    with pytest.raises(jsonschema_rs.ValidationError, match="enableInTreeAutoscalling"):
        k.validate(doc)


def test_misspelled_field_deep_in_a_pod_template_is_refused() -> None:
    doc = copy.deepcopy(k.one(k.rendered("production"), "RayService"))
    doc["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0][
        "resorces"
    ] = {}
    with pytest.raises(jsonschema_rs.ValidationError, match="resorces"):
        k.validate(doc)


def test_misspelled_field_in_a_kubernetes_kind_is_refused() -> None:
    doc = copy.deepcopy(k.one(k.rendered("production"), "CronJob"))
    doc["spec"]["schedul"] = doc["spec"].pop("schedule")
    with pytest.raises(kubernetes_validate.ValidationError):
        k.validate(doc)


def test_unknown_kind_is_refused() -> None:
    doc = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        k.validate(doc)


@pytest.mark.parametrize("overlay", k.OVERLAYS)
def test_ray_start_params_are_strings_and_ray_container_first(overlay: str) -> None:
    for doc in [*k.rendered(overlay), *k.templates()]:
        if doc["kind"] not in ("RayService", "RayJob"):
            continue
        for group in k.ray_groups(doc):
            for key, value in group.get("rayStartParams", {}).items():
                assert isinstance(value, str), f"rayStartParams.{key} must be a string"
            assert group["template"]["spec"]["containers"][0]["name"].startswith("ray-")


#: Fields KubeRay 1.x deprecated (RayService health thresholds: the operator no longer acts on
#: them, see the KubeRay RayService docs); the CRD still accepts them, so name them here.
DEPRECATED = {"serviceUnhealthySecondThreshold", "deploymentUnhealthySecondThreshold"}


@pytest.mark.parametrize("overlay", k.OVERLAYS)
def test_no_deprecated_fields(overlay: str) -> None:
    spec = k.one(k.rendered(overlay), "RayService")["spec"]
    assert not DEPRECATED & set(spec)


@pytest.mark.parametrize("overlay", k.OVERLAYS)
def test_gcs_fault_tolerance_reads_its_password_from_a_secret(overlay: str) -> None:
    cluster = k.one(k.rendered(overlay), "RayService")["spec"]["rayClusterConfig"]
    ft = cluster["gcsFaultToleranceOptions"]
    assert ft["redisAddress"]
    assert "value" not in ft["redisPassword"]
    ref = ft["redisPassword"]["valueFrom"]["secretKeyRef"]
    targets = {
        d["spec"]["target"]["name"]: {e["secretKey"] for e in d["spec"].get("data", [])}
        for d in k.rendered(overlay)
        if d["kind"] == "ExternalSecret"
    }
    assert ref["key"] in targets[ref["name"]]


@pytest.mark.parametrize("overlay", k.OVERLAYS)
def test_every_secret_a_pod_reads_is_synced_from_vault(overlay: str) -> None:
    docs = k.rendered(overlay)
    synced = {d["spec"]["target"]["name"] for d in docs if d["kind"] == "ExternalSecret"}
    used = {
        value
        for doc in docs
        for path, value in k.walk(doc)
        if path.endswith("secretRef.name") or path.endswith("secretKeyRef.name")
    }
    assert used and used <= synced, used - synced
    store = k.one(docs, "SecretStore")["spec"]["provider"]["vault"]
    assert store["server"].startswith("https://") and store["caProvider"]
    assert store["auth"]["kubernetes"]["role"] == f"elson-{overlay}"


@pytest.mark.parametrize("overlay", k.OVERLAYS)
def test_migrations_run_in_one_job_not_at_replica_start(overlay: str) -> None:
    docs = k.rendered(overlay)
    job = k.one(docs, "Job", "elson-migrate")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "elson",
        "db",
        "upgrade",
        "head",
    ]
    config = k.one(docs, "ConfigMap", "elson-config")["data"]
    assert config["ELSON_ENV"] == overlay  # `elson up` migrates only in dev/test


@pytest.mark.parametrize("overlay", k.OVERLAYS)
def test_only_public_paths_are_routed_from_outside_and_over_tls(overlay: str) -> None:
    ingress = k.one(k.rendered(overlay), "Ingress")
    tls_hosts = {h for t in ingress["spec"]["tls"] for h in t["hosts"]}
    for rule in ingress["spec"]["rules"]:
        assert rule["host"] in tls_hosts
        for path in rule["http"]["paths"]:
            assert not path["path"].startswith(("/-/", "/metrics", "/readyz")), path["path"]
            assert path["path"] != "/" or path["pathType"] == "Exact"
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/force-ssl-redirect"]


@pytest.mark.parametrize("overlay", k.OVERLAYS)
def test_network_policies_deny_by_default(overlay: str) -> None:
    policies = [d for d in k.rendered(overlay) if d["kind"] == "NetworkPolicy"]
    deny = k.one(policies, "NetworkPolicy", "default-deny")["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    external = [
        (p["spec"]["podSelector"], rule)
        for p in policies
        for rule in p["spec"].get("egress", [])
        if any("ipBlock" in peer for peer in rule.get("to", []))
    ]
    # outside the cluster: HTTPS only (broker, data providers, PayPal, object storage), and
    # the Kubernetes API for the head's autoscaler only
    assert external
    for selector, rule in external:
        ports = {port["port"] for port in rule["ports"]}
        head_only = selector == {"matchLabels": {"elson.io/ray-node": "head"}}
        assert ports == {443} or (head_only and ports == {443, 6443}), (selector, ports)


@pytest.mark.parametrize("overlay", k.OVERLAYS)
def test_backup_runs_the_tested_scripts_and_keeps_a_retention(overlay: str) -> None:
    docs = k.rendered(overlay)
    cron = k.one(docs, "CronJob", "elson-backup")
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (scripts,) = [v["configMap"]["name"] for v in pod["volumes"] if "configMap" in v]
    data = k.one(docs, "ConfigMap", scripts)["data"]
    for name in ("backup.sh", "restore.sh"):
        # the same bytes tests/integration/ops/test_backup.py runs
        assert data[name] == (k.KUBERAY / "base" / "backup" / name).read_text()
    assert pod["initContainers"][0]["command"][-2:] == ["/scripts/backup.sh", "/backup"]
    upload = " ".join(pod["containers"][0]["args"])
    assert "rclone delete" in upload and "--min-age" in upload
    retention = k.one(docs, "ConfigMap", "elson-backup-config")["data"]["BACKUP_RETENTION_DAYS"]
    assert int(retention) >= 7
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"


def test_typo_in_a_source_file_fails_the_rendered_validation(tmp_path: Path) -> None:
    tree = tmp_path / "kuberay"
    shutil.copytree(k.KUBERAY, tree)
    source = tree / "base" / "rayservice.yaml"
    source.write_text(source.read_text().replace("upscalingMode:", "upscallingMode:"))
    (doc,) = [d for d in k.render(tree / "overlays" / "staging") if d["kind"] == "RayService"]
    with pytest.raises(jsonschema_rs.ValidationError, match="upscallingMode"):
        k.validate(doc)


def test_no_manifest_turns_tls_off() -> None:
    for path in sorted(k.KUBERAY.rglob("*.yaml")):
        lines = path.read_text().lower().splitlines()
        text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
        assert "tls_disable" not in text and "tls_skip_verify" not in text, path
        assert "http://vault" not in text, path
