"""``elson keys status|rotate|reencrypt|retire`` against a running in-process API."""

from __future__ import annotations

import httpx
import pytest

from cluster import cli
from cluster.settings import Settings
from tests.integration.pii.conftest import PII_KEY, pii_stack, pii_values
from tests.integration.pii.test_at_rest import login, register_with_profile


def test_rotate_reencrypt_retire_then_api_reads_still_work(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pii_stack(settings, "pii_cli") as (url, _services, base):
        monkeypatch.setenv("ELSON_DATABASE_URL", url)
        monkeypatch.setenv("ELSON_ENV", "test")
        monkeypatch.setenv("ELSON_PII_KEY", PII_KEY)
        with httpx.Client(base_url=base, timeout=30) as c:
            values = pii_values()
            user = register_with_profile(c, values)
            user.take(login(c, values["email"]).json())

            assert cli.main(["keys", "retire", "k1"]) == 1  # the write key
            assert "rotate first" in capsys.readouterr().err
            assert cli.main(["keys", "rotate"]) == 0
            assert cli.main(["keys", "retire", "k1"]) == 1  # rows still on it
            assert "run the re-encryption job" in capsys.readouterr().err
            assert cli.main(["keys", "reencrypt"]) == 0
            out = capsys.readouterr().out
            assert "re-encrypted to k2: 2 row(s) moved" in out  # the email and the profile
            assert "k1\tdecrypt\tlocal\t0 row(s)" in out and "k2\tactive\tlocal\t2 row(s)" in out
            assert cli.main(["keys", "retire", "k1"]) == 0
            assert "k1\tretired" in capsys.readouterr().out

            profile = c.get("/v1/users/me/profile", headers=user.headers)
            assert (
                profile.status_code == 200 and profile.json()["legal_name"] == values["legal_name"]
            )
            assert login(c, "  " + values["email"].upper()).status_code == 200
