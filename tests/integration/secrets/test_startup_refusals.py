"""Start-up refuses what is wrong with the secrets in Vault or around them, naming it
(the variable or Vault key, never a value), and reads Kubernetes-auth secrets too."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster.secrets.startup import settings_from_sources
from cluster.settings import Settings, SettingsError
from tests.integration.secrets.conftest import AppVault, overrides, provision, set_app_env
from tests.kit.vault_server import VaultServer


def _refused(settings: Settings) -> str:
    with pytest.raises(SettingsError) as info:
        settings_from_sources(**overrides(settings))
    return str(info.value)


def test_secret_missing_from_vault_then_refused_naming_key_and_location(
    vault: VaultServer,
    app_secrets: dict[str, str],
    clean_env: pytest.MonkeyPatch,
    settings: Settings,
) -> None:
    app = provision(vault, {k: v for k, v in app_secrets.items() if k != "jwt_secret"})
    set_app_env(clean_env, app)

    message = _refused(settings)

    assert "ELSON_JWT_SECRET is missing" in message
    assert "vault secret/data/elson/app" in message and "keys found: database_url" in message
    assert app_secrets["pii_key"] not in message


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("jwt_secret", "changeme", "ELSON_JWT_SECRET is a default value"),
        ("paypal_client_secret", "password", "ELSON_PAYPAL_CLIENT_SECRET is a default value"),
        ("redis_url", "redis://:redis@127.0.0.1:6379/0", "ELSON_REDIS_URL has a default password"),
    ],
)
def test_known_default_in_vault_then_refused(
    vault: VaultServer,
    app_secrets: dict[str, str],
    clean_env: pytest.MonkeyPatch,
    settings: Settings,
    key: str,
    value: str,
    named: str,
) -> None:
    app = provision(vault, {**app_secrets, key: value})
    set_app_env(clean_env, app)

    assert named in _refused(settings)


def test_secret_only_in_the_environment_then_refused(
    app_vault: AppVault, clean_env: pytest.MonkeyPatch, settings: Settings
) -> None:
    set_app_env(clean_env, app_vault, METRICS_TOKEN="t" * 40)

    message = _refused(settings)

    assert "ELSON_METRICS_TOKEN set in the environment" in message
    assert "t" * 40 not in message


def test_approle_without_role_id_then_refused_before_any_request(
    app_vault: AppVault, clean_env: pytest.MonkeyPatch, settings: Settings
) -> None:
    set_app_env(clean_env, app_vault)
    clean_env.delenv("ELSON_VAULT_ROLE_ID")

    assert "ELSON_VAULT_ROLE_ID is missing (ELSON_VAULT_AUTH=approle)" in _refused(settings)
    assert app_vault.server.requests == []


def test_token_auth_in_production_then_refused(
    app_vault: AppVault, clean_env: pytest.MonkeyPatch, settings: Settings
) -> None:
    token = app_vault.server.create_token(["elson-app"])
    set_app_env(clean_env, app_vault, VAULT_AUTH="token", VAULT_TOKEN=token)

    assert "ELSON_VAULT_AUTH=token is for dev/test only" in _refused(settings)


def test_wrong_secret_id_then_refused_naming_the_login(
    app_vault: AppVault, clean_env: pytest.MonkeyPatch, settings: Settings
) -> None:
    set_app_env(clean_env, app_vault, VAULT_SECRET_ID="0" * 36)

    assert "vault approle login: refused" in _refused(settings)


def test_kubernetes_auth_startup_reads_secrets(
    app_vault: AppVault, clean_env: pytest.MonkeyPatch, settings: Settings, tmp_path: Path
) -> None:
    server = app_vault.server
    server.add_kubernetes_role(
        "elson", service_accounts=["elson-api"], namespaces=["elson"], policies=["elson-app"]
    )
    (tmp_path / "token").write_text(server.kubernetes_jwt("elson-api", "elson"))
    set_app_env(
        clean_env,
        app_vault,
        VAULT_AUTH="kubernetes",
        VAULT_K8S_ROLE="elson",
        VAULT_K8S_JWT_FILE=str(tmp_path / "token"),
    )
    clean_env.delenv("ELSON_VAULT_ROLE_ID")
    clean_env.delenv("ELSON_VAULT_SECRET_ID")

    s = settings_from_sources(**overrides(settings))

    assert s.jwt_secret is not None
    assert s.jwt_secret.get_secret_value() == app_vault.values["jwt_secret"]
    assert [r.status for r in server.seen("auth/kubernetes/login")] == [200]


def test_dev_without_vault_reads_environment_and_files(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "jwt").write_text("j" * 40 + "\n")
    clean_env.setenv("ELSON_JWT_SECRET_FILE", str(tmp_path / "jwt"))
    clean_env.setenv("ELSON_PAYPAL_CLIENT_ID", "sandbox-client")

    s = settings_from_sources(env="test")

    assert s.jwt_secret is not None and s.jwt_secret.get_secret_value() == "j" * 40
    assert s.paypal_client_id is not None
    assert s.paypal_client_id.get_secret_value() == "sandbox-client"
