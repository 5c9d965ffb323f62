"""Optimization jobs as pure rules: the request, its validation, chunking, the status table.

Why here: the CLI, ``python -m jobs.optimize`` and ``POST /v1/optimizations`` build the
same ``OptimizationRequest`` and refuse the same bad inputs (naming the field) before any
task runs; the Ray driver only executes a request that passed ``check_request``.

Status follows one transition table (like ``domain.orders``): a job is ``queued`` when
stored, ``running`` while a driver works on it, ``cancelling`` after a cancel request until
the driver has stopped its tasks, and ends ``cancelled``, ``succeeded`` or ``failed``.
``restart`` re-enters ``running`` for a driver that resumes a job (after a crash, a stop
or a failure): persisted chunks are skipped, so a restart never runs a chunk twice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Final

from domain.errors import IllegalTransition, ValidationFailed

DATA_KINDS: Final = ("file", "upload", "replay", "simulated")
WINDOW_MODES: Final = ("rolling", "expanding")
DEFAULT_OBJECTIVE: Final = "sharpe_ratio"
MAX_COMMISSION: Final = Decimal("0.1")
MAX_SIMULATED_BARS: Final = 50_000


class SearchKind(StrEnum):
    GRID = "grid"
    RANDOM = "random"
    BAYESIAN = "bayesian"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self in (JobStatus.CANCELLED, JobStatus.SUCCEEDED, JobStatus.FAILED)


class JobEvent(StrEnum):
    START = "start"  # a driver picked the queued job up
    RESTART = "restart"  # a driver resumes the job; persisted chunks are skipped
    CANCEL = "cancel"  # a user asked to stop it
    STOPPED = "stopped"  # the driver stopped submitting and cancelled its tasks
    COMPLETE = "complete"  # every chunk is persisted
    FAIL = "fail"  # the driver gave up (data gone, a task failing past its retries)


_S = JobStatus
_E = JobEvent

_TRANSITIONS: Final[dict[tuple[JobStatus, JobEvent], JobStatus]] = {
    (_S.QUEUED, _E.START): _S.RUNNING,
    # No driver holds a queued job: a cancel ends it at once.
    (_S.QUEUED, _E.CANCEL): _S.CANCELLED,
    # The data could not be read when the driver started.
    (_S.QUEUED, _E.FAIL): _S.FAILED,
    # A driver that crashed left the job running; its successor resumes it.
    (_S.RUNNING, _E.RESTART): _S.RUNNING,
    (_S.RUNNING, _E.CANCEL): _S.CANCELLING,
    (_S.RUNNING, _E.COMPLETE): _S.SUCCEEDED,
    (_S.RUNNING, _E.FAIL): _S.FAILED,
    (_S.CANCELLING, _E.STOPPED): _S.CANCELLED,
    # Real race: the last chunk landed before the driver saw the cancel request.
    (_S.CANCELLING, _E.COMPLETE): _S.SUCCEEDED,
    (_S.CANCELLING, _E.FAIL): _S.FAILED,
    # A driver died while cancelling; its successor finds the request and stops.
    (_S.CANCELLING, _E.RESTART): _S.CANCELLING,
    # A stopped or failed job may be resumed where it was.
    (_S.CANCELLED, _E.RESTART): _S.RUNNING,
    (_S.FAILED, _E.RESTART): _S.RUNNING,
    # Absent on purpose: a second cancel (answered idempotently by the service), any
    # event on a succeeded job (its results are final), start of a job already started.
}


class IllegalJobTransition(IllegalTransition):
    def __init__(self, status: str, event: str) -> None:
        super().__init__(status, event)
        self.message = f"illegal optimization job transition: {status} -> {event}"
        self.args = (self.message,)


def next_status(status: JobStatus, event: JobEvent) -> JobStatus:
    """The status after ``event``; ``IllegalJobTransition`` if the table lacks the move."""
    target = _TRANSITIONS.get((status, event))
    if target is None:
        raise IllegalJobTransition(status.value, event.value)
    return target


@dataclass(frozen=True)
class DataSource:
    """Where the bars come from. ``file``/``replay``: a CSV or Parquet path the cluster can
    read (``replay`` takes the bar rows of one ``symbol`` of a replay file); ``upload``: a
    stored blob; ``simulated``: ``bars`` daily bars of the seeded GBM simulator."""

    kind: str
    path: str | None = None
    upload_id: str | None = None
    symbol: str | None = None
    bars: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in DATA_KINDS:
            raise ValidationFailed("data.kind", "unknown", f"data.kind must be one of {DATA_KINDS}")
        needs = {"file": "path", "replay": "path", "upload": "upload_id", "simulated": "bars"}
        if getattr(self, needs[self.kind]) in (None, ""):
            raise ValidationFailed(f"data.{needs[self.kind]}", "required")
        if self.kind in ("replay", "simulated") and not self.symbol:
            raise ValidationFailed("data.symbol", "required")
        if self.kind == "simulated" and not 2 <= (self.bars or 0) <= MAX_SIMULATED_BARS:
            raise ValidationFailed("data.bars", f"between-2-and-{MAX_SIMULATED_BARS}")

    def as_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in ("kind", "path", "upload_id", "symbol", "bars")}
        return {k: v for k, v in out.items() if v is not None} | {"seed": self.seed}


@dataclass(frozen=True)
class WalkForward:
    train: int
    test: int
    mode: str = "rolling"

    def __post_init__(self) -> None:
        if self.train < 2:
            raise ValidationFailed("walk_forward.train", "at-least-2")
        if self.test < 2:
            raise ValidationFailed("walk_forward.test", "at-least-2")
        if self.mode not in WINDOW_MODES:
            raise ValidationFailed("walk_forward.mode", "unknown")


@dataclass(frozen=True)
class OptimizationRequest:
    """One optimization job as asked. ``params`` narrows the grid: name -> values."""

    strategy: str
    data: DataSource
    search: SearchKind = SearchKind.GRID
    params: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    n_trials: int | None = None
    seed: int = 0
    objective: str = DEFAULT_OBJECTIVE
    min_trades: int = 0
    walk_forward: WalkForward | None = None
    cash: Decimal = Decimal("10000")
    commission: Decimal = Decimal("0")
    chunk_size: int | None = None

    def __post_init__(self) -> None:
        if not self.strategy:
            raise ValidationFailed("strategy", "required")
        if self.min_trades < 0:
            raise ValidationFailed("min_trades", "non-negative")
        if not self.cash.is_finite() or self.cash <= 0:
            raise ValidationFailed("cash", "positive")
        if not self.commission.is_finite() or not 0 <= self.commission < MAX_COMMISSION:
            raise ValidationFailed("commission", "in-[0,0.1)", "commission is a fraction below 0.1")
        if self.search is SearchKind.GRID and self.n_trials is not None:
            raise ValidationFailed("n_trials", "not-with-grid")
        if self.search is not SearchKind.GRID and (self.n_trials or 0) < 1:
            raise ValidationFailed("n_trials", "required-positive")
        if self.search is SearchKind.BAYESIAN and self.walk_forward is not None:
            raise ValidationFailed("walk_forward", "not-with-bayesian")
        if self.chunk_size is not None and self.chunk_size < 1:
            raise ValidationFailed("chunk_size", "positive")
        for name, values in self.params.items():
            if not values:
                raise ValidationFailed(f"params.{name}", "empty")

    def as_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "data": self.data.as_dict(),
            "search": self.search.value,
            "params": {k: list(v) for k, v in self.params.items()},
            "n_trials": self.n_trials,
            "seed": self.seed,
            "objective": self.objective,
            "min_trades": self.min_trades,
            "walk_forward": None
            if self.walk_forward is None
            else {
                "train": self.walk_forward.train,
                "test": self.walk_forward.test,
                "mode": self.walk_forward.mode,
            },
            "cash": str(self.cash),
            "commission": str(self.commission),
            "chunk_size": self.chunk_size,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> OptimizationRequest:
        """Parse the stored (or CLI/JSON) form; a bad value names its field."""
        wf = raw.get("walk_forward")
        try:
            search = SearchKind(raw.get("search", "grid"))
        except ValueError as exc:
            raise ValidationFailed("search", "unknown") from exc
        return cls(
            strategy=str(raw.get("strategy") or ""),
            data=DataSource(**_known("data", raw.get("data") or {"kind": ""}, DataSource)),
            search=search,
            params={
                str(k): _numbers(f"params.{k}", v) for k, v in (raw.get("params") or {}).items()
            },
            n_trials=raw.get("n_trials"),
            seed=int(raw.get("seed") or 0),
            objective=str(raw.get("objective") or DEFAULT_OBJECTIVE),
            min_trades=int(raw.get("min_trades") or 0),
            walk_forward=None
            if wf is None
            else WalkForward(**_known("walk_forward", wf, WalkForward)),
            cash=_decimal("cash", raw.get("cash", "10000")),
            commission=_decimal("commission", raw.get("commission", "0")),
            chunk_size=raw.get("chunk_size"),
        )


def _known(name: str, raw: Any, cls: type) -> dict[str, Any]:
    """``raw`` as keyword arguments of ``cls``; an unknown key names itself."""
    if not isinstance(raw, Mapping):
        raise ValidationFailed(name, "object")
    allowed = set(cls.__dataclass_fields__)  # type: ignore[attr-defined]
    for key in raw:
        if key not in allowed:
            raise ValidationFailed(f"{name}.{key}", "unknown")
    return dict(raw)


def _numbers(name: str, values: Any) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in values)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(name, "numbers", f"{name} must be a list of numbers") from exc


def _decimal(name: str, value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ValidationFailed(name, "decimal") from exc


#: Kernel work per chunk, in bar-steps (backtests x bars): about half a second of one core
#: at the kernel's ~60 M bar-steps/s. Chunks this big keep the per-chunk costs (a Ray task,
#: one transaction with its ``COPY``) a few percent of the compute; a chunk is also what a
#: resumed job re-runs at most, per CPU.
CHUNK_BAR_STEPS = 30_000_000


def default_chunk_size(
    points: int,
    cpus: int,
    *,
    n_bars: int | None = None,
    per_cpu: int = 1,
    lo: int = 20,
    hi: int = 20_000,
) -> int:
    """Chunks of at most ``CHUNK_BAR_STEPS`` of work, and at least ``per_cpu`` per CPU so
    that every CPU is busy. Measured on 2 cores (the SMA grid of bench/optimize.py --ray,
    5,298 sets a job): 8 chunks per CPU ran at ~55% of the kernel's rate x cores, 2 per CPU
    ~66%, 1 per CPU ~70% (+-5% run to run). Never tiny, never beyond ``hi`` trials."""
    size = math.ceil(points / (max(1, cpus) * per_cpu))
    if n_bars:
        size = min(size, max(1, CHUNK_BAR_STEPS // n_bars))
    return max(lo, min(hi, size))


def chunk_bounds(points: int, size: int) -> list[tuple[int, int]]:
    """``[start, stop)`` of each chunk of ``points`` items; chunk ``i`` is always the same."""
    if size < 1:
        raise ValidationFailed("chunk_size", "positive")
    return [(start, min(start + size, points)) for start in range(0, points, size)]


def chunk_counts(total: int, size: int) -> int:
    return math.ceil(total / size) if total else 0


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    rate_per_s: float | None
    eta_s: float | None

    @property
    def fraction(self) -> float:
        return 1.0 if self.total == 0 else self.done / self.total


def progress(done: int, total: int, done_this_run: int, elapsed_s: float) -> Progress:
    """Done/total trials, the rate of this run, and the time left at that rate."""
    rate = done_this_run / elapsed_s if elapsed_s > 0 and done_this_run > 0 else None
    eta = None if rate is None else max(0.0, (total - done) / rate)
    return Progress(done, total, rate, eta)


def check_values_in_space(spec: Any, values: Mapping[str, Sequence[float]]) -> None:
    """Each narrowed value must be a known parameter, inside its bounds, on its step
    (``ParamSpec.check`` names ``params.<name>``)."""
    by_name = {p.name: p for p in spec.params}
    for name, seq in values.items():
        p = by_name.get(name)
        if p is None:
            raise ValidationFailed(f"params.{name}", "unknown", f"{spec.name} has no {name}")
        for v in seq:
            p.check(v)
