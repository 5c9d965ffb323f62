"""TokenCodec on a fake clock, the dev secret file, and the password policy and hasher."""

from __future__ import annotations

import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from cluster.auth.passwords import Passwords, check_policy
from cluster.auth.tokens import TokenCodec, resolve_secret
from domain.clock import FakeClock
from domain.errors import OperatorError, Unauthenticated, ValidationFailed

START = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
USER = "7d4c2a1e-0b7f-4c51-9a58-2f0d2c8b9e11"
SID = "0b6a3c8e-52a1-4d0f-8c3e-6b1f2a9d7e40"


def test_codec_when_within_15_minutes_then_valid_and_after_then_expired() -> None:
    clock = FakeClock(START)
    codec = TokenCodec("s" * 48)
    token = codec.issue(user_id=USER, role="quant", session_id=SID, now=clock.now())
    assert token.expires_at == START + timedelta(minutes=15)
    p = codec.decode(token.token, now=clock.advance(timedelta(minutes=14, seconds=59)))
    assert (p.user_id, p.role, p.session_id, p.jti) == (USER, "quant", SID, token.jti)
    clock.advance(timedelta(seconds=10))
    with pytest.raises(Unauthenticated, match="expired"):
        codec.decode(token.token, now=clock.now())


def test_codec_when_other_key_then_unauthenticated() -> None:
    token = TokenCodec("a" * 48).issue(user_id=USER, role="user", session_id=SID, now=START)
    with pytest.raises(Unauthenticated):
        TokenCodec("b" * 48).decode(token.token, now=START)


def test_resolve_secret_when_configured_then_used_and_protected_without_then_refused(
    tmp_path: Path,
) -> None:
    assert resolve_secret("x" * 40, tmp_path, protected=True) == "x" * 40
    with pytest.raises(OperatorError):
        resolve_secret(None, tmp_path, protected=True)


def test_resolve_secret_when_dev_then_one_secret_per_data_dir_shared_by_racers(
    tmp_path: Path,
) -> None:
    results: list[str] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(resolve_secret(None, tmp_path, protected=False))
        )
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(set(results)) == 1 and len(results[0]) >= 32
    assert stat.S_IMODE((tmp_path / "jwt-secret").stat().st_mode) == 0o600
    assert resolve_secret(None, tmp_path / "other", protected=False) != results[0]


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("Short1!", "min-length"),
        ("x" * 257 + "1", "max-length"),
        ("abcdefghijklmnop", "character-classes"),
        ("123456789012345", "character-classes"),
        ("ada.lovelace@example.com", "not-email"),
        ("Ada.Lovelace", "not-email"),
        ("Password1234", "common-password"),
    ],
)
def test_policy_when_weak_then_rule_named(password: str, rule: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_policy(password, "ada.lovelace@example.com")
    assert (caught.value.field, caught.value.rule) == ("password", rule)


def test_policy_when_long_mixed_then_accepted() -> None:
    check_policy("correct horse battery staple", "ada@example.com")


def test_passwords_when_hashed_then_argon2id_and_verifies() -> None:
    pw = Passwords(PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))
    h = pw.hash("correct horse battery staple")
    assert h.startswith("$argon2id$")
    assert pw.verify(h, "correct horse battery staple")
    assert not pw.verify(h, "wrong")
    assert not pw.verify(None, "dummy-password-for-timing")  # unknown user never matches
    assert not pw.verify("not-a-hash", "x")
    assert Passwords().needs_rehash(h)  # weaker parameters than the default get upgraded
