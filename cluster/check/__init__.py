"""``elson check``: a readiness check that speaks the real protocols (issue 15)."""

from cluster.check.result import CheckResult
from cluster.check.runner import CHECK_NAMES, Target, run_all, target_for

__all__ = ["CHECK_NAMES", "CheckResult", "Target", "run_all", "target_for"]
