"""Protection settings: the API body's wire form round-trips, storing them is audited as
``limits``, and only accounts and strategies take them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from cluster.risk.engine import RiskEngine
from cluster.risk.protections import ProtectionSettings
from domain.errors import ValidationFailed
from domain.risk.protections import Cooldown, LossLimits, StopLossGuard
from domain.risk.states import Scope, TradingState
from serve.schemas.risk import ProtectionsPublic, ProtectionsUpdate

BODY = {
    "scope": "account:placeholder",
    "daily_loss": "500.00",
    "max_drawdown_pct": "12.5",
    "on_breach": "halted",
    "stop_loss_guard": {"trades": 3, "lookback_s": 3600, "lock_for_s": 1800},
    "cooldown_s": 600,
}


def test_wire_when_api_body_is_parsed_then_settings_round_trip_to_the_public_shape() -> None:
    body = ProtectionsUpdate.model_validate(BODY)
    settings = ProtectionSettings.from_wire(body.model_dump(exclude={"scope"}, mode="json"))

    assert settings == ProtectionSettings(
        LossLimits(Decimal("500.00"), Decimal("12.5"), TradingState.HALTED),
        StopLossGuard(3, timedelta(hours=1), timedelta(minutes=30)),
        Cooldown(timedelta(minutes=10)),
    )
    assert ProtectionSettings.from_wire(settings.to_wire()) == settings
    public = ProtectionsPublic(**settings.to_wire()).model_dump(mode="json")
    assert public["daily_loss"] == "500" and public["stop_loss_guard"]["trades"] == 3


def test_wire_when_all_rules_are_off_then_settings_are_empty() -> None:
    assert ProtectionSettings.from_wire({}) == ProtectionSettings()
    with pytest.raises(ValidationFailed):
        ProtectionSettings.from_wire({"stop_loss_guard": {"trades": 0, "lookback_s": 1}})


def test_set_protections_when_stored_then_audited_as_limits_and_read_back(
    engine: RiskEngine, account: str
) -> None:
    scope = Scope.account(account)
    settings = ProtectionSettings(LossLimits(daily_loss=Decimal("250")))
    done = engine.set_protections(scope, settings, by="user:admin")

    assert done["protections"]["daily_loss"] == "250"
    assert engine.protections()[scope] == settings
    [audit] = engine.audit(subject=str(scope))
    assert (audit["kind"], audit["to_state"], audit["by"]) == (
        "limits",
        "protections",
        "user:admin",
    )
    assert audit["id"] == done["version"]


def test_set_protections_when_scope_is_a_symbol_then_refused(engine: RiskEngine) -> None:
    with pytest.raises(ValidationFailed):
        engine.set_protections(Scope.symbol("AAPL"), ProtectionSettings(), by="user:admin")
