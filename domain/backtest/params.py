"""Parameter spaces as data: bounds, steps, constraints; grids, validation, random points.

A strategy's space is shown by the API and the CLI and checked before any task runs, so a
parameter outside its bounds or off its step lattice is refused with a problem naming
``params.<name>``. Constraints are tiny comparisons between two parameters or a parameter and
a number (``"n1 < n2"``), kept as text so that they can be shown as they are.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from numbers import Real

import numpy as np

from domain.errors import ValidationFailed

__all__ = ["MAX_GRID_ENUMERATION", "ParamSpec", "StrategySpec", "random_points"]

MAX_GRID_ENUMERATION = 50_000_000
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_TOL = 1e-9

Params = dict[str, float | int]


@dataclass(frozen=True)
class ParamSpec:
    name: str
    low: float
    high: float
    step: float
    integer: bool = True

    def __post_init__(self) -> None:
        if not (self.step > 0 and self.low <= self.high):
            raise ValueError(f"bad parameter space for {self.name}")

    @property
    def count(self) -> int:
        return math.floor((self.high - self.low) / self.step + _TOL) + 1

    def value(self, k: int) -> float | int:
        v = self.low + k * self.step
        return round(v) if self.integer else round(v, 10)

    def values(self) -> list[float | int]:
        return [self.value(k) for k in range(self.count)]

    def check(self, raw: object) -> float | int:
        """``raw`` as this parameter's value, or ValidationFailed naming ``params.<name>``."""
        field = f"params.{self.name}"
        if isinstance(raw, bool) or not isinstance(raw, Real):
            raise ValidationFailed(field, "not-a-number")
        v = float(raw)
        if not math.isfinite(v):
            raise ValidationFailed(field, "not-finite")
        if v < self.low - _TOL or v > self.high + _TOL:
            raise ValidationFailed(
                field, "out-of-range", f"{field} must be in [{self.low}, {self.high}]"
            )
        k = (v - self.low) / self.step
        if abs(k - round(k)) > 1e-6:
            raise ValidationFailed(
                field, "off-step", f"{field} must be {self.low} + k * {self.step}"
            )
        return self.value(round(k))


def _parse(constraint: str) -> tuple[str, Callable[[float, float], bool], str]:
    left, op, right = constraint.split()
    return left, _OPS[op], right


@dataclass(frozen=True)
class StrategySpec:
    name: str
    description: str
    params: tuple[ParamSpec, ...]
    constraints: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        names = {p.name for p in self.params}
        for c in self.constraints:
            left, _, right = _parse(c)
            if left not in names or not (right in names or _is_number(right)):
                raise ValueError(f"bad constraint {c!r} for {self.name}")

    @cached_property
    def _checks(self) -> tuple[tuple[str, str, Callable[[float, float], bool], str, float], ...]:
        """The constraints parsed once: (text, left, op, right name or "", right number)."""
        out = []
        for c in self.constraints:
            left, op, right = _parse(c)
            number = _is_number(right)
            out.append((c, left, op, "" if number else right, float(right) if number else 0.0))
        return tuple(out)

    def _satisfies(self, params: Mapping[str, float | int]) -> str | None:
        """The first constraint ``params`` break, or None (called once per grid point and
        per validated parameter set: the constraints are parsed once, in ``_checks``)."""
        for c, left, op, right, number in self._checks:
            if not op(params[left], params[right] if right else number):
                return c
        return None

    def validate(self, params: Mapping[str, object]) -> Params:
        """Checked and normalised parameters (ints for integer parameters)."""
        names = [p.name for p in self.params]
        for key in params:
            if key not in names:
                raise ValidationFailed(f"params.{key}", "unknown")
        out: Params = {}
        for p in self.params:
            if p.name not in params:
                raise ValidationFailed(f"params.{p.name}", "missing")
            out[p.name] = p.check(params[p.name])
        broken = self._satisfies(out)
        if broken is not None:
            raise ValidationFailed(f"params.{_parse(broken)[0]}", "constraint", f"needs {broken}")
        return out

    def _axes(self, overrides: Mapping[str, Sequence[float]] | None) -> list[list[float | int]]:
        overrides = overrides or {}
        names = {p.name for p in self.params}
        for key in overrides:
            if key not in names:
                raise ValidationFailed(f"params.{key}", "unknown")
        axes = []
        for p in self.params:
            if p.name in overrides:
                values = list(dict.fromkeys(p.check(v) for v in overrides[p.name]))
                if not values:
                    raise ValidationFailed(f"params.{p.name}", "empty")
                axes.append(values)
            else:
                axes.append(p.values())
        return axes

    def grid(self, overrides: Mapping[str, Sequence[float]] | None = None) -> list[Params]:
        """Every combination of the axes (overrides replace a parameter's full range)."""
        axes = self._axes(overrides)
        if math.prod(len(a) for a in axes) > MAX_GRID_ENUMERATION:
            raise ValidationFailed("params", "grid-too-large")
        names = [p.name for p in self.params]
        points = (dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes))
        return [pt for pt in points if self._satisfies(pt) is None]

    def grid_size(self, overrides: Mapping[str, Sequence[float]] | None = None) -> int:
        """Size of :meth:`grid`, counted with numpy (no dicts built)."""
        axes = self._axes(overrides)
        if math.prod(len(a) for a in axes) > MAX_GRID_ENUMERATION:
            raise ValidationFailed("params", "grid-too-large")
        names = [p.name for p in self.params]
        total = 0
        for head in axes[0]:
            rest = np.meshgrid(*[np.asarray(a, dtype=np.float64) for a in axes[1:]], indexing="ij")
            cols = {names[0]: np.float64(head)} | {
                n: r.ravel() for n, r in zip(names[1:], rest, strict=True)
            }
            ok = np.ones(max(1, math.prod(len(a) for a in axes[1:])), dtype=bool)
            for c in self.constraints:
                left, op, right = _parse(c)
                rhs = np.float64(right) if _is_number(right) else cols[right]
                ok &= op(cols[left], rhs)  # type: ignore[arg-type]
            total += int(ok.sum())
        return total

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "description": self.description,
            "params": [
                {"name": p.name, "low": p.low, "high": p.high, "step": p.step, "integer": p.integer}
                for p in self.params
            ],
            "constraints": list(self.constraints),
            "grid_size": self.grid_size(),
        }


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def random_points(spec: StrategySpec, n: int, seed: int) -> list[Params]:
    """Up to ``n`` distinct lattice points satisfying the constraints, reproducible by seed.

    Fewer than ``n`` come back only when the space holds fewer admissible points.
    """
    if n < 0:
        raise ValidationFailed("n", "negative")
    rng = np.random.default_rng(seed)
    counts = [p.count for p in spec.params]
    seen: set[tuple[int, ...]] = set()
    out: list[Params] = []
    attempts = 0
    while len(out) < n and attempts < 50 * n + 1000:
        batch = rng.integers(0, counts, size=(max(16, 2 * (n - len(out))), len(counts)))
        for row in batch:
            attempts += 1
            key = tuple(int(k) for k in row)
            if key in seen:
                continue
            seen.add(key)
            point = {p.name: p.value(k) for p, k in zip(spec.params, key, strict=True)}
            if spec._satisfies(point) is None:
                out.append(point)
                if len(out) == n:
                    break
    return out
