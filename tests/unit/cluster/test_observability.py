"""Metric conventions: every metric defined anywhere in the code base obeys
``cluster.metric_rules`` (base units, ``_total`` counters, low-cardinality labels).

Two walks: the source (every ``counter``/``gauge``/``histogram`` call with a literal name,
defined or not yet created in this process) and the live registry (``metrics.registered``).
A planted bad metric shows each walk can fail.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from cluster import metric_rules, metrics

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("cluster", "actors", "serve", "jobs")
KINDS = {"counter", "gauge", "histogram"}


def _literal_strings(node: ast.expr | None) -> tuple[str, ...] | None:
    if node is None:
        return ()
    if isinstance(node, ast.Tuple | ast.List) and all(
        isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts
    ):
        return tuple(e.value for e in node.elts)  # type: ignore[attr-defined]
    return None


def definitions(path: Path) -> list[tuple[str, str, str, tuple[str, ...] | None]]:
    """(where, kind, name, labels or None when not literal) of each metric definition."""
    found = []
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        kind = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if kind not in KINDS or not node.args:
            continue
        first = node.args[0]
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
            continue
        if not first.value.startswith("elson_") and "_" not in first.value:
            continue
        tags_node = node.args[2] if len(node.args) > 2 else None
        for kw in node.keywords:
            if kw.arg in {"tags", "tag_keys", "labelnames"}:
                tags_node = kw.value
        where = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{node.lineno}"
        found.append((where, kind, first.value, _literal_strings(tags_node)))
    return found


def problems_in(paths: list[Path]) -> tuple[int, list[str]]:
    count, out = 0, []
    for path in paths:
        for where, kind, name, labels in definitions(path):
            count += 1
            if labels is None:
                out.append(f"{where} {name}: labels must be a literal tuple (to be checked)")
                continue
            out += [f"{where} {name}: {p}" for p in metric_rules.violations(name, kind, labels)]
    return count, out


def _sources() -> list[Path]:
    return [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]


def test_every_metric_in_the_code_base_follows_the_conventions() -> None:
    count, problems = problems_in(_sources())
    assert problems == []
    assert count >= 10, f"the walk found only {count} metric definitions"


def test_a_planted_bad_metric_in_source_fails_the_walk(tmp_path: Path) -> None:
    bad = tmp_path / "pkg" / "bad_metrics.py"
    bad.parent.mkdir()
    bad.write_text(
        "from cluster import metrics\n"
        "def f():\n"
        "    metrics.histogram('elson_order_latency_ms', 'x', ('route',))\n"
        "    metrics.counter('elson_orders', 'x', ('account_id',))\n"
        "    metrics.gauge('elson_pool', 'x', ('pid', 'symbol'))\n"
    )
    count, problems = problems_in([bad])
    assert count == 3
    text = "\n".join(problems)
    assert "non-base unit 'ms'" in text
    assert "a counter ends in _total" in text
    for label in ("account_id", "pid", "symbol"):
        assert f"label '{label}'" in text


@pytest.mark.parametrize(
    ("name", "kind", "labels"),
    [
        ("elson_http_request_duration_ms", "histogram", ("route",)),
        ("elson_http_request_duration", "histogram", ("route",)),
        ("elson_orders_submitted", "counter", ("outcome",)),
        ("elson_ws_open_total", "gauge", ()),
        ("elson_db_pool_connections", "gauge", ("process", "state")),
        ("elson_orders_total", "counter", ("user",)),
        ("elson_orders_total", "counter", ("order_id",)),
        ("elson_quotes_total", "counter", ("symbols",)),
        ("elson_cache_size_mb", "gauge", ()),
    ],
)
def test_rules_refuse(name: str, kind: str, labels: tuple[str, ...]) -> None:
    assert metric_rules.violations(name, kind, labels)


@pytest.mark.parametrize(
    ("name", "kind", "labels"),
    [
        ("elson_http_request_duration_seconds", "histogram", ("route", "method")),
        ("elson_feed_switches_total", "counter", ("shard", "from", "to", "reason")),
        ("elson_db_pool_connections", "gauge", ("component", "state")),
        ("elson_ws_message_size_bytes", "histogram", ()),
    ],
)
def test_rules_accept(name: str, kind: str, labels: tuple[str, ...]) -> None:
    assert metric_rules.violations(name, kind, labels) == []


def test_registry_refuses_a_bad_definition_and_holds_only_good_ones() -> None:
    with pytest.raises(ValueError, match="non-base unit"):
        metrics.histogram("elson_planted_latency_ms", "planted", ("route",))
    with pytest.raises(ValueError, match="cardinality"):
        metrics.counter("elson_planted_total", "planted", ("pid",))
    # the well-known definitions, then a walk over whatever this process registered
    for factory in (
        metrics.redis_failures,
        metrics.http_requests,
        metrics.http_latency,
        metrics.db_pool_gauge,
    ):
        factory()
    names = {name for name, _, _ in metrics.registered()}
    assert "elson_planted_latency_ms" not in names
    assert "elson_http_request_duration_seconds" in names
    for name, kind, labels in metrics.registered():
        assert metric_rules.violations(name, kind, labels) == [], name
