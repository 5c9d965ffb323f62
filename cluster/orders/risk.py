"""Moved to ``domain.risk.checks`` (returning a ``Denial``); this alias goes with its callers."""

from domain.risk.checks import *  # noqa: F403
from domain.risk.checks import __all__ as __all__
