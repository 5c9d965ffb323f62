"""The ``vault`` line of ``elson check`` against the fake Vault over TLS (tests/kit): a valid
AppRole login passes; a revoked secret id or a plain-http address fails naming ``vault``."""

from __future__ import annotations

from cluster.check.data import vault as vault_check
from cluster.check.result import run_bounded
from cluster.settings import Settings
from tests.integration.secrets.conftest import provision
from tests.kit.vault_server import VaultServer


def _settings(settings: Settings, server: VaultServer, role_id: str, secret_id: str) -> Settings:
    assert server.tls is not None
    return settings.with_overrides(
        vault_addr=server.url,
        vault_auth="approle",
        vault_role_id=role_id,
        vault_secret_id=secret_id,
        vault_ca_cert=str(server.tls.ca_cert),
    )


def test_vault_over_tls_with_valid_login_passes(settings: Settings, vault: VaultServer) -> None:
    app = provision(vault, {"jwt_secret": "x" * 40})
    s = _settings(settings, vault, app.role_id, app.secret_id)
    result = run_bounded("vault", lambda: vault_check(s, 5.0), 10.0)
    assert result.ok, result
    assert result.detail.startswith("TLS ok, approle login, token valid")


def test_vault_with_bad_secret_id_or_plain_http_fails_naming_vault(
    settings: Settings, vault: VaultServer
) -> None:
    app = provision(vault, {"jwt_secret": "x" * 40})
    bad = _settings(settings, vault, app.role_id, "not-the-secret-id")
    result = run_bounded("vault", lambda: vault_check(bad, 5.0), 10.0)
    assert (result.name, result.ok) == ("vault", False), result
    plain = bad.with_overrides(vault_addr=vault.url.replace("https://", "http://"))
    result = run_bounded("vault", lambda: vault_check(plain, 5.0), 10.0)
    assert not result.ok and "is not https" in result.detail, result
