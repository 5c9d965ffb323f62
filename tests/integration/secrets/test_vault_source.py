"""``VaultSource`` against the fake Vault over TLS with the real hvac client.

Renewal decisions are driven by calling ``renew_or_login`` and moving the server's clock
(``advance``), never by sleeping; the background thread is covered by test_startup.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster.secrets.config import VaultAuth, VaultFields
from cluster.secrets.source import (
    SecretAccessDenied,
    SecretSourceError,
    SecretTlsError,
    SecretUnavailable,
)
from cluster.secrets.vault import VaultSource
from tests.integration.secrets.conftest import AppVault, provision, strong
from tests.kit.vault_server import VaultServer
from tests.kit.vault_tls import TlsFiles


def approle(app: AppVault, **changes: object) -> VaultFields:
    assert app.server.tls is not None
    values: dict[str, object] = {
        "vault_addr": app.server.url,
        "vault_auth": VaultAuth.APPROLE,
        "vault_role_id": app.role_id,
        "vault_secret_id": app.secret_id,
        "vault_ca_cert": app.server.tls.ca_cert,
        **changes,
    }
    return VaultFields.model_validate(values)


@pytest.fixture
def app(vault: VaultServer) -> AppVault:
    return provision(vault, {"jwt_secret": strong(), "redis_url": "redis://cache:6379/0"})


def logins(server: VaultServer, method: str = "approle") -> int:
    return sum(1 for r in server.seen(f"auth/{method}/login") if r.status == 200)


def test_approle_login_then_reads_only_the_named_secrets(app: AppVault) -> None:
    source = VaultSource(approle(app))

    found = source.read(["jwt_secret", "database_url"])

    assert found == {"jwt_secret": app.values["jwt_secret"]}
    assert logins(app.server) == 1


def test_secret_id_from_a_file_then_logs_in(app: AppVault, tmp_path: Path) -> None:
    (tmp_path / "secret-id").write_text(app.secret_id + "\n")
    source = VaultSource(
        approle(app, vault_secret_id=None, vault_secret_id_file=tmp_path / "secret-id")
    )

    assert "redis_url" in source.read(["redis_url"])


def test_wrong_secret_id_then_access_denied_without_the_value(app: AppVault) -> None:
    source = VaultSource(approle(app, vault_secret_id="not-the-secret-id"))

    with pytest.raises(SecretAccessDenied, match="approle login: refused") as info:
        source.login()
    assert "not-the-secret-id" not in str(info.value)


def test_kubernetes_login_with_service_account_token(app: AppVault, tmp_path: Path) -> None:
    server = app.server
    server.add_kubernetes_role(
        "elson", service_accounts=["elson-api"], namespaces=["elson"], policies=["elson-app"]
    )
    jwt_file = tmp_path / "token"
    jwt_file.write_text(server.kubernetes_jwt("elson-api", "elson"))
    cfg = approle(
        app, vault_auth=VaultAuth.KUBERNETES, vault_k8s_role="elson", vault_k8s_jwt_file=jwt_file
    )

    assert VaultSource(cfg).read(["jwt_secret"]) == {"jwt_secret": app.values["jwt_secret"]}

    jwt_file.write_text(server.kubernetes_jwt("intruder", "elson"))
    with pytest.raises(SecretAccessDenied):
        VaultSource(cfg).login()


def test_renewal_extends_the_same_token(app: AppVault) -> None:
    source = VaultSource(approle(app))
    source.login()
    app.server.advance(3000)  # of 3600 s

    source.renew_or_login()

    assert source.renewals == 1 and logins(app.server) == 1
    assert source.probe()["token_ttl_s"] > 3000


def test_renewal_of_a_revoked_token_then_logs_in_again(app: AppVault) -> None:
    source = VaultSource(approle(app))
    source.login()
    app.server.revoke_all()

    source.renew_or_login()

    assert logins(app.server) == 2
    assert source.probe()["logins"] == 2


def test_renewal_capped_by_max_ttl_then_logs_in_again(vault: VaultServer) -> None:
    vault.put_policy("elson-app", {"secret/data/elson/app": ["read"]})
    role_id, secret_id = vault.add_approle("capped", ["elson-app"], token_ttl=60, token_max_ttl=80)
    cfg = VaultFields.model_validate(
        {
            "vault_addr": vault.url,
            "vault_role_id": role_id,
            "vault_secret_id": secret_id,
            "vault_ca_cert": vault.ca_cert,
        }
    )
    source = VaultSource(cfg)
    source.login()

    vault.advance(40)
    source.renew_or_login()  # lease now ends at 80 s: 40 s left, still at least half of 60
    assert (source.renewals, logins(vault)) == (1, 1)
    vault.advance(30)
    source.renew_or_login()  # 10 s left and renewal cannot extend it: a new login
    assert (source.renewals, logins(vault)) == (2, 2)


def test_call_after_token_expired_then_logs_in_again_and_answers(app: AppVault) -> None:
    source = VaultSource(approle(app))
    source.login()
    app.server.advance(3601)  # the token expired while nothing renewed it

    assert source.read(["jwt_secret"]) == {"jwt_secret": app.values["jwt_secret"]}
    assert logins(app.server) == 2


def test_path_the_policy_does_not_grant_then_access_denied(app: AppVault) -> None:
    source = VaultSource(approle(app, vault_kv_path="elson/other"))

    with pytest.raises(SecretAccessDenied, match="permission denied"):
        source.read(["jwt_secret"])


def test_missing_kv_secret_then_error_names_it(app: AppVault) -> None:
    app.server.put_policy("elson-app", {"secret/data/*": ["read"]})
    source = VaultSource(approle(app, vault_kv_path="elson/absent"))

    with pytest.raises(SecretSourceError, match="secret/data/elson/absent does not exist"):
        source.read(["jwt_secret"])


def test_token_auth_revoked_then_access_denied_not_a_login(app: AppVault) -> None:
    token = app.server.create_token(["elson-app"], ttl=3600)
    source = VaultSource(approle(app, vault_auth=VaultAuth.TOKEN, vault_token=token))
    assert "jwt_secret" in source.read(["jwt_secret"])
    app.server.revoke(token)

    with pytest.raises(SecretAccessDenied):
        source.read(["jwt_secret"])
    with pytest.raises(SecretAccessDenied):
        source.renew_or_login()
    assert logins(app.server) == 0


def test_sealed_vault_then_unavailable(app: AppVault) -> None:
    source = VaultSource(approle(app))
    source.login()
    app.server.seal()

    with pytest.raises(SecretUnavailable, match=r"503|VaultDown"):
        source.probe()


def test_stopped_vault_then_unavailable(app: AppVault) -> None:
    source = VaultSource(approle(app, vault_timeout_s=2))
    source.login()
    app.server.stop()

    with pytest.raises(SecretUnavailable, match="unreachable"):
        source.probe()


def test_wrong_ca_then_tls_error_naming_the_setting(app: AppVault, vault_tls: TlsFiles) -> None:
    source = VaultSource(approle(app, vault_ca_cert=vault_tls.other_ca_cert))

    with pytest.raises(SecretTlsError, match="ELSON_VAULT_CA_CERT"):
        source.login()
    assert app.server.requests == []


def test_missing_ca_file_then_tls_error(app: AppVault, tmp_path: Path) -> None:
    with pytest.raises(SecretTlsError, match="does not exist"):
        VaultSource(approle(app, vault_ca_cert=tmp_path / "absent.pem"))


def test_close_revokes_the_token_it_logged_in_for(app: AppVault) -> None:
    source = VaultSource(approle(app))
    source.login()
    source.start_renewal()

    source.close()

    assert [r.status for r in app.server.seen("auth/token/revoke-self")] == [204]
    assert [t for t in app.server.auth.tokens if t != app.server.root_token] == []


def test_client_proxy_logs_in_again_after_revocation(app: AppVault) -> None:
    app.server.transit_key("elson-pii")
    source = VaultSource(approle(app))
    transit = source.client().secrets.transit
    ciphertext = transit.encrypt_data(name="elson-pii", plaintext="eA==")["data"]["ciphertext"]
    app.server.revoke_all()

    plain = transit.decrypt_data(name="elson-pii", ciphertext=ciphertext)["data"]["plaintext"]

    assert plain == "eA==" and logins(app.server) == 2
    with pytest.raises(SecretSourceError) as info:  # a transit 400 keeps hvac's error as cause
        transit.decrypt_data(name="elson-pii", ciphertext="vault:v1:AAAA")
    assert type(info.value.__cause__).__name__ == "InvalidRequest"
