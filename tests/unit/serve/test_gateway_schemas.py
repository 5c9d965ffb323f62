"""The published JSON Schemas match the models; inbound messages are parsed strictly."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from serve.gateway_schemas import (
    CLIENT_MESSAGES,
    SCHEMA_DIR,
    SERVER_MODELS,
    CloseCode,
    Subscribe,
    schema_document,
    schema_files,
)


def test_schema_files_when_models_change_then_regenerate() -> None:
    for name, text in schema_files().items():
        path = SCHEMA_DIR / name
        assert path.exists() and path.read_text() == text, (
            f"{path} is stale: run `python -m serve.gateway_schemas`"
        )


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
