"""Naming rules every Elson metric obeys (Prometheus conventions, issue 15).

- names are ``elson_`` + snake case, in base units: ``_seconds`` and ``_bytes``, never
  milliseconds, minutes or kilobytes;
- a counter ends in ``_total`` and nothing else does; a histogram names its unit;
- labels have low cardinality: never a process (pid, worker, replica, node, host) and
  never an entity id (user, account, order, symbol, session, request, job). A per-id label
  makes one time series per customer or order, which a Prometheus server cannot hold and
  an alert cannot aggregate; per-process labels churn with every restart.

``cluster.metrics`` refuses a definition that breaks a rule, and
``tests/unit/cluster/test_observability.py`` walks every definition in the code base.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_NAME = re.compile(r"^elson_[a-z][a-z0-9_]*[a-z0-9]$")
#: unit words that are not base units (as whole ``_``-separated words of the name)
NON_BASE_UNITS = frozenset(
    {
        "ms",
        "msec",
        "millis",
        "milliseconds",
        "us",
        "usec",
        "micros",
        "microseconds",
        "ns",
        "nanoseconds",
        "minutes",
        "mins",
        "hours",
        "days",
        "kb",
        "kib",
        "mb",
        "mib",
        "gb",
        "gib",
        "kilobytes",
        "megabytes",
        "gigabytes",
        "percent",
    }
)
HISTOGRAM_UNITS = ("_seconds", "_bytes", "_ratio")
#: label names that identify a process or an entity (high cardinality)
FORBIDDEN_LABELS = frozenset(
    {
        "pid",
        "process",
        "worker",
        "replica",
        "node",
        "host",
        "hostname",
        "ip",
        "instance_id",
        "user",
        "email",
        "account",
        "order",
        "symbol",
        "session",
        "request",
        "job",
        "id",
        "client_order_id",
    }
)


def label_violation(label: str) -> str | None:
    base = label.lower()
    plural_of = base.removesuffix("s")  # users, accounts, orders, symbols
    if base in FORBIDDEN_LABELS or plural_of in FORBIDDEN_LABELS or base.endswith("_id"):
        return f"label {label!r} has unbounded cardinality (per process or per id)"
    return None


def violations(name: str, kind: str, labels: Sequence[str]) -> list[str]:
    """What is wrong with a metric definition (empty: nothing)."""
    out: list[str] = []
    if not _NAME.match(name):
        out.append("name must be elson_ + lower snake case")
    words = set(name.split("_"))
    bad_units = sorted(words & NON_BASE_UNITS)
    if bad_units:
        out.append(f"non-base unit {bad_units[0]!r}: use _seconds or _bytes")
    if kind == "counter" and not name.endswith("_total"):
        out.append("a counter ends in _total")
    if kind != "counter" and name.endswith("_total"):
        out.append(f"only counters end in _total (this is a {kind})")
    if kind == "histogram" and not name.endswith(HISTOGRAM_UNITS):
        out.append("a histogram names its base unit (_seconds, _bytes or _ratio)")
    if kind not in {"counter", "gauge", "histogram"}:
        out.append(f"unknown metric kind {kind!r}")
    for label in labels:
        problem = label_violation(label)
        if problem:
            out.append(problem)
    return out
