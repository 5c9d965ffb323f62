"""Each error answers with its own problem type, not a generic conflict."""

from __future__ import annotations

from domain import errors
from domain.orders import Overfill
from domain.ports import BrokerRejected
from serve.problems import REGISTRY, slug_for


def test_broker_rejection_and_overfill_have_their_own_types() -> None:
    assert slug_for(BrokerRejected("insufficient buying power at the broker")) == "broker-rejected"
    assert slug_for(Overfill("fill past qty")) == "overfill"
    assert REGISTRY["broker-rejected"].status == 422 and REGISTRY["overfill"].status == 409


def test_a_code_the_registry_lacks_falls_back_to_its_class() -> None:
    class Odd(errors.Conflict):
        code = "odd-conflict"

    assert slug_for(Odd("x")) == "conflict"
    assert slug_for(errors.TransientError("db down")) == "dependency-unavailable"
