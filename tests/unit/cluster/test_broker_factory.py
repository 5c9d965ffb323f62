from __future__ import annotations

from types import SimpleNamespace

import pytest
from pydantic import SecretStr

from cluster.brokers.alpaca import AlpacaBroker
from cluster.brokers.factory import make_broker
from domain.errors import OperatorError


async def test_make_broker_when_alpaca_with_explicit_credentials_then_adapter() -> None:
    broker = make_broker("alpaca", base_url="http://127.0.0.1:1/", key_id="k", secret_key="s")
    assert isinstance(broker, AlpacaBroker)
    assert broker.base_url == "http://127.0.0.1:1"
    await broker.aclose()


async def test_make_broker_when_alpaca_from_settings_then_secrets_revealed_once() -> None:
    settings = SimpleNamespace(
        alpaca_base_url="https://paper-api.alpaca.markets",
        alpaca_key_id=SecretStr("key"),
        alpaca_secret_key=SecretStr("secret"),
    )
    broker = make_broker(" Alpaca ", settings=settings, timeout_s=3.0)
    assert isinstance(broker, AlpacaBroker)
    await broker.aclose()


def test_make_broker_when_alpaca_credentials_missing_then_operator_error() -> None:
    with pytest.raises(OperatorError, match="key_id, secret_key"):
        make_broker("alpaca", base_url="https://paper-api.alpaca.markets")


def test_make_broker_when_paper_then_uses_injected_factory() -> None:
    sentinel = object()
    assert make_broker("paper", paper_factory=lambda: sentinel) is sentinel


def test_make_broker_when_paper_without_factory_then_operator_error() -> None:
    with pytest.raises(OperatorError, match="paper_factory"):
        make_broker("paper")


def test_make_broker_when_unknown_name_then_operator_error_listing_choices() -> None:
    with pytest.raises(OperatorError, match=r"unknown broker 'ibkr'.*paper, alpaca"):
        make_broker("ibkr")
