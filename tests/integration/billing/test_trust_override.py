"""The webhook trust override (a test CA, a local certificate host) is for dev/test only:
set in staging or production, start-up is refused, naming the variables."""

from __future__ import annotations

import pytest

from cluster.settings import SettingsError, load_settings
from tests.kit.paypal_certs import Pki

PROTECTED = {
    "database_url": "postgresql://elson@db.internal/elson",
    "redis_url": "rediss://redis.internal:6379/0",
    "jwt_secret": "k" * 48,
    "pii_key": "p" * 48,
}


@pytest.mark.parametrize("env", ["production", "staging"])
@pytest.mark.parametrize(
    "override",
    [{"paypal_test_ca_pem": "CA"}, {"paypal_test_cert_host": "127.0.0.1"}],
    ids=["test-ca", "local-cert-host"],
)
def test_trust_override_refuses_start_up_outside_dev_and_test(
    env: str, override: dict[str, str]
) -> None:
    if "paypal_test_ca_pem" in override:
        override = {"paypal_test_ca_pem": Pki().ca_pem}
    with pytest.raises(SettingsError, match="PAYPAL_TEST_CA_PEM"):
        load_settings(env=env, **PROTECTED, **override)
    try:  # without the override nothing about it is refused (other rules may still be)
        load_settings(env=env, **PROTECTED)
    except SettingsError as exc:
        assert "PAYPAL" not in str(exc)


def test_cli_start_up_with_the_override_in_production_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cluster.cli import EXIT_CONFIG, main

    env = {**PROTECTED, "env": "production", "paypal_test_cert_host": "127.0.0.1"}
    for key, value in env.items():
        monkeypatch.setenv(f"ELSON_{key.upper()}", value)
    assert main(["up", "--no-migrate"]) == EXIT_CONFIG == 2
    assert "PAYPAL_TEST_CERT_HOST" in capsys.readouterr().err
