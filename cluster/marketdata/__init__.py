"""Market-data provider adapters and the registry that builds one from a spec string.

Specs: ``"simulated"``, ``"replay:<path>"``, ``"alpaca"``. ``deps`` are passed to the
adapter's constructor (clock, on_error, credentials...). Adapters are imported lazily so
that a worker running the simulator never imports ``websockets`` or ``pyarrow``.
"""

from __future__ import annotations

from typing import Any

from cluster.marketdata.provider import (
    BaseProvider,
    ErrorHook,
    MarketDataProvider,
    ProviderState,
    Snapshot,
)
from domain.errors import OperatorError

__all__ = [
    "PROVIDER_SPECS",
    "BaseProvider",
    "ErrorHook",
    "MarketDataProvider",
    "ProviderState",
    "Snapshot",
    "make_provider",
]

PROVIDER_SPECS = ("simulated", "replay:<path>", "alpaca")


def make_provider(spec: str, **deps: Any) -> BaseProvider:
    """Build the adapter named by ``spec``; an unknown spec is a configuration error."""
    name, _, arg = spec.strip().partition(":")
    if name == "simulated" and not arg:
        from cluster.marketdata.simulated import SimulatedProvider

        return SimulatedProvider(**deps)
    if name == "replay" and arg:
        from cluster.marketdata.replay import ReplayProvider

        return ReplayProvider(arg, **deps)
    if name == "alpaca" and not arg:
        from cluster.marketdata.alpaca_stream import AlpacaStreamProvider

        return AlpacaStreamProvider(**deps)
    raise OperatorError(
        f"unknown market-data provider {spec!r}: expected one of {', '.join(PROVIDER_SPECS)}"
    )
