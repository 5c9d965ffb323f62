"""Auth schemas: registration, login, token pairs, users and sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cluster.auth.service import SessionInfo, TokenPair, User
from serve.schemas.accounts import AccountPublic
from serve.schemas.base import PublicModel
from serve.schemas.profiles import ProfileIn

AccountType = Literal["individual", "joint", "ira", "custodial"]


class RegisterRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "email": "ada@example.com",
                    "password": "correct horse battery staple",
                    "account_type": "individual",
                }
            ]
        },
    )

    email: str = Field(max_length=254)
    password: str = Field(max_length=256)
    account_type: AccountType = "individual"
    profile: ProfileIn | None = None
    minor: ProfileIn | None = Field(
        default=None, description="the minor's details; required for a custodial account"
    )


class LoginRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"email": "ada@example.com", "password": "correct horse battery staple"}]
        },
    )

    email: str = Field(max_length=254)
    password: str = Field(max_length=256)


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=1, max_length=512)


class TokenPairPublic(PublicModel):
    access_token: str = Field(examples=["eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9..."])
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(examples=[900], description="access token lifetime in seconds")
    access_expires_at: datetime
    refresh_token: str = Field(description="opaque; rotate it with POST /v1/auth/refresh")
    refresh_expires_at: datetime
    session_id: str

    @classmethod
    def of(cls, p: TokenPair) -> TokenPairPublic:
        return cls(
            access_token=p.access_token,
            expires_in=p.expires_in,
            access_expires_at=p.access_expires_at,
            refresh_token=p.refresh_token,
            refresh_expires_at=p.refresh_expires_at,
            session_id=p.session_id,
        )


class UserPublic(PublicModel):
    id: str = Field(examples=["7d4c2a1e-0b7f-4c51-9a58-2f0d2c8b9e11"])
    email: str = Field(examples=["ada@example.com"])
    role: Literal["user", "quant", "admin"]
    created_at: datetime

    @classmethod
    def of(cls, u: User) -> UserPublic:
        return cls(id=u.id, email=u.email, role=u.role, created_at=u.created_at)  # type: ignore[arg-type]


class RegisterResponse(PublicModel):
    user: UserPublic
    account: AccountPublic


class SessionPublic(PublicModel):
    id: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    user_agent: str | None
    current: bool = Field(description="the session of the token making this request")

    @classmethod
    def of(cls, s: SessionInfo, current_id: str) -> SessionPublic:
        return cls(
            id=s.id,
            created_at=s.created_at,
            last_seen_at=s.last_seen_at,
            expires_at=s.expires_at,
            revoked_at=s.revoked_at,
            user_agent=s.user_agent,
            current=s.id == current_id,
        )
