"""The Ray task of an optimization job: one chunk of parameter sets through the kernel.

A chunk is pure compute (``run_many`` once per chunk, or one walk-forward window): the
task reads the bars from the object store (zero-copy numpy arrays), returns the trials
already encoded as a binary ``COPY`` stream (``copy_rows``: the statistics matrix goes in
as ``float8[]`` without a per-value text form), and never touches the database; the
driver persists what comes back. So a task lost with its worker or node (Ray retries it,
``max_retries``) or run twice does no harm.
"""

from __future__ import annotations

import functools
import os
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cluster.optimization import copy_rows
from cluster.optimization.repository import ChunkResult, Trial
from domain.backtest import (
    STAT_FIELDS,
    BacktestConfig,
    run_backtest,
    run_many_matrix,
    walk_forward,
)


@dataclass(frozen=True)
class ChunkSpec:
    """What a chunk task needs besides the bars."""

    job_id: str
    index: int
    strategy: str
    points: Sequence[Mapping[str, float]]
    objective: str
    min_trades: int
    cash: float
    commission: float
    #: walk-forward: (window index, train start, train stop, test start, test stop)
    window: tuple[int, int, int, int, int] | None = None
    #: names the data set (the job id): a worker keeps the bars it was given under this
    #: key, so the indicators shared by parameter sets are computed once per worker and
    #: data set, not once per chunk
    data_key: str | None = None


_SHARED: OrderedDict[str, Any] = OrderedDict()
_SHARED_MAX = 4


def _shared(bars: Any, key: str | None) -> Any:
    if key is None:
        return bars
    cached = _SHARED.get(key)
    if cached is not None and len(cached) == len(bars):
        _SHARED.move_to_end(key)
        return cached
    _SHARED[key] = bars
    while len(_SHARED) > _SHARED_MAX:
        _SHARED.popitem(last=False)
    return bars


def _node() -> str | None:
    """The Ray node running this task (the host name outside Ray; never starts Ray)."""
    import ray

    if not ray.is_initialized():
        return os.uname().nodename
    return str(ray.get_runtime_context().get_node_id())[:12]


def compute_chunk(bars: Any, spec: ChunkSpec) -> ChunkResult:
    """The chunk's trials (what the remote task runs; callable in-process for tests)."""
    started = time.perf_counter()
    bars = _shared(bars, spec.data_key)
    strategy = spec.strategy
    config = BacktestConfig(cash=spec.cash, commission=spec.commission)
    if spec.window is None:
        matrix = run_many_matrix(bars, strategy, spec.points, config)
        scores = scores_of(matrix, spec.objective, spec.min_trades)
        payload = copy_rows.encode_matrix(spec.job_id, spec.index, spec.points, matrix, scores)
        elapsed_ms = (time.perf_counter() - started) * 1000
        return ChunkResult(
            spec.job_id, spec.index, payload, len(scores), tuple(scores), elapsed_ms, _node()
        )
    trial = _window_trial(bars, strategy, config, spec)
    elapsed_ms = (time.perf_counter() - started) * 1000
    return ChunkResult.of(spec.job_id, spec.index, [trial], elapsed_ms, _node())


def scores_of(matrix: np.ndarray, objective: str, min_trades: int) -> list[float | None]:
    """Each row's objective score as ``score`` gives it (``None``: not finite, or fewer
    trades than ``min_trades``), straight from the kernel's statistics matrix."""
    values = matrix[:, STAT_FIELDS.index(objective)]
    ok = np.isfinite(values) & (matrix[:, STAT_FIELDS.index("trades")] >= min_trades)
    return [
        float(v) if good else None for v, good in zip(values.tolist(), ok.tolist(), strict=True)
    ]


def _window_trial(bars: Any, strategy: str, config: Any, spec: ChunkSpec) -> Trial:
    """One walk-forward window: its bars alone, as a one-window rolling walk-forward
    (the domain's choice and scores), plus the chosen parameters' full statistics on the
    window's in-sample and out-of-sample bars."""
    assert spec.window is not None
    index, train_start, train_stop, test_start, test_stop = spec.window
    window_bars = bars.slice(train_start, test_stop)
    results = walk_forward(
        window_bars,
        strategy,
        list(spec.points),
        spec.objective,
        train=train_stop - train_start,
        test=test_stop - test_start,
        mode="rolling",
        config=config,
        min_trades=spec.min_trades,
    )
    r = results[0]
    chosen = dict(r.params)
    stats: dict[str, Any] = {}
    in_stats: dict[str, Any] | None = None
    if chosen:
        test_bars = bars.slice(test_start, test_stop)
        stats = run_backtest(test_bars, strategy, chosen, config).as_dict()
        train_bars = bars.slice(train_start, train_stop)
        in_stats = run_backtest(train_bars, strategy, chosen, config).as_dict()
    return Trial(
        chunk_index=spec.index,
        position=0,
        window_index=index,
        params=chosen,
        stats=stats,
        score=r.out_of_sample,
        in_sample_stats=in_stats,
        in_sample_score=r.in_sample,
    )


@functools.cache
def remote_chunk(max_retries: int) -> Any:
    """The Ray remote function (built lazily: nothing touches Ray at import time).

    ``max_retries`` covers system failures (a worker or node that died); an exception
    raised by the kernel itself is a bug in the request or the code and is not retried.
    Built once per process: a new one per job was exported to the cluster and loaded by
    every worker again (Ray re-exports a cached one itself after a new ``ray.init``).
    """
    import ray

    return ray.remote(num_cpus=1, max_retries=max_retries, retry_exceptions=False)(compute_chunk)
