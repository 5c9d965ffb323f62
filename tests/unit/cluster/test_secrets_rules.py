"""What staging/production refuse about secrets (cluster/secrets/rules.py through Settings)
and the dev env/file source (cluster/secrets/source.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster.secrets.source import EnvFileSource, SecretUnavailable, secret_field_names
from cluster.settings import Settings, SettingsError, load_settings

STRONG = "s" * 40
PROD = dict(
    env="production",
    database_url="postgresql+psycopg://app:Xq7-long-generated@db.internal/elson",
    redis_url="rediss://cache.internal:6380/0",
    jwt_secret=STRONG,
    pii_key="p" * 44,
    vault_addr="https://vault.internal:8200",
)


def test_production_with_safe_values_then_starts() -> None:
    assert load_settings(**PROD).env.value == "production"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"vault_addr": None}, "ELSON_VAULT_ADDR is missing"),
        ({"vault_tls_verify": False}, "ELSON_VAULT_TLS_VERIFY=false is for dev/test only"),
        ({"vault_token": "root"}, "ELSON_VAULT_TOKEN is a default value"),
        (
            {"database_url": "postgresql+psycopg://postgres:postgres@db/elson"},
            "ELSON_DATABASE_URL has a default password",
        ),
        ({"redis_url": "redis://:changeme@cache:6379/0"}, "ELSON_REDIS_URL has a default password"),
        ({"paypal_client_secret": "changeme"}, "ELSON_PAYPAL_CLIENT_SECRET is a default value"),
        ({"alpaca_secret_key": "secret"}, "ELSON_ALPACA_SECRET_KEY is a default value"),
        ({"metrics_token": " Password "}, "ELSON_METRICS_TOKEN is a default value"),
    ],
)
@pytest.mark.parametrize("env", ["production", "staging"])
def test_protected_env_with_unsafe_secret_setting_then_refused_naming_it(
    change: dict[str, object], named: str, env: str
) -> None:
    with pytest.raises(SettingsError, match=named) as info:
        load_settings(**{**PROD, **change, "env": env})
    assert "postgres:postgres" not in str(info.value)  # names the variable, never the value


def test_dev_accepts_what_production_refuses() -> None:
    s = load_settings(env="dev", vault_tls_verify=False, paypal_client_secret="changeme")
    assert s.vault_tls_verify is False


def test_secret_fields_are_the_secretstr_fields_without_vault_credentials() -> None:
    names = secret_field_names(Settings)
    assert {"database_url", "redis_url", "jwt_secret", "paypal_client_secret"} <= set(names)
    assert not [n for n in names if n.startswith("vault_")]


def test_env_file_source_reads_variables_files_and_a_folder(tmp_path: Path) -> None:
    (tmp_path / "jwt").write_text("from-file\n")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "redis_url").write_text("redis://folder\n")
    environ = {
        "ELSON_DATABASE_URL": "postgresql://env",
        "ELSON_JWT_SECRET_FILE": str(tmp_path / "jwt"),
    }
    source = EnvFileSource(environ, secrets_dir=tmp_path / "secrets")

    found = source.read(["database_url", "jwt_secret", "redis_url", "pii_key"])

    assert found == {
        "database_url": "postgresql://env",
        "jwt_secret": "from-file",
        "redis_url": "redis://folder",
    }


def test_env_file_source_with_unreadable_file_then_names_the_variable(tmp_path: Path) -> None:
    source = EnvFileSource({"ELSON_JWT_SECRET_FILE": str(tmp_path / "absent")})

    with pytest.raises(SecretUnavailable, match="ELSON_JWT_SECRET_FILE"):
        source.read(["jwt_secret"])
