"""Account, configuration and paper-funding schemas."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cluster.accounts.types import Account, AccountConfig
from serve.schemas.base import MoneyStr, PublicModel
from serve.schemas.profiles import ProfileIn, ProfilePublic

AccountType = Literal["individual", "joint", "ira", "custodial"]
Notional = Decimal


class AccountCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"type": "individual"},
                {
                    "type": "custodial",
                    "minor": {"legal_name": "Tom Minor", "date_of_birth": "2015-04-01"},
                },
            ]
        },
    )

    type: AccountType
    minor: ProfileIn | None = Field(default=None, description="required for custodial accounts")


class AccountPublic(PublicModel):
    id: str = Field(examples=["0b6a3c8e-52a1-4d0f-8c3e-6b1f2a9d7e40"])
    owner_user_id: str
    type: AccountType
    status: Literal["active", "restricted", "closed"]
    currency: str = Field(examples=["USD"])
    created_at: datetime
    minor: ProfilePublic | None = None

    @classmethod
    def of(cls, a: Account) -> AccountPublic:
        return cls(
            id=a.id,
            owner_user_id=a.owner_user_id,
            type=a.type,  # type: ignore[arg-type]
            status=a.status,  # type: ignore[arg-type]
            currency=a.currency,
            created_at=a.created_at,
            minor=ProfilePublic.of(a.minor) if a.minor else None,
        )


class AccountConfigPublic(PublicModel):
    account_id: str
    max_order_notional: MoneyStr = Field(examples=["25000.00"])
    max_position_notional: MoneyStr = Field(examples=["100000.00"])
    allow_extended_hours: bool
    ceiling_max_order_notional: MoneyStr = Field(examples=["100000.00"])
    ceiling_max_position_notional: MoneyStr = Field(examples=["1000000.00"])
    extended_hours_permitted: bool

    @classmethod
    def of(cls, c: AccountConfig) -> AccountConfigPublic:
        return cls(
            account_id=c.account_id,
            max_order_notional=c.max_order_notional,
            max_position_notional=c.max_position_notional,
            allow_extended_hours=c.allow_extended_hours,
            ceiling_max_order_notional=c.ceiling_max_order_notional,
            ceiling_max_position_notional=c.ceiling_max_position_notional,
            extended_hours_permitted=c.extended_hours_permitted,
        )


class AccountConfigUpdate(BaseModel):
    """Only the fields sent change; ``null`` resets a limit to the admin's ceiling."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"max_order_notional": "25000", "allow_extended_hours": True}]
        },
    )

    max_order_notional: Decimal | None = None
    max_position_notional: Decimal | None = None
    allow_extended_hours: bool | None = None


class AccountLimitsUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"ceiling_max_order_notional": "50000"}]},
    )

    ceiling_max_order_notional: Decimal | None = None
    ceiling_max_position_notional: Decimal | None = None
    extended_hours_permitted: bool | None = None


class FundRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"amount": "10000.00"}]}
    )

    amount: Decimal = Field(gt=0, le=Decimal("10000000"), decimal_places=2)


class ResetRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"starting_cash": "100000.00"}]}
    )

    starting_cash: Decimal = Field(
        default=Decimal("100000.00"), ge=0, le=Decimal("10000000"), decimal_places=2
    )


class PaperResult(PublicModel):
    account_id: str
    action: Literal["fund", "reset"]
    amount: MoneyStr = Field(examples=["10000.00"])
    cash: MoneyStr | None = Field(default=None, description="cash balance afterwards")
