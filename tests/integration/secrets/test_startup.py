"""Acceptance 1: start-up in production reads its secrets from Vault over TLS by AppRole,
keeps its token alive, logs in again after the token is revoked, and refuses a wrong CA
and ``http://``.

The token lives 2 s (renewed at 2/3 of its lease), so the request loop below spans several
whole leases: what 30 s would show with a 10-s token (renewals, then a revocation, then
steady service on the new login) without waiting 30 s.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from cluster.secrets.startup import settings_from_sources
from cluster.settings import Settings, SettingsError
from tests.integration.secrets.conftest import AppVault, overrides, provision, set_app_env
from tests.kit.api import serve_in_thread
from tests.kit.vault_server import VaultServer
from tests.kit.vault_tls import TlsFiles

TOKEN_TTL_S = 2


def _ok(server: VaultServer, path: str) -> int:
    return sum(1 for r in server.seen(path) if r.status in (200, 204))


def test_production_startup_reads_secrets_from_vault_over_tls_by_approle(
    app_vault: AppVault, clean_env: pytest.MonkeyPatch, settings: Settings
) -> None:
    set_app_env(clean_env, app_vault)

    s = settings_from_sources(**overrides(settings))

    assert s.env.value == "production"
    for name, value in app_vault.values.items():
        assert getattr(s, name).get_secret_value() == value, name
    assert _ok(app_vault.server, "auth/approle/login") == 1
    assert _ok(app_vault.server, "secret/data/elson/app") == 1
    # the start-up token is revoked once the secrets are read
    assert _ok(app_vault.server, "auth/token/revoke-self") == 1


# cluster/billing loads certifi's bundle in production, which warns under cryptography 51
@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
def test_running_api_renews_token_and_logs_in_again_after_revocation_without_5xx(
    vault: VaultServer,
    app_secrets: dict[str, str],
    clean_env: pytest.MonkeyPatch,
    settings: Settings,
) -> None:
    from serve.api import create_api
    from serve.services import build_services

    app = provision(vault, app_secrets, token_ttl=TOKEN_TTL_S)
    set_app_env(clean_env, app)
    s = settings_from_sources(**overrides(settings))
    services = build_services(s, in_ray=False, process_label="vault-startup-test")
    statuses: list[int] = []
    try:
        with serve_in_thread(create_api(services)) as url, httpx.Client(base_url=url) as http:

            def poll_until(done: Callable[[], bool], limit: int = 400) -> None:
                for _ in range(limit):
                    r = http.get("/readyz", timeout=10)
                    statuses.append(r.status_code)
                    assert r.json()["checks"]["vault"]["state"] == "up", r.text
                    if done():
                        return
                    time.sleep(0.05)  # pacing of the request loop
                raise AssertionError("condition not reached")

            # 1. the token is renewed before it expires (several times)
            poll_until(lambda: _ok(vault, "auth/token/renew-self") >= 2)
            logins_before = _ok(vault, "auth/approle/login")
            # 2. an operator revokes every app token
            vault.revoke_all()
            poll_until(lambda: _ok(vault, "auth/approle/login") > logins_before)
            # 3. service continues on the new login across further renewals
            renewed = _ok(vault, "auth/token/renew-self")
            poll_until(lambda: _ok(vault, "auth/token/renew-self") >= renewed + 2)
            # 4. /readyz reports Vault: sealed, the platform is not ready
            vault.seal()
            sealed = http.get("/readyz", timeout=10)
            vault.unseal()
    finally:
        services.close()
    assert statuses and all(code == 200 for code in statuses), sorted(set(statuses))
    assert services.secrets.renewals >= 2
    assert sealed.status_code == 503
    assert sealed.json()["checks"]["vault"]["state"] == "down"
    # the revocation was real: Vault refused the old token before the new login
    assert any(r.status == 403 for r in vault.requests)


def test_startup_with_wrong_ca_then_refused_naming_the_certificate(
    app_vault: AppVault, clean_env: pytest.MonkeyPatch, vault_tls: TlsFiles, settings: Settings
) -> None:
    set_app_env(clean_env, app_vault, VAULT_CA_CERT=str(vault_tls.other_ca_cert))

    with pytest.raises(SettingsError, match="does not verify against ELSON_VAULT_CA_CERT"):
        settings_from_sources(**overrides(settings))
    assert app_vault.server.requests == []  # the handshake failed: nothing was sent


def test_startup_with_http_vault_address_then_refused_before_any_request(
    app_secrets: dict[str, str], clean_env: pytest.MonkeyPatch, settings: Settings
) -> None:
    with VaultServer(None) as plain:  # the same Vault, answering plain HTTP
        app = provision(plain, app_secrets)
        set_app_env(clean_env, app)

        with pytest.raises(SettingsError, match="ELSON_VAULT_ADDR must use https://"):
            settings_from_sources(**overrides(settings))
        assert plain.requests == []


def test_startup_with_tls_verification_off_then_refused(
    app_vault: AppVault, clean_env: pytest.MonkeyPatch, settings: Settings
) -> None:
    set_app_env(clean_env, app_vault, VAULT_TLS_VERIFY="false")

    with pytest.raises(SettingsError, match="ELSON_VAULT_TLS_VERIFY=false is for dev/test only"):
        settings_from_sources(**overrides(settings))
    assert app_vault.server.requests == []
