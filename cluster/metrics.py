"""Metrics that a single scrape of ``/metrics`` sees for the whole app.

A prometheus-client registry inside one Serve replica or actor is never scraped by Ray.
So every process records through ``ray.util.metrics`` when it runs inside Ray: Ray's
per-node agent exports them (prefixed ``ray_``), and ``/metrics`` gathers every alive
node's export (see ``gather_cluster_metrics``). Outside Ray (unit tests, CLI) the same
calls go to the process's prometheus-client registry.

Metric objects are created lazily on first use in each process, never at import time:
Ray re-imports modules in every worker.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from cluster import metric_rules

_lock = threading.Lock()
_made: dict[str, Any] = {}

#: Latency buckets in seconds (base units, see ``cluster.metric_rules``).
DEFAULT_BUCKETS_S = (0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def _in_ray() -> bool:
    try:
        import ray
    except ImportError:  # pragma: no cover
        return False
    return bool(ray.is_initialized())


class _Metric:
    def __init__(
        self, kind: str, name: str, doc: str, tags: Sequence[str], buckets: Sequence[float]
    ):
        self.kind, self.name, self.doc, self.tags, self.buckets = (
            kind,
            name,
            doc,
            tuple(tags),
            buckets,
        )
        self._impl: Any = None
        self._ray = False
        self._local_total = 0.0  # what this process recorded, whichever backend took it

    def _get(self) -> Any:
        if self._impl is None:
            with _lock:
                if self._impl is None:
                    self._impl, self._ray = _build(self)
        return self._impl

    def _tags(self, tags: dict[str, str] | None) -> dict[str, str]:
        tags = tags or {}
        return {k: str(tags.get(k, "")) for k in self.tags}

    @property
    def local_total(self) -> float:
        """Sum of ``inc`` calls in this process (for readiness details and tests)."""
        return self._local_total

    def inc(self, value: float = 1.0, tags: dict[str, str] | None = None) -> None:
        self._local_total += value
        impl = self._get()
        if self._ray:
            impl.inc(value, tags=self._tags(tags))
        else:
            (impl.labels(**self._tags(tags)) if self.tags else impl).inc(value)

    def set(self, value: float, tags: dict[str, str] | None = None) -> None:
        impl = self._get()
        if self._ray:
            impl.set(value, tags=self._tags(tags))
        else:
            (impl.labels(**self._tags(tags)) if self.tags else impl).set(value)

    def observe(self, value: float, tags: dict[str, str] | None = None) -> None:
        impl = self._get()
        if self._ray:
            impl.observe(value, tags=self._tags(tags))
        else:
            (impl.labels(**self._tags(tags)) if self.tags else impl).observe(value)


def _build(m: _Metric) -> tuple[Any, bool]:
    if _in_ray():
        from ray.util import metrics as rm

        if m.kind == "counter":
            return rm.Counter(m.name, description=m.doc, tag_keys=m.tags), True
        if m.kind == "gauge":
            return rm.Gauge(m.name, description=m.doc, tag_keys=m.tags), True
        return rm.Histogram(
            m.name, description=m.doc, boundaries=list(m.buckets), tag_keys=m.tags
        ), True
    import prometheus_client as pc

    existing = pc.REGISTRY._names_to_collectors.get(m.name)
    if existing is not None:
        return existing, False
    if m.kind == "counter":
        return pc.Counter(m.name, m.doc, m.tags), False
    if m.kind == "gauge":
        return pc.Gauge(m.name, m.doc, m.tags), False
    return pc.Histogram(m.name, m.doc, m.tags, buckets=list(m.buckets)), False


def _metric(
    kind: str, name: str, doc: str, tags: Sequence[str], buckets: Sequence[float]
) -> _Metric:
    problems = metric_rules.violations(name, kind, tags)
    if problems:  # a definition bug: tests/unit/cluster/test_observability.py finds it first
        raise ValueError(f"metric {name}: " + "; ".join(problems))
    with _lock:
        found = _made.get(name)
        if found is None:
            found = _made[name] = _Metric(kind, name, doc, tags, buckets)
        return found  # type: ignore[no-any-return]


def registered() -> list[tuple[str, str, tuple[str, ...]]]:
    """(name, kind, tags) of every metric defined in this process so far."""
    with _lock:
        return [(m.name, m.kind, m.tags) for m in _made.values()]


def counter(name: str, doc: str, tags: Sequence[str] = ()) -> _Metric:
    return _metric("counter", name, doc, tags, ())


def gauge(name: str, doc: str, tags: Sequence[str] = ()) -> _Metric:
    return _metric("gauge", name, doc, tags, ())


def histogram(
    name: str, doc: str, tags: Sequence[str] = (), buckets: Sequence[float] = DEFAULT_BUCKETS_S
) -> _Metric:
    return _metric("histogram", name, doc, tags, buckets)


# --- well-known metrics, one definition each ---
def redis_failures() -> _Metric:
    return counter("elson_redis_failures_total", "Failed Redis calls", ("op", "kind"))


def http_requests() -> _Metric:
    return counter("elson_http_requests_total", "HTTP requests", ("route", "method", "status"))


def http_latency() -> _Metric:
    return histogram(
        "elson_http_request_duration_seconds", "HTTP request latency", ("route", "method")
    )


def db_pool_gauge() -> _Metric:
    return gauge(
        "elson_db_pool_connections", "DB pool connections by state", ("component", "state")
    )


# --- gauge sources ---
# Ray 2.60 exports a gauge only in the reporting window in which it was set (checked
# here: a gauge set once disappears from the node's export). Gauges that describe state
# (pool sizes, queue depths) are therefore re-set by one daemon thread per process.
_sources: dict[int, Callable[[], None]] = {}
_refresher: threading.Thread | None = None
REFRESH_S = 1.0


def add_gauge_source(key: int, fn: Callable[[], None]) -> None:
    """Call ``fn`` every ``REFRESH_S`` seconds in this process until removed."""
    global _refresher
    with _lock:
        _sources[key] = fn
        if _refresher is None or not _refresher.is_alive():
            _refresher = threading.Thread(target=_refresh_loop, name="elson-gauges", daemon=True)
            _refresher.start()


def remove_gauge_source(key: int) -> None:
    with _lock:
        _sources.pop(key, None)


def _refresh_loop() -> None:
    while True:
        time.sleep(REFRESH_S)
        with _lock:
            fns = list(_sources.values())
        for fn in fns:
            try:
                fn()
            except Exception:  # noqa: S112 - a broken source must not stop the others
                continue


def gather_cluster_metrics(timeout_s: float = 2.0) -> str:
    """Prometheus text of every alive Ray node's metrics agent, plus this process's registry."""
    parts: list[str] = []
    if _in_ray():
        import ray

        for node in ray.nodes():
            port = node.get("MetricsExportPort")
            if not node.get("Alive") or not port:
                continue
            url = f"http://{node['NodeManagerAddress']}:{port}/metrics"
            try:
                with urllib.request.urlopen(url, timeout=timeout_s) as resp:
                    parts.append(resp.read().decode())
            except OSError as exc:
                parts.append(f"# node {node['NodeManagerAddress']} unreachable: {exc}\n")
    import prometheus_client as pc

    parts.append(pc.generate_latest(pc.REGISTRY).decode())
    return "\n".join(parts)
