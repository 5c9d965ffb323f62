"""A fake Vault provisioned as production expects it: an AppRole whose policy reads the
app's KV secret, and that secret holding the session database, Redis and strong keys.

``app_env`` sets the ``ELSON_`` variables a production pod would have (and clears any
secret variable of the test runner's own), so start-up is exercised as deployed.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import pytest

from cluster.secrets.source import ENV_PREFIX, secret_field_names
from cluster.settings import Settings
from tests.kit.vault_server import VaultServer

APP_POLICY = {"secret/data/elson/app": ["read"], "transit/*": ["create", "update", "read"]}


@dataclass(frozen=True)
class AppVault:
    server: VaultServer
    role_id: str
    secret_id: str
    values: dict[str, str]


def strong() -> str:
    return secrets.token_urlsafe(36)


def provision(server: VaultServer, values: dict[str, str], *, token_ttl: int = 3600) -> AppVault:
    server.put_policy("elson-app", APP_POLICY)
    role_id, secret_id = server.add_approle("elson-app", ["elson-app"], token_ttl=token_ttl)
    server.kv_put("elson/app", values)
    return AppVault(server, role_id, secret_id, values)


@pytest.fixture
def app_secrets(settings: Settings) -> dict[str, str]:
    assert settings.database_url is not None and settings.redis_url is not None
    return {
        "database_url": settings.database_url.get_secret_value(),
        "redis_url": settings.redis_url.get_secret_value(),
        "jwt_secret": strong(),
        "pii_key": strong(),
        "pii_index_key": strong(),
    }


@pytest.fixture
def app_vault(vault: VaultServer, app_secrets: dict[str, str]) -> AppVault:
    return provision(vault, app_secrets)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No ``ELSON_<secret>`` or ``ELSON_VAULT_*`` variable of the runner leaks in."""
    import os

    for name in [*secret_field_names(Settings), "env"]:
        for suffix in ("", "_FILE"):
            monkeypatch.delenv(f"{ENV_PREFIX}{name.upper()}{suffix}", raising=False)
    for var in [v for v in os.environ if v.startswith(f"{ENV_PREFIX}VAULT_")]:
        monkeypatch.delenv(var)
    return monkeypatch


def set_app_env(monkeypatch: pytest.MonkeyPatch, app: AppVault, **extra: str) -> None:
    env = {
        "ENV": "production",
        "VAULT_ADDR": app.server.url,
        "VAULT_AUTH": "approle",
        "VAULT_ROLE_ID": app.role_id,
        "VAULT_SECRET_ID": app.secret_id,
        "VAULT_CA_CERT": str(app.server.tls.ca_cert) if app.server.tls else "",
        **extra,
    }
    for key, value in env.items():
        monkeypatch.setenv(f"{ENV_PREFIX}{key}", value)


def overrides(settings: Settings) -> dict[str, object]:
    """Non-secret settings a test pins (its own Redis prefix and data folder)."""
    return {"redis_key_prefix": settings.redis_key_prefix, "data_dir": settings.data_dir}
