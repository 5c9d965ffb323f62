"""Access tokens (short-lived JWTs) and opaque refresh tokens.

Access JWTs are HS256, pinned on decode, and must carry ``exp iat iss aud jti sub``;
``sid`` (session id) and ``role`` come with them. ``exp``/``iat`` are checked against the
injected clock, not ``time.time()``, so a dev deployment on a shifted clock and tests on a
fake clock agree with the issuer. Any decoding failure becomes ``Unauthenticated``:
PyJWT's ``InvalidKeyError`` is not an ``InvalidTokenError`` (FIELD-NOTES), so both are
caught, or a forged header would turn into a 500.

Refresh tokens are random, never JWTs: the server keeps only their SHA-256, so a
database leak does not hand out sessions, and rotation/reuse detection needs server state
anyway.

Dev/test secret: when ``ELSON_JWT_SECRET`` is unset (refused in staging/production by the
settings class) a random secret is generated once and kept in ``<data_dir>/jwt-secret``
(mode 0600), so every replica and restart on that data folder agrees; if the folder is not
writable the secret lives in process memory only (tokens then die with the process).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt

from cluster.dev_secret import file_secret
from domain.errors import OperatorError, Unauthenticated

log = logging.getLogger(__name__)

ALGORITHM = "HS256"
ISSUER = "elson"
AUDIENCE = "elson-api"
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "jti", "sub"]
_SECRET_FILE = "jwt-secret"
_MEMORY_SECRET: dict[str, str] = {}


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller, taken from a verified access token."""

    user_id: str
    role: str
    session_id: str
    jti: str
    expires_at: datetime

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True, slots=True)
class AccessToken:
    token: str
    jti: str
    expires_at: datetime


def resolve_secret(configured: str | None, data_dir: Path, *, protected: bool) -> str:
    """The HS256 key: the configured one, or a per-data-dir random one in dev/test."""
    if configured:
        return configured
    if protected:
        raise OperatorError("ELSON_JWT_SECRET is required outside dev/test")
    try:
        return file_secret(data_dir / _SECRET_FILE)
    except OSError:
        log.warning("data dir not writable; using an in-memory dev JWT secret")
        return _MEMORY_SECRET.setdefault(str(data_dir), secrets.token_urlsafe(48))


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


class TokenCodec:
    """Issues and verifies access JWTs with one pinned algorithm and key."""

    def __init__(
        self,
        secret: str,
        *,
        ttl: timedelta = timedelta(minutes=15),
        issuer: str = ISSUER,
        audience: str = AUDIENCE,
        leeway: timedelta = timedelta(seconds=5),
    ) -> None:
        self._secret = secret
        self.ttl = ttl
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway

    def issue(self, *, user_id: str, role: str, session_id: str, now: datetime) -> AccessToken:
        jti = uuid.uuid4().hex
        expires = now + self.ttl
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": user_id,
            "sid": session_id,
            "role": role,
            "jti": jti,
            "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
        }
        token = jwt.encode(claims, self._secret, algorithm=ALGORITHM)
        return AccessToken(token=token, jti=jti, expires_at=expires.replace(microsecond=0))

    def decode(self, token: str, *, now: datetime) -> Principal:
        """Verify signature, algorithm, issuer, audience and lifetime; else ``Unauthenticated``."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                # exp/iat are checked below against the injected clock, not time.time().
                options={"require": REQUIRED_CLAIMS, "verify_exp": False, "verify_iat": False},
            )
        except (jwt.InvalidTokenError, jwt.InvalidKeyError) as exc:
            raise Unauthenticated("invalid access token") from exc
        except (ValueError, TypeError) as exc:  # malformed input PyJWT does not wrap
            raise Unauthenticated("invalid access token") from exc
        try:
            exp = datetime.fromtimestamp(int(claims["exp"]), UTC)
            iat = datetime.fromtimestamp(int(claims["iat"]), UTC)
            principal = Principal(
                user_id=str(uuid.UUID(str(claims["sub"]))),
                role=str(claims["role"]),
                session_id=str(uuid.UUID(str(claims["sid"]))),
                jti=str(claims["jti"]),
                expires_at=exp,
            )
        except (KeyError, ValueError, TypeError, OverflowError, OSError) as exc:
            raise Unauthenticated("invalid access token") from exc
        if now >= exp + self.leeway:
            raise Unauthenticated("access token expired")
        if iat > now + self.leeway:
            raise Unauthenticated("access token issued in the future")
        return principal
