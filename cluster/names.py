"""Names of the platform's Ray actors and Serve apps, resolved through this one module."""

from __future__ import annotations

PAPER_BROKER = "elson.paper_broker"
RECONCILER = "elson.reconciler"
FEED_SUPERVISOR = "elson.feed_supervisor"
EVENT_RELAY = "elson.event_relay"
RISK_ENGINE = "elson.risk_engine"
ADAPTIVE_PARAMS = "elson.adaptive_params"


def dispatcher(broker: str) -> str:
    """The outbox dispatcher of one broker (one per broker: it sends in order)."""
    return f"elson.dispatcher.{broker}"


API_APP = "elson-api"
GATEWAY_APP = "elson-gateway"
API_ROUTE_PREFIX = "/"
GATEWAY_ROUTE_PREFIX = "/ws"


def feed_shard(index: int) -> str:
    return f"elson.feed_shard.{index}"


def get_actor(name: str, namespace: str) -> object | None:
    """The named actor, or None when it does not exist (yet)."""
    import ray

    try:
        return ray.get_actor(name, namespace=namespace)
    except ValueError:
        return None
