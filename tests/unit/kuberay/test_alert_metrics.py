"""Every metric an alert reads is one the code records: an alert on a name nothing
exports never fires (five alerts of the first manifests did exactly that). Ray exports
``ray.util.metrics`` with a ``ray_`` prefix, histograms as ``_bucket``/``_sum``/``_count``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import promql_parser
import pytest

from tests.kit import kuberay as k
from tests.unit.kuberay.test_alerts import _rules

ROOT = Path(__file__).resolve().parents[3]
CODE = ("cluster", "actors", "serve", "jobs")
#: metrics exported by others than Elson's code (kube-state-metrics, Ray itself)
FOREIGN = re.compile(r"^(kube_|up$|ray_(?!elson_))")


def metric_names(expr: Any) -> set[str]:
    out: set[str] = set()
    if isinstance(expr, promql_parser.VectorSelector):
        if expr.name:
            out.add(expr.name)
    for attr in ("expr", "lhs", "rhs", "vector_selector", "param"):
        child = getattr(expr, attr, None)
        if child is not None and not isinstance(child, str | int | float):
            out |= metric_names(child)
    for arg in getattr(expr, "args", None) or []:
        out |= metric_names(arg)
    return out


def elson_name(exported: str) -> str:
    """``ray_elson_x_seconds_bucket`` -> ``elson_x_seconds`` (the name the code defines)."""
    name = exported.removeprefix("ray_")
    return (
        re.sub(r"_(bucket|sum|count)$", "", name)
        if name.endswith(("_seconds_bucket", "_seconds_sum", "_seconds_count"))
        else name
    )


def defined_in_code() -> str:
    return "\n".join(
        p.read_text() for top in CODE for p in (ROOT / top).rglob("*.py") if ".venv" not in p.parts
    )


def unrecorded(names: set[str], code: str) -> list[str]:
    return sorted(n for n in names if not FOREIGN.match(n) and f'"{elson_name(n)}"' not in code)


@pytest.mark.parametrize("overlay", k.OVERLAYS)
def test_every_metric_an_alert_reads_is_recorded_by_the_code(overlay: str) -> None:
    names = {n for rule in _rules(overlay) for n in metric_names(promql_parser.parse(rule["expr"]))}
    assert {"ray_elson_feed_staleness_seconds", "ray_elson_trading_halted"} <= names
    assert unrecorded(names, defined_in_code()) == []


def test_an_alert_on_a_metric_nothing_records_is_caught() -> None:
    expr = promql_parser.parse("max by (shard) (ray_elson_feed_silence_ms) > 30")
    assert unrecorded(metric_names(expr), defined_in_code()) == ["ray_elson_feed_silence_ms"]


def test_histogram_series_map_to_the_defined_name() -> None:
    assert elson_name("ray_elson_http_request_duration_seconds_bucket") == (
        "elson_http_request_duration_seconds"
    )
    assert elson_name("ray_elson_optimization_jobs_total") == "elson_optimization_jobs_total"
