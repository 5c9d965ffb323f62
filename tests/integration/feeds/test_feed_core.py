"""The shard's logic without Ray: sequence rule, bars, fan-out, switch records.

Driven by hand (``on_event``/``check`` with a fake clock), so no sleeps; the providers are
never started here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from actors.feed_core import RESTART_SEQ_GAP, FeedCore
from actors.feed_shard import failover_config
from cluster.marketdata.cache import CachedSymbol
from cluster.settings import Settings
from domain.clock import FakeClock
from domain.marketdata import Quote, Trade

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def core(clock: FakeClock, **settings: Any) -> FeedCore:
    s = Settings(
        feed_providers="a,b",
        feed_staleness_s=0.5,
        feed_check_interval_s=0.25,
        feed_hysteresis_s=1.0,
        feed_divergence_bps=Decimal("1e9"),
        **settings,
    )

    def no_provider(name: str, on_error: Any) -> Any:
        raise AssertionError("providers are not started in these tests")

    return FeedCore(
        shard=0,
        symbols=["AAPL", "MSFT"],
        chain=["a", "b"],
        make_provider=no_provider,
        failover=failover_config(s),
        clock=clock,
        market_open=lambda _at: True,
        epoch="e1",
        consumer_buffer=100,
    )


def quote(provider: str, at: datetime, symbol: str = "AAPL") -> Quote:
    return Quote(symbol, Decimal("10.00"), 100, Decimal("10.02"), 100, at, at, provider, 99)


def trade(at: datetime, price: str = "10.01") -> Trade:
    return Trade("AAPL", Decimal(price), 100, at, at, "a", 7)


def test_on_event_when_active_provider_then_renumbered_and_fanned_out() -> None:
    clock = FakeClock(T0)
    feed = core(clock)
    feed.subscribe("c1", ["AAPL"])
    feed.on_event("a", quote("a", T0))
    feed.on_event("b", quote("b", T0))  # hot standby: health only
    feed.on_event("a", quote("a", T0))
    buffered = list(feed.hub.consumers["c1"].buffer)
    assert [(e["provider"], e["seq"]) for e in buffered] == [("a", 1), ("a", 2)]
    assert feed.snapshot(["aapl"])["AAPL"]["quote"]["seq"] == 2


def test_restore_when_cached_then_seq_jumps_and_last_values_kept() -> None:
    feed = core(FakeClock(T0))
    cached_quote = quote("a", T0).to_wire() | {"seq": 41}
    feed.restore({"AAPL": CachedSymbol(seq=41, latest={"quote": cached_quote})})
    assert feed.snapshot(["AAPL"])["AAPL"]["quote"]["seq"] == 41
    feed.on_event("a", quote("a", T0))
    assert feed.books["AAPL"].seq == 41 + RESTART_SEQ_GAP + 1
    assert feed.books["MSFT"].seq == 0  # nothing cached: starts over (new epoch shows it)


def test_trades_when_minute_ends_then_bar_recorded_before_next_trade() -> None:
    clock = FakeClock(T0)
    feed = core(clock)
    feed.on_event("a", trade(T0 + timedelta(seconds=5), "10.00"))
    feed.on_event("a", trade(T0 + timedelta(seconds=30), "10.50"))
    assert feed.snapshot(["AAPL"])["AAPL"]["bar"]["high"] == "10.50"  # the open minute
    feed.on_event("a", trade(T0 + timedelta(minutes=1, seconds=1), "10.20"))
    (bar,) = feed.bars("AAPL", 10)
    assert (bar["open"], bar["close"], bar["volume"]) == ("10.00", "10.50", 200)
    assert bar["seq"] == 3  # numbered before the trade that closed its minute (seq 4)


def test_check_when_quiet_minute_over_then_bar_flushed() -> None:
    clock = FakeClock(T0)
    feed = core(clock)
    feed.on_event("a", trade(T0 + timedelta(seconds=5)))
    feed.check(T0 + timedelta(minutes=1, seconds=1))
    assert len(feed.bars("AAPL", 10)) == 1


def test_check_when_primary_stale_then_one_switch_record_for_all_symbols() -> None:
    clock = FakeClock(T0)
    feed = core(clock)
    feed.check(T0)
    clock.set(T0 + timedelta(seconds=0.6))  # the shard stamps receipt with its clock
    for symbol in ("AAPL", "MSFT"):
        feed.on_event("b", quote("b", T0 + timedelta(seconds=0.6), symbol))
    moved = feed.check(T0 + timedelta(seconds=0.75))
    assert {(m.from_provider, m.to_provider) for m in moved} == {("a", "b")}
    (record,) = feed.switches
    assert record["reason"] == "stale" and sorted(record["symbols"]) == ["AAPL", "MSFT"]
    status = feed.status()
    assert status["symbols"]["AAPL"]["active"] == "b"
    assert "stale" in status["symbols"]["AAPL"]["providers"]["a"]["problems"]
