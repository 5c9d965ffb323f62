"""``njit`` when numba is installed, a no-op decorator otherwise.

The kernel is written in the subset of Python that numba compiles, so the same source runs
(slowly) as plain Python and numpy on a machine without numba. ``error_model="numpy"`` makes
a float division by zero give inf/NaN as numpy and backtesting.py do, not raise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

F = TypeVar("F", bound=Callable[..., Any])

try:
    from numba import njit as _numba_njit

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only where numba is missing
    HAVE_NUMBA = False


def njit(fn: F) -> F:
    """Compile ``fn`` with numba (cached on disk) when numba is available."""
    if not HAVE_NUMBA:
        return fn  # pragma: no cover
    compiled = _numba_njit(cache=True, error_model="numpy", nogil=True)(fn)
    return cast(F, compiled)


def njit_inline(fn: F) -> F:
    """Like :func:`njit`, inlined into its callers (no call, no array reference counting)."""
    if not HAVE_NUMBA:
        return fn  # pragma: no cover
    compiled = _numba_njit(cache=True, error_model="numpy", nogil=True, inline="always")(fn)
    return cast(F, compiled)
