"""Render kuberay/ overlays and validate what they hold, offline.

Custom resources are checked against their CRDs (copies under tests/kit/schemas/, origin
in each SOURCE.md) made strict: an object schema that lists its properties refuses any
other key, as the API server's structural pruning would silently drop it. Kubernetes'
own kinds go through ``kubernetes-validate`` in strict mode (unknown fields refused).
"""

from __future__ import annotations

import copy
import functools
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBERAY = ROOT / "kuberay"
OVERLAYS = ("staging", "production")
SCHEMAS = Path(__file__).resolve().parent / "schemas"
KUBERNETES_VERSION = "1.32"
CRD_FILES = {
    ("ray.io", "RayService"): "kuberay/ray.io_rayservices.yaml",
    ("ray.io", "RayCluster"): "kuberay/ray.io_rayclusters.yaml",
    ("ray.io", "RayJob"): "kuberay/ray.io_rayjobs.yaml",
    (
        "external-secrets.io",
        "ExternalSecret",
    ): "external-secrets/external-secrets.io_externalsecrets.yaml",
    (
        "external-secrets.io",
        "SecretStore",
    ): "external-secrets/external-secrets.io_secretstores.yaml",
    (
        "monitoring.coreos.com",
        "PodMonitor",
    ): "prometheus-operator/monitoring.coreos.com_podmonitors.yaml",
    ("monitoring.coreos.com", "PrometheusRule"): (
        "prometheus-operator/monitoring.coreos.com_prometheusrules.yaml"
    ),
}

Doc = dict[str, Any]


def render(overlay: str | Path) -> list[Doc]:
    """``kubectl kustomize`` of an overlay (a name under kuberay/overlays or a folder)."""
    path = overlay if isinstance(overlay, Path) else KUBERAY / "overlays" / overlay
    out = subprocess.run(
        ["kubectl", "kustomize", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, f"kubectl kustomize {path} failed: {out.stderr}"
    return [d for d in yaml.safe_load_all(out.stdout) if d]


@functools.cache
def rendered(overlay: str) -> tuple[Doc, ...]:
    return tuple(render(overlay))


def templates() -> list[Doc]:
    """Manifests kept outside the overlays (the RayJob template)."""
    docs: list[Doc] = []
    for path in sorted((KUBERAY / "jobs").glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def strict(schema: Any) -> Any:
    """A copy of an OpenAPI schema where listed properties are the only ones allowed."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if isinstance(out.get("pattern"), str) and out["pattern"].startswith("^(?i)"):
            # Go's regexp takes a flag group anywhere; Python only at the start
            out["pattern"] = "(?i)^" + out["pattern"][len("^(?i)") :]
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


@functools.cache
def crd_validator(group: str, kind: str, version: str) -> Any:
    """A compiled validator (jsonschema-rs: the RayService schema is 1 MB, Python's
    jsonschema needs seconds per document)."""
    import jsonschema_rs

    return jsonschema_rs.validator_for(crd_schema(group, kind, version))


@functools.cache
def crd_schema(group: str, kind: str, version: str) -> dict[str, Any]:
    file = CRD_FILES.get((group, kind))
    assert file is not None, f"no CRD schema wired for {group}/{kind}"
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the CRDs are 1 MB each
    crd = yaml.load((SCHEMAS / file).read_text(), Loader=loader)
    for v in crd["spec"]["versions"]:
        if v["name"] == version:
            assert v.get("served", True), f"{kind} {version} is not served"
            schema = copy.deepcopy(v["schema"]["openAPIV3Schema"])
            # metadata is the API server's ObjectMeta, not described by the CRD
            schema["properties"]["metadata"] = {"type": "object"}
            return strict(schema)  # type: ignore[no-any-return]
    raise AssertionError(f"{kind} has no version {version}")


def validate(doc: Doc) -> None:
    """Raise (jsonschema_rs or kubernetes-validate ValidationError, AssertionError) if invalid."""
    api_version = doc["apiVersion"]
    group, _, version = api_version.rpartition("/")
    if (group, doc["kind"]) in CRD_FILES:
        crd_validator(group, doc["kind"], version).validate(doc)
        return
    import kubernetes_validate

    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def walk(obj: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (dotted path, scalar) inside a document."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from walk(v, f"{path}.{k}" if path else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from walk(v, f"{path}[{i}]")
    else:
        yield path, obj


def one(docs: tuple[Doc, ...] | list[Doc], kind: str, name: str | None = None) -> Doc:
    found = [
        d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def serve_config(docs: tuple[Doc, ...] | list[Doc]) -> dict[str, Any]:
    return yaml.safe_load(one(docs, "RayService")["spec"]["serveConfigV2"])  # type: ignore[no-any-return]


def ray_groups(doc: Doc) -> list[Doc]:
    spec = doc["spec"]
    cluster = spec.get("rayClusterConfig") or spec.get("rayClusterSpec") or spec
    return [cluster["headGroupSpec"], *cluster.get("workerGroupSpecs", [])]


# --- literal secrets ----------------------------------------------------------------------
_SECRET_PATTERNS = {
    "password in a URL": re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]*:[^/\s@]+@"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "Slack webhook": re.compile(r"hooks\.slack\.com/services/T[0-9A-Z]+/"),
    "JWT": re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\."),
    "Vault token": re.compile(r"\bhv[sbr]\.[A-Za-z0-9_-]{20,}"),
}
_SECRET_NAME = re.compile(
    r"(secret|password|passwd|token|api[_-]?key|private[_-]?key|credential|pii_key|index_key|key_id)",
    re.I,
)


def literal_secrets(doc: Doc) -> list[str]:
    """Every place a document holds a credential in clear, described for the failure."""
    name = f"{doc['kind']}/{doc.get('metadata', {}).get('name', '?')}"
    found: list[str] = []
    if doc["kind"] == "Secret" and (doc.get("data") or doc.get("stringData")):
        found.append(f"{name}: a Secret with data (credentials come from ExternalSecrets)")
    for path, value in walk(doc):
        if not isinstance(value, str):
            continue
        if doc["kind"] == "ExternalSecret" and ".template." in path:
            # the template's values are references (``{{ .key }}``), checked below too
            value = re.sub(r"\{\{[^}]*\}\}", "", value)
        for what, pattern in _SECRET_PATTERNS.items():
            if pattern.search(value):
                found.append(f"{name}: {what} at {path}")
        leaf = path.rsplit(".", 1)[-1]
        if path.startswith("data.") and _SECRET_NAME.search(leaf) and value.strip():
            found.append(f"{name}: a credential-like key {leaf} holds a value")
        if leaf == "value" and _SECRET_NAME.search(path):
            found.append(f"{name}: a literal value at {path}")
    for path, value in walk(doc):
        if path.endswith(".name") and isinstance(value, str) and _SECRET_NAME.search(value):
            env_value = _sibling(doc, path, "value")
            if env_value:
                found.append(f"{name}: env {value} has a literal value")
    return found


def _sibling(doc: Doc, path: str, key: str) -> Any:
    node: Any = doc
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path.rsplit(".", 1)[0]):
        node = node[int(part[1:-1])] if part.startswith("[") else node.get(part)
        if node is None:
            return None
    return node.get(key) if isinstance(node, dict) else None
