"""``elson users set-role``: the way to the first admin."""

from __future__ import annotations

import httpx
import pytest

from cluster import cli
from tests.kit.users import login, register


def test_set_role_when_user_exists_then_admin_on_next_request(
    client: httpx.Client,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    user = register(client)
    login(client, user)
    monkeypatch.setenv("ELSON_DATABASE_URL", database_url)
    monkeypatch.setenv("ELSON_ENV", "test")
    assert cli.main(["users", "set-role", user.email.upper(), "admin"]) == 0
    assert f"{user.email}: role admin" in capsys.readouterr().out
    assert client.get("/v1/users/me", headers=user.headers).json()["role"] == "admin"


def test_set_role_when_unknown_email_then_nonzero_exit(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ELSON_DATABASE_URL", database_url)
    monkeypatch.setenv("ELSON_ENV", "test")
    assert cli.main(["users", "set-role", "nobody@example.com", "quant"]) == 1
    assert "user not found" in capsys.readouterr().err
