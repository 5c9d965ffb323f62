"""Wire messages of the WebSocket gateway as pydantic models, and their JSON Schemas.

Inbound (client) messages are parsed with these models. Outbound messages are built as
plain dicts on the hot path (one ``json.dumps`` per event, shared by every socket), and the
models here are their published contract: ``GET /ws/schema`` serves ``schema_document()``
and ``python -m serve.gateway_schemas`` writes ``serve/schemas/ws/*.json`` (a unit test
keeps the files equal to the models).
"""

from __future__ import annotations

import json
import sys
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from serve.schemas.events import (
    JobEventName,
    JobProgress,
    RiskChange,
    RiskEventName,
    StrategyChange,
    StrategyEventName,
    TradeEventName,
    TradeUpdate,
)
from serve.schemas.marketdata import FeedSwitch, MarketData

PROTOCOL_VERSION = 1
CONTROL_STREAM = "control"
MARKET_CHANNELS = ("market.quotes", "market.trades", "market.bars")
ACCOUNT_CHANNELS = ("orders", "positions", "account", "risk")
#: market channel -> the feed event ``type`` it carries
MARKET_EVENT_TYPE = {"market.quotes": "quote", "market.trades": "trade", "market.bars": "bar"}
SCHEMA_DIR = Path(__file__).parent / "schemas" / "ws"


class CloseCode(IntEnum):
    """WebSocket close codes the gateway uses (documented in ``serve.gateway``)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    UNSUPPORTED_DATA = 1003  # a binary frame
    POLICY = 1008  # bad JSON, unknown type, invalid message
    TOO_BIG = 1009  # inbound message over ws_max_message_bytes
    INTERNAL = 1011
    SERVICE_RESTART = 1012  # the replica is draining (shutdown, upgrade): reconnect
    TRY_AGAIN = 1013  # overloaded, or a dependency (Redis, feed) is unavailable
    HEARTBEAT = 4000  # no pong in time
    UNAUTHORIZED = 4401  # bad/expired token, revoked session, not authenticated
    FORBIDDEN = 4403  # a channel the user may not read
    AUTH_TIMEOUT = 4408  # no authenticate message in time
    SLOW = 4429  # slow consumer, or too many subscriptions


Channel = Literal[
    "market.quotes",
    "market.trades",
    "market.bars",
    "orders",
    "positions",
    "account",
    "risk",
    "feed",
    "jobs",
]
_Strict = ConfigDict(extra="forbid")


class ChannelSpec(BaseModel):
    model_config = _Strict
    channel: Channel
    symbols: list[Annotated[str, Field(min_length=1, max_length=16)]] | None = Field(
        None, max_length=500
    )
    account_id: str | None = Field(None, max_length=64)

    @model_validator(mode="after")
    def _shape(self) -> ChannelSpec:
        market = self.channel in MARKET_CHANNELS
        if market and not self.symbols:
            raise ValueError(f"{self.channel} needs symbols")
        if not market and self.symbols is not None:
            raise ValueError(f"{self.channel} takes no symbols")
        account = self.channel in ACCOUNT_CHANNELS
        if account and not self.account_id:
            raise ValueError(f"{self.channel} needs account_id")
        if not account and self.account_id is not None:
            raise ValueError(f"{self.channel} takes no account_id")
        return self


# ---- client -> server ----
class Authenticate(BaseModel):
    """First message after connecting (and again before expiry to extend the session)."""

    model_config = _Strict
    type: Literal["authenticate"]
    token: str = Field(min_length=1, max_length=8192)
    batch: bool = Field(
        False,
        description="ask for batched frames: a frame then holds one message object or a "
        "JSON array of messages, in order (set at the first authenticate)",
    )


class Subscribe(BaseModel):
    """``resume`` maps a stream name to the last ``seq`` the client holds."""

    model_config = _Strict
    type: Literal["subscribe"]
    channels: list[ChannelSpec] = Field(min_length=1, max_length=100)
    resume: dict[str, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)


class Unsubscribe(BaseModel):
    model_config = _Strict
    type: Literal["unsubscribe"]
    channels: list[ChannelSpec] = Field(min_length=1, max_length=100)


class Pong(BaseModel):
    model_config = _Strict
    type: Literal["pong"]
    id: int


ClientMessage = Annotated[
    Authenticate | Subscribe | Unsubscribe | Pong, Field(discriminator="type")
]
CLIENT_MESSAGES: TypeAdapter[Any] = TypeAdapter(ClientMessage)


# ---- server -> client (every one carries ``stream`` and ``seq``) ----
class _Server(BaseModel):
    model_config = _Strict  # the published contract is closed: a generator sees every field
    stream: str
    seq: int


class Authenticated(_Server):
    type: Literal["authenticated"]
    protocol: int
    user_id: str
    session_id: str
    expires_at: str
    heartbeat_s: float
    max_message_bytes: int
    batch: bool = Field(False, description="frames may hold a JSON array of messages")


class SubscribedChannel(BaseModel):
    model_config = _Strict
    channel: Channel
    stream: str | None = None
    symbols: list[str] | None = None
    resumed_from: int | None = None
    seq: int | None = Field(
        None,
        description="event streams: every event after this seq follows; a client holding "
        "no seq of its own for the stream resumes from it after a disconnect",
    )


class Subscribed(_Server):
    type: Literal["subscribed"]
    channels: list[SubscribedChannel]


class Unsubscribed(_Server):
    type: Literal["unsubscribed"]
    channels: list[SubscribedChannel]


class _EventMessage(_Server):
    """An account/job/feed event from the EventBus; ``seq`` is gap-free per stream.

    One subclass per stream kind, told apart by ``event``, each with its typed ``data``.
    """

    type: Literal["event"]
    ts_ms: int


class OrderEventMessage(_EventMessage):
    """``orders:<account>``: a ``trade_updates`` event."""

    event: TradeEventName
    data: TradeUpdate


class FeedEventMessage(_EventMessage):
    """``feed``: symbols switched provider."""

    event: Literal["feed.switch"]
    data: FeedSwitch


class JobEventMessage(_EventMessage):
    """``jobs:<user>``: an optimization job's status or progress."""

    event: JobEventName
    data: JobProgress


