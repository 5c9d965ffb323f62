"""Plans as data: defaults, configuration, refusals naming the limit and the lifting plan."""

from __future__ import annotations

import pytest

from domain.billing.plans import (
    DEFAULT_PLANS,
    FREE,
    LIMITS,
    PREMIUM,
    Entitlements,
    Quota,
    check,
    lifting_plan,
    plans_from_wire,
)
from domain.errors import ValidationFailed


def test_premium_lifts_every_free_limit() -> None:
    for limit in LIMITS:
        assert DEFAULT_PLANS[PREMIUM].limit(limit) > DEFAULT_PLANS[FREE].limit(limit)


def test_within_the_limit_is_allowed_and_over_it_names_limit_and_plan() -> None:
    free = DEFAULT_PLANS[FREE]
    assert check(DEFAULT_PLANS, FREE, "max_trials_per_job", free.max_trials_per_job) is None
    refusal = check(DEFAULT_PLANS, FREE, "max_trials_per_job", free.max_trials_per_job + 1)
    assert refusal is not None
    assert refusal.code == "plan-limit"
    assert refusal.problem_extra == {
        "limit": "max_trials_per_job",
        "allowed": free.max_trials_per_job,
        "requested": free.max_trials_per_job + 1,
        "plan": FREE,
        "lifted_by": PREMIUM,
    }


def test_nothing_lifts_a_request_over_every_plan() -> None:
    refusal = check(DEFAULT_PLANS, PREMIUM, "max_ws_symbols", 10**9)
    assert refusal is not None and refusal.lifted_by is None
    assert "allows it" not in refusal.message


def test_unknown_plan_is_treated_as_free() -> None:
    assert check(DEFAULT_PLANS, "gold", "max_strategies", DEFAULT_PLANS[FREE].max_strategies + 1)


def test_configured_plans_override_defaults_limit_by_limit() -> None:
    plans = plans_from_wire(
        {"free": {"max_concurrent_jobs": 1}, "pro": {"max_trials_per_job": 5000}}
    )
    assert plans[FREE].max_concurrent_jobs == 1
    assert plans[FREE].max_trials_per_job == DEFAULT_PLANS[FREE].max_trials_per_job
    assert plans["pro"].max_trials_per_job == 5000
    # the cheapest sufficient plan lifts it
    assert lifting_plan(plans, "max_trials_per_job", 2000) == "pro"
    assert lifting_plan(plans, "max_trials_per_job", 10_000) == PREMIUM


@pytest.mark.parametrize(
    "raw",
    [
        {"free": {"max_jobs": 1}},
        {"free": {"max_concurrent_jobs": -1}},
        {"free": {"max_strategies": True}},
    ],
)
def test_bad_plan_configuration_is_refused(raw: dict[str, dict[str, int]]) -> None:
    with pytest.raises(ValidationFailed):
        plans_from_wire(raw)


def test_unknown_limit_name_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        Entitlements(1, 1, 1, 1).limit("max_everything")


def test_a_quota_sent_as_plain_data_refuses_exactly_as_check_does() -> None:
    """The strategy engine checks ``max_strategies`` in another process: the quota that
    crosses must build the same problem (limit, allowed, plan and the plan that lifts it)."""
    plans = plans_from_wire({"pro": {"max_strategies": 5}, "premium": {"max_strategies": 9}})
    for plan in (FREE, "pro", PREMIUM, "gone"):
        quota = Quota.from_wire(Quota.of(plans, plan, "max_strategies").to_wire())
        for wanted in range(12):
            mine, theirs = quota.refusal(wanted), check(plans, plan, "max_strategies", wanted)
            assert (mine is None) == (theirs is None)
            if mine is not None and theirs is not None:
                assert (mine.problem_extra, str(mine)) == (theirs.problem_extra, str(theirs))
    refusal = Quota.of(plans, FREE, "max_strategies").refusal(6)
    assert refusal is not None and refusal.lifted_by == PREMIUM
