"""Billing schemas: start a subscription, read mine, the webhook's acknowledgement."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from serve.schemas.base import PublicModel

SubscriptionStatus = Literal["pending", "active", "suspended", "cancelled", "expired"]


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plan: str = Field(
        min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_-]*$", examples=["premium"]
    )


class SubscriptionPublic(PublicModel):
    id: str
    plan: str
    status: SubscriptionStatus
    created_at: datetime
    updated_at: datetime
    last_payment_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> SubscriptionPublic:
        return cls(
            id=row.id,
            plan=row.plan,
            status=row.status.value,
            created_at=row.created_at,
            updated_at=row.updated_at,
            last_payment_at=row.last_payment_at,
        )


class SubscriptionStarted(PublicModel):
    subscription: SubscriptionPublic
    approval_url: str = Field(description="Where the buyer approves the subscription at PayPal")


class EntitlementsPublic(PublicModel):
    max_concurrent_jobs: int
    max_trials_per_job: int
    max_strategies: int
    max_ws_symbols: int


class MyPlanPublic(PublicModel):
    plan: str
    entitlements: EntitlementsPublic
    subscription: SubscriptionPublic | None

    @classmethod
    def of(cls, mine: Any) -> MyPlanPublic:
        sub = mine.subscription
        return cls(
            plan=mine.plan,
            entitlements=EntitlementsPublic(**mine.entitlements.as_dict()),
            subscription=None if sub is None else SubscriptionPublic.of(sub),
        )


class WebhookAck(PublicModel):
    outcome: Literal[
        "applied", "duplicate", "older", "illegal", "unconfirmed", "ignored", "unknown-subscription"
    ]