class StrategyEventMessage(_EventMessage):
    """``jobs:<user>``: a strategy instance's change (versions, proposals, drift)."""

    event: StrategyEventName
    data: StrategyChange


class RiskEventMessage(_EventMessage):
    """``risk:<account>``: the risk engine's changes to the account's scope and its orders'
    denials (changes to other scopes are recorded on ``risk:global``)."""

    event: RiskEventName
    data: RiskChange


class MarketMessage(_Server):
    """A feed-shard event; ``stream`` is ``market:<SYMBOL>``, ``seq`` the shard's number."""

    type: Literal["market"]
    channel: Literal["market.quotes", "market.trades", "market.bars"]
    symbol: str
    epoch: int | str | None
    data: MarketData


class GapMessage(_Server):
    """``from_seq..to_seq`` of ``stream`` are no longer retained; ``seq`` equals ``to_seq``."""

    type: Literal["gap"]
    from_seq: int
    to_seq: int


class Warning_(_Server):
    type: Literal["warning"]
    code: Literal["slow-consumer"]
    detail: str


class ErrorMessage(_Server):
    """Sent just before a close; ``close_code`` says which."""

    type: Literal["error"]
    code: str
    detail: str
    close_code: int
    retry_after_s: float | None = Field(
        None,
        description="1012/1013: spread the reconnect uniformly over this many seconds",
    )


class Ping(_Server):
    type: Literal["ping"]
    id: int


class MarketStatus(_Server):
    """Sent right after ``subscribed`` when market channels are subscribed outside the
    regular session (stream ``control``): no ticks for ``symbols`` until ``next_open``."""

    type: Literal["market_status"]
    market: Literal["closed"]
    phase: Literal["pre_market", "after_hours", "closed"] = Field(
        description="extended-hours phases count as closed, as at Alpaca"
    )
    next_open: str = Field(
        json_schema_extra={"format": "date-time"},
        description="the next regular open, an RFC 3339 UTC instant",
    )
    symbols: list[str]


