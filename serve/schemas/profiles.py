"""Profile schemas. PII goes in, a masked tax id comes out."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from cluster.accounts.types import Address, Profile, ProfileInput
from domain.validation import mask_tax_id
from serve.schemas.base import PublicModel


class AddressIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line1: str = Field(min_length=1, max_length=200, examples=["1 Main St"])
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=100, examples=["Springfield"])
    region: str = Field(min_length=2, max_length=2, examples=["IL"])
    postal_code: str = Field(min_length=5, max_length=10, examples=["62701"])
    country: str = Field(default="US", min_length=2, max_length=2)

    def to_domain(self) -> Address:
        return Address(
            line1=self.line1,
            line2=self.line2,
            city=self.city,
            region=self.region,
            postal_code=self.postal_code,
            country=self.country,
        )


class ProfileIn(BaseModel):
    """Create or replace a profile. Formats are checked by ``domain.validation``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "legal_name": "Ada Lovelace",
                    "date_of_birth": "1990-12-10",
                    "tax_id": "123-45-6789",
                    "phone": "+12125550100",
                    "address": {
                        "line1": "1 Main St",
                        "city": "Springfield",
                        "region": "IL",
                        "postal_code": "62701",
                    },
                }
            ]
        },
    )

    legal_name: str = Field(min_length=1, max_length=200)
    date_of_birth: date
    tax_id: str | None = Field(default=None, max_length=11)
    phone: str | None = Field(default=None, max_length=16)
    address: AddressIn | None = None

    def to_domain(self) -> ProfileInput:
        return ProfileInput(
            legal_name=self.legal_name,
            date_of_birth=self.date_of_birth,
            tax_id=self.tax_id,
            phone=self.phone,
            address=self.address.to_domain() if self.address else None,
        )


class AddressPublic(PublicModel):
    line1: str
    line2: str | None
    city: str
    region: str
    postal_code: str
    country: str


class ProfilePublic(PublicModel):
    """The owner's (or an admin's) view; the tax id is always masked."""

    legal_name: str = Field(examples=["Ada Lovelace"])
    date_of_birth: date = Field(examples=["1990-12-10"])
    tax_id_masked: str | None = Field(examples=["***-**-6789"])
    phone: str | None = Field(examples=["+12125550100"])
    address: AddressPublic | None
    updated_at: datetime

    @classmethod
    def of(cls, p: Profile) -> ProfilePublic:
        a = p.address
        return cls(
            legal_name=p.legal_name,
            date_of_birth=p.date_of_birth,
            tax_id_masked=mask_tax_id(p.tax_id) if p.tax_id else None,
            phone=p.phone,
            address=AddressPublic(
                line1=a.line1,
                line2=a.line2,
                city=a.city,
                region=a.region,
                postal_code=a.postal_code,
                country=a.country,
            )
            if a
            else None,
            updated_at=p.updated_at,
        )
