"""What staging/production refuse about secrets, as pure checks over the settings.

Called from ``Settings._refuse_unsafe``; each problem names the ``ELSON_`` variable (or the
Vault key, which has the field's name) to fix and never shows a value.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from cluster.secrets.source import ENV_PREFIX, secret_field_names

#: values that are somebody's default, never a real secret (lower case, stripped)
KNOWN_DEFAULTS = frozenset(
    {"", "changeme", "change-me", "secret", "dev", "development", "test", "password",
     "postgres", "redis", "root", "admin", "elson", "default", "example", "xxx"}
)  # fmt: skip
#: checked by Settings itself with a minimum length
_CHECKED_ELSEWHERE = frozenset({"jwt_secret"})


def vault_problems(settings: Any) -> list[str]:
    problems: list[str] = []
    if settings.vault_addr is None:
        problems.append(
            f"{ENV_PREFIX}VAULT_ADDR is missing: staging/production read their secrets from Vault"
        )
    if not settings.vault_tls_verify:
        problems.append(f"{ENV_PREFIX}VAULT_TLS_VERIFY=false is for dev/test only")
    token = settings.vault_token
    if token is not None and token.get_secret_value().strip().lower() in KNOWN_DEFAULTS:
        problems.append(f"{ENV_PREFIX}VAULT_TOKEN is a default value")
    return problems


def default_secret_problems(settings: Any) -> list[str]:
    """Every secret field (``SecretStr``) holding a known default; URLs by their password."""
    problems: list[str] = []
    for name in secret_field_names(type(settings)):
        value = getattr(settings, name)
        if name in _CHECKED_ELSEWHERE or not isinstance(value, SecretStr):
            continue
        text = value.get_secret_value()
        var = f"{ENV_PREFIX}{name.upper()}"
        if name.endswith("_url"):
            password = _password(text)
            if password is not None and password.strip().lower() in KNOWN_DEFAULTS:
                problems.append(f"{var} has a default password")
        elif text.strip().lower() in KNOWN_DEFAULTS:
            problems.append(f"{var} is a default value")
    return problems


def _password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None