CLIENT_MODELS: dict[str, type[BaseModel]] = {
    "authenticate": Authenticate,
    "subscribe": Subscribe,
    "unsubscribe": Unsubscribe,
    "pong": Pong,
}
SERVER_MODELS: dict[str, type[BaseModel]] = {
    "authenticated": Authenticated,
    "subscribed": Subscribed,
    "unsubscribed": Unsubscribed,
    "event.orders": OrderEventMessage,
    "event.feed": FeedEventMessage,
    "event.jobs": JobEventMessage,
    "event.strategies": StrategyEventMessage,
    "event.risk": RiskEventMessage,
    "market": MarketMessage,
    "gap": GapMessage,
    "warning": Warning_,
    "error": ErrorMessage,
    "ping": Ping,
    "market_status": MarketStatus,
}


def _type_of(model: type[BaseModel]) -> str:
    (value,) = get_args(model.model_fields["type"].annotation)
    return str(value)


def _server_by_type() -> dict[str, Any]:
    """``type`` -> its model, or the union (discriminated by ``event``) of the models that
    share it: built from ``SERVER_MODELS``, so a message added there is published too."""
    by_type: dict[str, list[type[BaseModel]]] = {}
    for model in SERVER_MODELS.values():
        by_type.setdefault(_type_of(model), []).append(model)
    return {
        name: group[0]
        if len(group) == 1
        else Annotated[Union[tuple(group)], Field(discriminator="event")]  # noqa: UP007
        for name, group in by_type.items()
    }


def _server_union() -> Any:
    """Every server message, discriminated by ``type`` (``event`` messages by ``event``)."""
    members = tuple(_server_by_type().values())
    return Annotated[Union[members], Field(discriminator="type")]  # noqa: UP007


#: The two unions the OpenAPI document publishes as ``WsServerMessage``/``WsClientMessage``.
SERVER_MESSAGES: TypeAdapter[Any] = TypeAdapter(_server_union())
UNIONS: dict[str, tuple[TypeAdapter[Any], str]] = {
    "WsServerMessage": (SERVER_MESSAGES, "serialization"),
    "WsClientMessage": (CLIENT_MESSAGES, "validation"),
}


def union_schemas(ref_template: str = "#/$defs/{model}") -> dict[str, Any]:
    """``{name: schema}`` of both unions plus every model they use, referenced with
    ``ref_template`` (``#/components/schemas/{model}`` for the OpenAPI document)."""
    out: dict[str, Any] = {}
    for name, (adapter, mode) in UNIONS.items():
        schema = adapter.json_schema(mode=mode, ref_template=ref_template)  # type: ignore[arg-type]
        out.update(schema.pop("$defs", {}))
        out[name] = _name_nested(schema, ref_template, out)
    return out


def _name_nested(schema: dict[str, Any], ref_template: str, out: dict[str, Any]) -> Any:
    """OpenAPI wants a discriminator mapping of strings: a nested union (the ``event``
    messages) becomes its own component, ``WsEventMessage``, referenced from the mapping."""
    mapping = schema.get("discriminator", {}).get("mapping", {})
    for key, target in list(mapping.items()):
        if isinstance(target, dict):
            name = f"Ws{key.capitalize()}Message"
            out[name] = target
            ref = ref_template.format(model=name)
            mapping[key] = ref
            schema["oneOf"] = [{"$ref": ref} if s == target else s for s in schema["oneOf"]]
    return schema


def schema_document() -> dict[str, Any]:
    return {
        "protocol": PROTOCOL_VERSION,
        "client": {k: m.model_json_schema() for k, m in CLIENT_MODELS.items()},
        "server": {k: TypeAdapter(t).json_schema() for k, t in _server_by_type().items()},
        "close_codes": {c.name.lower(): int(c) for c in CloseCode},
    }


def schema_files() -> dict[str, str]:
    """File name -> JSON text of every message schema (what ``serve/schemas/ws`` holds)."""
    out: dict[str, str] = {}
    for side, models in (("client", CLIENT_MODELS), ("server", SERVER_MODELS)):
        for name, model in models.items():
            out[f"{side}.{name}.json"] = json.dumps(model.model_json_schema(), indent=2) + "\n"
    out["messages.json"] = json.dumps({"$defs": union_schemas()}, indent=2) + "\n"
    return out


def write_schema_files(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in schema_files().items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover
    for p in write_schema_files():
        sys.stdout.write(f"{p}\n")
