"""The fake Vault answers the real hvac client as Vault documents it (what the other tests
rely on): KV v2, transit with ``min_decryption_version``, tokens, errors."""

from __future__ import annotations

import base64
import re

import hvac
import pytest
from hvac import exceptions as hvac_errors

from tests.kit.vault_server import VaultServer
from tests.kit.vault_transit import TOO_OLD


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def root(vault: VaultServer) -> hvac.Client:
    return vault.client(vault.root_token)


def test_kv_v2_versions_metadata_list_and_missing_path(root: hvac.Client) -> None:
    kv = root.secrets.kv.v2
    kv.create_or_update_secret("elson/app", {"a": "1"})
    kv.create_or_update_secret("elson/app", {"a": "2"}, cas=1)

    latest = kv.read_secret_version("elson/app", raise_on_deleted_version=True)["data"]
    first = kv.read_secret_version("elson/app", version=1, raise_on_deleted_version=True)
    assert (latest["data"], latest["metadata"]["version"]) == ({"a": "2"}, 2)
    assert first["data"]["data"] == {"a": "1"}
    assert kv.read_secret_metadata("elson/app")["data"]["current_version"] == 2
    assert kv.list_secrets("elson")["data"]["keys"] == ["app"]
    with pytest.raises(hvac_errors.InvalidRequest, match="check-and-set"):
        kv.create_or_update_secret("elson/app", {"a": "3"}, cas=1)
    with pytest.raises(hvac_errors.InvalidPath):
        kv.read_secret_version("elson/none", raise_on_deleted_version=True)
    kv.delete_latest_version_of_secret("elson/app")
    with pytest.raises(hvac_errors.InvalidPath):
        kv.read_secret_version("elson/app", raise_on_deleted_version=True)


def test_transit_rotate_rewrap_and_min_decryption_version(root: hvac.Client) -> None:
    transit = root.secrets.transit
    transit.create_key("pii")
    old = transit.encrypt_data("pii", b64(b"alice@example.com"))["data"]["ciphertext"]
    transit.rotate_key("pii")
    new = transit.rewrap_data("pii", old)["data"]["ciphertext"]

    assert old.startswith("vault:v1:") and new.startswith("vault:v2:")
    assert transit.read_key("pii")["data"]["latest_version"] == 2
    transit.update_key_configuration("pii", min_decryption_version=2)
    with pytest.raises(hvac_errors.InvalidRequest, match=re.escape(TOO_OLD)):
        transit.decrypt_data("pii", old)
    plain = transit.decrypt_data("pii", new)["data"]["plaintext"]
    assert base64.b64decode(plain) == b"alice@example.com"
    transit.trim_key("pii", min_version=2)
    assert list(transit.read_key("pii")["data"]["keys"]) == ["2"]


def test_transit_tampered_ciphertext_and_associated_data_then_400(root: hvac.Client) -> None:
    transit = root.secrets.transit
    transit.create_key("pii")
    aad = b64(b"users.email:42")
    ct = root.adapter.post(
        "/v1/transit/encrypt/pii", json={"plaintext": b64(b"x"), "associated_data": aad}
    )["data"]["ciphertext"]
    head, blob = ct.rsplit(":", 1)
    raw = bytearray(base64.b64decode(blob))
    raw[-1] ^= 1  # one bit of the GCM tag
    flipped = f"{head}:{b64(bytes(raw))}"

    for body in ({"ciphertext": ct, "associated_data": b64(b"users.email:43")},
                 {"ciphertext": flipped, "associated_data": aad}):  # fmt: skip
        with pytest.raises(hvac_errors.InvalidRequest, match="message authentication failed"):
            root.adapter.post("/v1/transit/decrypt/pii", json=body)


def test_wrapped_data_key_unwraps_with_decrypt(root: hvac.Client) -> None:
    root.secrets.transit.create_key("pii")

    wrapped = root.secrets.transit.generate_data_key("pii", key_type="wrapped")["data"]

    assert "plaintext" not in wrapped
    key = root.secrets.transit.decrypt_data("pii", wrapped["ciphertext"])["data"]["plaintext"]
    assert len(base64.b64decode(key)) == 32


def test_batch_decrypt_reports_each_item(root: hvac.Client) -> None:
    transit = root.secrets.transit
    transit.create_key("pii")
    good = transit.encrypt_data("pii", b64(b"a"))["data"]["ciphertext"]

    with pytest.raises(hvac_errors.InvalidRequest) as info:
        transit.decrypt_data(
            "pii", "", batch_input=[{"ciphertext": good}, {"ciphertext": "vault:v9:AAAA"}]
        )
    results = info.value.json["data"]["batch_results"]
    assert base64.b64decode(results[0]["plaintext"]) == b"a" and "error" in results[1]


def test_policy_and_tokens(vault: VaultServer) -> None:
    vault.put_policy("reader", {"secret/data/elson/*": ["read"]})
    vault.kv_put("elson/app", {"k": "v"})
    token = vault.create_token(["reader"], ttl=60, max_ttl=90)
    client = vault.client(token)

    assert client.secrets.kv.v2.read_secret_version("elson/app", raise_on_deleted_version=True)[
        "data"
    ]["data"] == {"k": "v"}
    with pytest.raises(hvac_errors.Forbidden):
        client.secrets.kv.v2.create_or_update_secret("elson/app", {"k": "w"})
    with pytest.raises(hvac_errors.Forbidden):
        client.secrets.transit.encrypt_data("pii", b64(b"x"))
    vault.advance(50)
    assert client.auth.token.renew_self()["auth"]["lease_duration"] == 40  # max TTL 90
    vault.advance(41)
    assert client.is_authenticated() is False


def test_approle_login_with_wrong_secret_id_then_400(vault: VaultServer) -> None:
    role_id, _ = vault.add_approle("app", ["default"])

    with pytest.raises(hvac_errors.InvalidRequest, match="invalid role or secret ID"):
        vault.client().auth.approle.login(role_id, "wrong")


def test_sealed_then_503_and_health_says_so(vault: VaultServer) -> None:
    client = vault.client(vault.root_token)
    vault.seal()

    with pytest.raises(hvac_errors.VaultDown):
        client.secrets.kv.v2.read_secret_version("x", raise_on_deleted_version=True)
    assert client.sys.read_health_status(method="GET").status_code == 503
