from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cluster.settings import Settings, SettingsError, load_settings

STRONG = "x" * 40
PROD_OK = dict(
    env="production",
    database_url="postgresql+psycopg://app@db.internal/elson",
    redis_url="rediss://cache.internal:6380/0",
    jwt_secret=STRONG,
    pii_key="p" * 44,
    vault_addr="https://vault.internal:8200",
)


def test_dev_defaults_use_embedded_services() -> None:
    s = load_settings(env="dev")
    assert s.embedded_database and s.embedded_redis


def test_production_with_every_secret_set_then_starts() -> None:
    s = load_settings(**PROD_OK)
    assert s.env.value == "production"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"jwt_secret": None}, "ELSON_JWT_SECRET is missing"),
        ({"jwt_secret": "changeme"}, "ELSON_JWT_SECRET is a default value"),
        ({"jwt_secret": "short-secret"}, "ELSON_JWT_SECRET is shorter"),
        ({"database_url": None}, "ELSON_DATABASE_URL is missing"),
        ({"redis_url": None}, "ELSON_REDIS_URL is missing"),
        ({"vault_addr": "http://vault.internal:8200"}, "ELSON_VAULT_ADDR must use https://"),
        ({"broker": "alpaca"}, "ELSON_ALPACA_KEY_ID"),
    ],
)
@pytest.mark.parametrize("env", ["production", "staging"])
def test_protected_env_with_unsafe_value_then_refused_naming_setting(
    change: dict[str, object], named: str, env: str
) -> None:
    values = {**PROD_OK, **change, "env": env}
    with pytest.raises(SettingsError, match=named):
        load_settings(**values)


def test_settings_are_frozen() -> None:
    s = load_settings(env="dev")
    with pytest.raises(Exception, match="frozen"):
        s.env = "production"  # type: ignore[misc]


def test_settings_pickle_round_trip_for_ray() -> None:
    import pickle

    s = load_settings(**PROD_OK)
    back = pickle.loads(pickle.dumps(s))
    assert back == s
    assert isinstance(back, Settings)


def test_cli_up_in_production_with_embedded_database_then_exits_2_naming_setting() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELSON_")}
    env |= {"ELSON_ENV": "production", "ELSON_JWT_SECRET": STRONG, "ELSON_PII_KEY": "p" * 44}
    proc = subprocess.run(
        [sys.executable, "-m", "cluster.cli", "up"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "ELSON_DATABASE_URL is missing" in proc.stderr
    assert "ELSON_REDIS_URL is missing" in proc.stderr
