"""Every alert's PromQL parses (promql-parser) and keeps to low-cardinality labels: no
grouping, matching or templating on a user, account, order, symbol, process or instance id."""

from __future__ import annotations

import copy
import re
from typing import Any

import promql_parser
import pytest

from tests.kit import kuberay as k

#: labels whose values grow with users, orders, symbols, processes or pods
HIGH_CARDINALITY = re.compile(
    r"^(user|user_id|account|account_id|order|order_id|client_order_id|symbol|ticker|"
    r"pid|process|instance|instance_id|pod|pod_name|worker_id|actor_id|node_id|job_id|"
    r"request_id|session|session_id|email|ip|client_ip|token|strategy_id)$",
    re.I,
)


def labels_in(expr: Any) -> set[str]:
    """Every label name an expression matches on, groups by or joins on."""
    out: set[str] = set()
    if isinstance(expr, promql_parser.VectorSelector):
        out |= {m.name for m in expr.matchers.matchers}
        for group in expr.matchers.or_matchers or []:
            out |= {m.name for m in group}
    elif isinstance(expr, promql_parser.MatrixSelector):
        out |= labels_in(expr.vector_selector)
    elif isinstance(expr, promql_parser.AggregateExpr):
        if expr.modifier is not None:
            out |= set(expr.modifier.labels or [])
        out |= labels_in(expr.expr)
        if expr.param is not None:
            out |= labels_in(expr.param)
    elif isinstance(expr, promql_parser.BinaryExpr):
        mod = expr.modifier
        if mod is not None:
            if mod.matching is not None:
                out |= set(mod.matching.labels)
            out |= set(getattr(mod, "group_labels", None) or [])
        out |= labels_in(expr.lhs) | labels_in(expr.rhs)
    elif isinstance(expr, promql_parser.Call):
        for arg in expr.args:
            out |= labels_in(arg)
    elif isinstance(expr, promql_parser.ParenExpr | promql_parser.UnaryExpr):
        out |= labels_in(expr.expr)
    elif isinstance(expr, promql_parser.SubqueryExpr):
        out |= labels_in(expr.expr)
    return out


def alert_problems(rule: dict[str, Any]) -> list[str]:
    name = rule.get("alert") or rule.get("record")
    try:
        expr = promql_parser.parse(rule["expr"])
    except ValueError as exc:
        return [f"{name}: PromQL does not parse: {exc}"]
    used = labels_in(expr) | set(rule.get("labels", {}))
    for text in rule.get("annotations", {}).values():
        used |= set(re.findall(r"\$labels\.([A-Za-z_][A-Za-z0-9_]*)", text))
    return [
        f"{name}: high-cardinality label {label!r}"
        for label in sorted(used)
        if HIGH_CARDINALITY.match(label)
    ]


def _rules(overlay: str) -> list[dict[str, Any]]:
    rule = k.one(k.rendered(overlay), "PrometheusRule")
    return [r for g in rule["spec"]["groups"] for r in g["rules"]]


@pytest.mark.parametrize("overlay", k.OVERLAYS)
def test_every_alert_parses_and_has_low_cardinality_labels(overlay: str) -> None:
    problems = [p for rule in _rules(overlay) for p in alert_problems(rule)]
    assert problems == []


def test_alerts_cover_what_operators_must_hear_about() -> None:
    names = {r["alert"] for r in _rules("production")}
    assert {
        "ElsonRedisFailing",
        "ElsonFeedStale",
        "ElsonFeedFailover",
        "ElsonBreakerOpen",
        "ElsonTradingHalted",
        "ElsonOrderRejectionRate",
        "ElsonApiLatencyHigh",
        "ElsonDbPoolExhausted",
        "ElsonWsSlowConsumers",
        "ElsonOptimizationJobsFailing",
    } <= names
    for rule in _rules("production"):
        assert rule["labels"]["severity"] in ("page", "ticket")
        assert rule["annotations"]["runbook_url"].endswith("#" + rule["alert"].lower())


def test_every_alert_has_a_response_in_the_runbook() -> None:
    runbook = (k.ROOT / "docs" / "runbook.md").read_text()
    for rule in _rules("production"):
        assert f"### {rule['alert']}" in runbook, rule["alert"]


@pytest.mark.parametrize(
    ("expr", "label"),
    [
        ("sum by (account_id) (rate(ray_elson_orders_submitted_total[5m])) > 1", "account_id"),
        ('rate(ray_elson_orders_submitted_total{symbol="AAPL"}[5m]) > 1', "symbol"),
        ("max by (pid) (ray_elson_db_pool_connections) > 1", "pid"),
        ("sum(a) / on (user) group_left (order_id) sum by (user) (b)", "user"),
        ("histogram_quantile(0.99, sum by (le, instance) (rate(x_bucket[5m]))) > 1", "instance"),
    ],
)
def test_high_cardinality_label_is_caught(expr: str, label: str) -> None:
    rule = copy.deepcopy(_rules("production")[0])
    rule["expr"] = expr
    assert any(repr(label) in p for p in alert_problems(rule))


def test_high_cardinality_label_in_an_annotation_is_caught() -> None:
    rule = copy.deepcopy(_rules("production")[0])
    rule["annotations"]["summary"] = "order {{ $labels.order_id }} stuck"
    assert any("'order_id'" in p for p in alert_problems(rule))


def test_promql_that_does_not_parse_is_caught() -> None:
    rule = copy.deepcopy(_rules("production")[0])
    rule["expr"] = "sum(rate(ray_elson_redis_failures_total[5m]) > 1"
    assert any("does not parse" in p for p in alert_problems(rule))
