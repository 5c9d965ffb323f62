"""The published JSON Schemas match the models; inbound messages are parsed strictly."""

from __future__ import annotations

import json
from typing import get_args

import pytest
from pydantic import ValidationError

from serve.gateway_schemas import (
    CLIENT_MESSAGES,
    SCHEMA_DIR,
    SERVER_MESSAGES,
    SERVER_MODELS,
    CloseCode,
    FeedEventMessage,
    Subscribe,
    schema_document,
    schema_files,
    union_schemas,
)
from serve.schemas.events import TradeEventName


def test_schema_files_when_models_change_then_regenerate() -> None:
    for name, text in schema_files().items():
        path = SCHEMA_DIR / name
        assert path.exists() and path.read_text() == text, (
            f"{path} is stale: run `python -m serve.gateway_schemas`"
        )


def test_schema_files_when_a_model_is_removed_then_no_stale_file_remains() -> None:
    assert {p.name for p in SCHEMA_DIR.glob("*.json")} == set(schema_files())


def test_server_union_when_built_then_every_server_model_is_a_member() -> None:
    union = json.dumps(union_schemas())
    for model in SERVER_MODELS.values():
        assert f'"#/$defs/{model.__name__}"' in union, model.__name__


def test_server_union_when_event_parsed_then_data_is_typed() -> None:
    switch = {
        "type": "feed_switch",
        "shard": 0,
        "from": "alpaca",
        "to": "simulated",
        "reason": "stale",
        "degraded": True,
        "symbols": ["AAPL"],
        "at": "2026-12-07T14:30:00Z",
    }
    msg = SERVER_MESSAGES.validate_python(
        {
            "stream": "feed",
            "seq": 3,
            "type": "event",
            "event": "feed.switch",
            "ts_ms": 1,
            "data": switch,
        }
    )
    assert isinstance(msg, FeedEventMessage) and msg.data.from_ == "alpaca"
    with pytest.raises(ValidationError):  # an order event must carry a trade update
        SERVER_MESSAGES.validate_python(
            {
                "stream": "orders:a",
                "seq": 1,
                "type": "event",
                "event": "fill",
                "ts_ms": 1,
                "data": switch,
            }
        )


def test_trade_event_names_when_domain_adds_one_then_schema_lists_it() -> None:
    from domain.orders import _KIND_EVENT_NAMES, _STATUS_EVENT_NAMES

    names = set(_STATUS_EVENT_NAMES.values()) | set(_KIND_EVENT_NAMES.values())
    assert names == set(get_args(TradeEventName))


def test_schema_document_names_every_close_code() -> None:
    doc = schema_document()
    assert doc["close_codes"]["unauthorized"] == 4401
    assert set(doc["close_codes"].values()) == {int(c) for c in CloseCode}
    json.dumps(doc)


def test_subscribe_parses_channels_and_resume() -> None:
    msg = CLIENT_MESSAGES.validate_python(
        {
            "type": "subscribe",
            "channels": [
                {"channel": "market.quotes", "symbols": ["AAPL"]},
                {"channel": "orders", "account_id": "a"},
            ],
            "resume": {"orders:a": 41},
        }
    )
    assert isinstance(msg, Subscribe) and msg.resume == {"orders:a": 41}


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "subscribe", "channels": [{"channel": "orders"}]},
        {"type": "subscribe", "channels": [{"channel": "market.bars"}]},
        {"type": "subscribe", "channels": [{"channel": "feed", "account_id": "x"}]},
        {"type": "subscribe", "channels": [{"channel": "nope"}]},
        {"type": "subscribe", "channels": [{"channel": "feed"}], "resume": {"feed": -1}},
        {"type": "authenticate"},
        {"type": "authenticate", "token": "t", "extra": 1},
        {"type": "dance"},
    ],
)
def test_invalid_client_message_then_validation_error(bad: dict) -> None:
    with pytest.raises(ValidationError):
        CLIENT_MESSAGES.validate_python(bad)


def test_every_server_model_requires_stream_and_seq() -> None:
    for model in SERVER_MODELS.values():
        required = set(model.model_json_schema().get("required", []))
        assert {"stream", "seq", "type"} <= required, model.__name__
