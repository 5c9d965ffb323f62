"""Pick the broker adapter named in settings, once, at start-up.

An unknown name or missing credentials is an ``OperatorError`` here, before any order is
routed, rather than a surprise on the first order. The paper broker lives in ``actors/``
(a Ray actor), which ``cluster`` must not import: the composition root passes a
``paper_factory`` callable instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cluster.brokers.alpaca import AlpacaBroker
from cluster.retry import Backoff
from domain.errors import OperatorError
from domain.ports import BrokerPort

BROKERS = ("paper", "alpaca")
_ALPACA_OPTIONS = frozenset({"http", "backoff", "timeout_s", "on_alert", "sleep", "rng"})


def make_broker(name: str, **deps: Any) -> BrokerPort:
    """Build the broker called ``name``.

    ``paper``: ``paper_factory`` (a zero-argument callable returning a ``BrokerPort``).
    ``alpaca``: ``base_url``, ``key_id``, ``secret_key`` (str or pydantic ``SecretStr``),
    or a ``settings`` object with ``alpaca_*`` fields; optional ``http``, ``backoff``,
    ``timeout_s``, ``on_alert``.
    """
    key = (name or "").strip().lower()
    if key == "paper":
        factory: Callable[[], BrokerPort] | None = deps.get("paper_factory")
        if factory is None:
            raise OperatorError("broker 'paper' needs a paper_factory from the composition root")
        return factory()
    if key == "alpaca":
        return _alpaca(deps)
    raise OperatorError(f"unknown broker {name!r}: choose one of {', '.join(BROKERS)}")


def _alpaca(deps: dict[str, Any]) -> AlpacaBroker:
    settings = deps.get("settings")
    base_url = deps.get("base_url") or getattr(settings, "alpaca_base_url", None)
    key_id = _secret(deps.get("key_id") or getattr(settings, "alpaca_key_id", None))
    secret_key = _secret(deps.get("secret_key") or getattr(settings, "alpaca_secret_key", None))
    missing = [
        n
        for n, v in (("base_url", base_url), ("key_id", key_id), ("secret_key", secret_key))
        if not v
    ]
    if missing:
        raise OperatorError(f"broker 'alpaca' is missing {', '.join(missing)}")
    options = {k: v for k, v in deps.items() if k in _ALPACA_OPTIONS}
    options.setdefault("backoff", Backoff())
    return AlpacaBroker(str(base_url), str(key_id), str(secret_key), **options)


def _secret(value: object) -> str | None:
    if value is None:
        return None
    reveal = getattr(value, "get_secret_value", None)
    return str(reveal() if callable(reveal) else value)
