"""From outside the Ray pods, only the ports kuberay/base/networkpolicies.yaml names are
reachable: the Serve proxy (8000) from the ingress controller, the metrics port (8080)
from Prometheus, the dashboard and its agent (8265, 52365) from the KubeRay operator.
Serve's own routes and ``/metrics`` are then kept from the outside by the Ingress
(test_manifests.py::test_only_public_paths_are_routed_from_outside_and_over_tls), and
nothing else (GCS, dashboard, metrics) is reachable from any other namespace."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.kit import kuberay as k

#: namespace -> the ports of the Ray pods it may reach
ALLOWED = {
    "ingress-nginx": {8000},
    "monitoring": {8080},
    "kuberay-system": {8265, 52365},
}
RAY_PODS = {"matchExpressions": [{"key": "elson.io/ray-node", "operator": "Exists"}]}


def outside_ingress(docs: tuple[k.Doc, ...] | list[k.Doc]) -> list[str]:
    """Every ingress rule that admits more than ``ALLOWED`` from outside the Ray pods."""
    problems: list[str] = []
    for policy in (d for d in docs if d["kind"] == "NetworkPolicy"):
        name = policy["metadata"]["name"]
        for rule in policy["spec"].get("ingress", []):
            peers: list[dict[str, Any]] = rule.get("from", [])
            if not peers:
                problems.append(f"{name}: an ingress rule admits every source")
                continue
            ports = {p.get("port") for p in rule.get("ports", [])}
            for peer in peers:
                if set(peer) == {"podSelector"} and peer["podSelector"] == RAY_PODS:
                    continue  # the Ray pods among themselves (GCS, raylets, object transfer)
                namespace = (
                    peer.get("namespaceSelector", {})
                    .get("matchLabels", {})
                    .get("kubernetes.io/metadata.name")
                )
                allowed = ALLOWED.get(namespace or "", set())
                if "ipBlock" in peer or not allowed:
                    problems.append(f"{name}: ingress from {peer}")
                elif not ports or not ports <= allowed:
                    problems.append(f"{name}: {namespace} may reach {ports or 'every port'}")
    return problems


@pytest.mark.parametrize("overlay", k.OVERLAYS)
def test_from_outside_only_the_proxy_metrics_and_operator_ports_are_reachable(
    overlay: str,
) -> None:
    docs = k.rendered(overlay)
    assert outside_ingress(docs) == []
    reachable = {
        port["port"]
        for d in docs
        if d["kind"] == "NetworkPolicy"
        for rule in d["spec"].get("ingress", [])
        for port in rule.get("ports", [])
    }
    assert reachable == set().union(*ALLOWED.values())


def _planted(change: Any) -> list[str]:
    docs = copy.deepcopy(list(k.rendered("production")))
    policy = k.one(docs, "NetworkPolicy", "serve-ingress")
    change(policy["spec"]["ingress"])
    return outside_ingress(docs)


def test_the_ingress_controller_reaching_the_dashboard_is_caught() -> None:
    def dashboard(rules: list[dict[str, Any]]) -> None:
        rules[0]["ports"].append({"protocol": "TCP", "port": 8265})

    assert _planted(dashboard) == ["serve-ingress: ingress-nginx may reach {8000, 8265}"]


def test_a_rule_without_ports_or_sources_is_caught() -> None:
    assert _planted(lambda rules: rules[1].pop("ports")) == [
        "serve-ingress: monitoring may reach every port"
    ]
    assert _planted(lambda rules: rules[0].pop("from")) == [
        "serve-ingress: an ingress rule admits every source"
    ]


def test_ingress_from_an_address_block_is_caught() -> None:
    def anywhere(rules: list[dict[str, Any]]) -> None:
        rules[0]["from"].append({"ipBlock": {"cidr": "0.0.0.0/0"}})

    (problem,) = _planted(anywhere)
    assert problem.startswith("serve-ingress: ingress from {'ipBlock'")
