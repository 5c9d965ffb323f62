"""Plans and their entitlements, as data.

A plan is a name and four limits. Which plan a user has comes from their subscription
(``subscriptions.plan_of``); what a plan allows comes from configuration
(``plans_from_wire``), defaulting to ``DEFAULT_PLANS``. A refusal names the limit and the
cheapest configured plan that lifts it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from domain.errors import DomainError, ValidationFailed

FREE = "free"
PREMIUM = "premium"

#: the limits, in the order the plans are shown
LIMITS = ("max_concurrent_jobs", "max_trials_per_job", "max_strategies", "max_ws_symbols")


@dataclass(frozen=True)
class Entitlements:
    max_concurrent_jobs: int
    max_trials_per_job: int
    max_strategies: int
    max_ws_symbols: int

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValidationFailed(f"plans.{f.name}", "non-negative-int")

    def limit(self, name: str) -> int:
        if name not in LIMITS:
            raise ValidationFailed("limit", "unknown-limit", f"no entitlement {name!r}")
        return int(getattr(self, name))

    def as_dict(self) -> dict[str, int]:
        return {name: self.limit(name) for name in LIMITS}


#: Free limits are generous enough for ordinary use (and the existing tests); premium
#: lifts every one of them.
DEFAULT_PLANS: dict[str, Entitlements] = {
    FREE: Entitlements(
        max_concurrent_jobs=3, max_trials_per_job=1_000, max_strategies=2, max_ws_symbols=50
    ),
    PREMIUM: Entitlements(
        max_concurrent_jobs=10, max_trials_per_job=1_000_000, max_strategies=50, max_ws_symbols=500
    ),
}


def plans_from_wire(raw: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Entitlements]:
    """Plans from configuration (``{"free": {...}, "premium": {...}}``); a plan or limit
    left out keeps its default. ``free`` must exist: it is what everyone else has."""
    plans = dict(DEFAULT_PLANS)
    for name, limits in (raw or {}).items():
        base = plans.get(name, DEFAULT_PLANS[FREE]).as_dict()
        unknown = set(limits) - set(LIMITS)
        if unknown:
            raise ValidationFailed(f"plans.{name}", "unknown-limit", f"unknown {sorted(unknown)}")
        plans[name] = Entitlements(**{**base, **dict(limits)})
    return plans


class PlanLimit(DomainError):
    """The caller's plan does not allow this; ``plan`` names one that does (or None)."""

    code = "plan-limit"

    def __init__(self, limit: str, allowed: int, wanted: int, current: str, lifts: str | None):
        hint = f"; the {lifts} plan allows it" if lifts else ""
        super().__init__(f"{limit} is {allowed} on the {current} plan, {wanted} asked{hint}")
        self.limit, self.allowed, self.wanted = limit, allowed, wanted
        self.plan, self.lifted_by = current, lifts

    @property
    def problem_extra(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "allowed": self.allowed,
            "requested": self.wanted,
            "plan": self.plan,
            "lifted_by": self.lifted_by,
        }


def lifting_plan(plans: Mapping[str, Entitlements], limit: str, wanted: int) -> str | None:
    """The plan with the smallest sufficient value of ``limit`` (ties: by name)."""
    return _cheapest({name: e.limit(limit) for name, e in plans.items()}, wanted)


def _cheapest(values: Mapping[str, int], wanted: int) -> str | None:
    fits = [(value, name) for name, value in values.items() if value >= wanted]
    return min(fits)[1] if fits else None


@dataclass(frozen=True)
class Quota:
    """One limit of one user's plan, as plain data.

    A limit that counts rows (live jobs, trading strategy instances) must be checked
    where the rows are counted, inside the transaction that adds one, and that may be in
    another process (the strategy engine's actor). The quota carries what the refusal
    needs: the user's plan and every plan's value of the limit, so ``refusal`` builds the
    very ``PlanLimit`` that ``check`` builds (``check`` is written with it).
    """

    limit: str
    plan: str
    allowed: int
    #: every configured plan's value of this limit (to name the plan that lifts it)
    ladder: tuple[tuple[str, int], ...]

    @classmethod
    def of(cls, plans: Mapping[str, Entitlements], plan: str, limit: str) -> Quota:
        allowed = plans.get(plan, plans[FREE]).limit(limit)
        ladder = tuple(sorted((name, e.limit(limit)) for name, e in plans.items()))
        return cls(limit, plan, allowed, ladder)

    def refusal(self, wanted: int) -> PlanLimit | None:
        """``wanted`` is the amount after the action; None when the plan allows it."""
        if wanted <= self.allowed:
            return None
        lifts = _cheapest(dict(self.ladder), wanted)
        return PlanLimit(self.limit, self.allowed, wanted, self.plan, lifts)

    def to_wire(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "plan": self.plan,
            "allowed": self.allowed,
            "ladder": dict(self.ladder),
        }

    @classmethod
    def from_wire(cls, raw: Mapping[str, Any]) -> Quota:
        ladder = tuple(sorted((str(k), int(v)) for k, v in dict(raw["ladder"]).items()))
        return cls(str(raw["limit"]), str(raw["plan"]), int(raw["allowed"]), ladder)


def check(
    plans: Mapping[str, Entitlements], plan: str, limit: str, wanted: int
) -> PlanLimit | None:
    """``wanted`` is the amount after the action (running jobs + 1, trials of the job,
    symbols after subscribing). Returns the refusal, or None when allowed."""
    return Quota.of(plans, plan, limit).refusal(wanted)
