"""``AuthCache``: when it may answer, and that no invalidation can be outlived."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cluster.auth.cache import AccountState, AuthCache, SessionState

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


class Ticks:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def state(user: str = "u1", **changes: object) -> SessionState:
    values: dict[str, object] = {
        "user_id": user,
        "role": "user",
        "disabled": False,
        "revoked": False,
        "expires_at": NOW + timedelta(days=1),
    }
    values.update(changes)
    return SessionState(**values)  # type: ignore[arg-type]


def live_cache(ttl_s: float = 60.0) -> tuple[AuthCache, Ticks]:
    ticks = Ticks()
    cache = AuthCache(ttl_s=ttl_s, liveness_s=0.75, max_entries=3, monotonic=ticks)
    cache.subscribed(since=ticks())
    return cache, ticks


def test_before_subscribed_then_untrusted_and_fills_ignored() -> None:
    cache = AuthCache(monotonic=Ticks())
    cache.put_session("s1", state(), cache.epoch)
    assert not cache.trusted and cache.session("s1") is None and len(cache) == 0


def test_subscribed_then_fill_and_hit() -> None:
    cache, _ = live_cache()
    cache.put_session("s1", state(), cache.epoch)
    assert cache.session("s1") == state()
    assert (cache.hits, cache.misses) == (1, 0)


def test_no_pong_within_liveness_then_untrusted_until_a_newer_pong() -> None:
    cache, ticks = live_cache()
    cache.put_session("s1", state(), cache.epoch)
    sent = ticks.t + 0.5
    ticks.t += 0.8
    assert not cache.trusted and cache.session("s1") is None
    cache.current_as_of(ticks.t - 0.9)  # a late pong of an old ping proves nothing new
    assert not cache.trusted
    cache.current_as_of(sent)  # pong of a ping sent 0.3 s ago: current as of then
    assert cache.trusted and cache.session("s1") == state()


def test_fill_read_before_an_invalidation_then_not_stored() -> None:
    cache, _ = live_cache()
    epoch = cache.epoch  # a request notes it, then reads PostgreSQL...
    cache.apply("s:s1")  # ...while the session is revoked elsewhere
    cache.put_session("s1", state(), epoch)  # the row it read is stale
    assert cache.session("s1") is None


def test_user_message_then_drops_that_users_sessions_and_accounts_only() -> None:
    cache, _ = live_cache()
    cache.put_session("s1", state("u1"), cache.epoch)
    cache.put_session("s2", state("u2"), cache.epoch)
    cache.put_account("a1", AccountState("u1", "active"), cache.epoch)
    cache.apply("u:u1")
    assert cache.session("s1") is None and cache.account("a1") is None
    assert cache.session("s2") == state("u2")


def test_account_message_then_drops_the_account() -> None:
    cache, _ = live_cache()
    cache.put_account("a1", AccountState("u1", "active"), cache.epoch)
    cache.apply("a:a1")
    assert cache.account("a1") is None


def test_unknown_or_clear_message_then_everything_dropped() -> None:
    for message in ("*", "z:who-knows", "garbage"):
        cache, _ = live_cache()
        cache.put_session("s1", state(), cache.epoch)
        cache.apply(message)
        assert len(cache) == 0


def test_entry_older_than_ttl_then_miss() -> None:
    cache, ticks = live_cache(ttl_s=5)
    cache.put_session("s1", state(), cache.epoch)
    for _ in range(10):  # pongs keep it trusted while time passes
        ticks.t += 0.5
        cache.current_as_of(ticks.t)
    assert cache.session("s1") is None


def test_lost_then_emptied_and_resubscribe_starts_empty() -> None:
    cache, ticks = live_cache()
    cache.put_session("s1", state(), cache.epoch)
    epoch = cache.epoch
    cache.lost()
    assert not cache.trusted and len(cache) == 0
    cache.subscribed(since=ticks())
    cache.put_session("s1", state(), epoch)  # read before the re-subscribe: refused
    assert cache.session("s1") is None


def test_full_then_oldest_evicted() -> None:
    cache, _ = live_cache()
    for sid in ("s1", "s2", "s3", "s4"):
        cache.put_session(sid, state(), cache.epoch)
    assert cache.session("s1") is None and cache.session("s4") is not None


def test_ttl_zero_then_never_trusted() -> None:
    cache, _ = live_cache(ttl_s=0)
    cache.put_session("s1", state(), cache.epoch)
    assert not cache.trusted and cache.session("s1") is None


def test_session_state_live_rules() -> None:
    assert state().live(NOW)
    assert not state(revoked=True).live(NOW)
    assert not state(disabled=True).live(NOW)
    assert not state(expires_at=NOW).live(NOW)
