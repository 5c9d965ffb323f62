"""A market-data provider that a test steers from outside the actor that runs it.

The feed shard runs in a Ray worker, so the test cannot call the provider; it writes a
small JSON control file instead, which the provider re-reads every ``interval_s``:

- ``{"mode": "ok", "price": "100.00"}``: one quote per subscribed symbol per interval;
- ``{"mode": "silent"}``: nothing (the provider goes stale);
- ``{"mode": "error"}``: keeps quoting but reports a ``TransientError`` every interval
  (the breaker trips, not staleness);
- ``{"mode": "flap", "ok_s": 0.6, "silent_s": 1.0}``: ``ok`` then ``silent``, repeated.

Registered in a shard with ``provider_factories={"scripted": "tests.kit.scripted_provider:
make_scripted"}`` and the spec ``scripted:<control file path>``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from cluster.marketdata.provider import BaseProvider, ErrorHook, ProviderState, Snapshot
from domain.clock import Clock
from domain.errors import TransientError
from domain.marketdata import Quote


def write_control(path: Path, mode: str, **extra: Any) -> None:
    """Atomically replace the control file (the provider never reads half a file)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"mode": mode, **extra}))
    tmp.replace(path)


class ScriptedProvider(BaseProvider):
    def __init__(
        self,
        control: Path,
        *,
        interval_s: float = 0.05,
        clock: Clock | None = None,
        on_error: ErrorHook | None = None,
        name: str = "scripted",
    ) -> None:
        super().__init__(name=name, clock=clock, on_error=on_error)
        self.control = control
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if not self._begin_start():
            return
        self._transition(ProviderState.RUNNING)
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        await self._finish_stop(task)

    async def subscribe(self, symbols: Iterable[str]) -> None:
        self._add_symbols(symbols)

    async def unsubscribe(self, symbols: Iterable[str]) -> None:
        self._remove_symbols(symbols)

    async def snapshot(self, symbols: Iterable[str]) -> dict[str, Snapshot]:
        return self._latest_snapshot(symbols)

    def _read(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.control.read_text())
        except (OSError, ValueError):
            return {"mode": "ok"}
        if data.get("mode") == "flap":
            ok_s, silent_s = float(data.get("ok_s", 0.6)), float(data.get("silent_s", 1.0))
            phase = time.monotonic() % (ok_s + silent_s)
            data["mode"] = "ok" if phase < ok_s else "silent"
        return data

    async def _run(self) -> None:
        while True:
            control = self._read()
            mode = control.get("mode", "ok")
            if mode == "error":
                self._report(TransientError(f"{self.name}: scripted error"))
            if mode in ("ok", "error"):
                price = Decimal(str(control.get("price", "100.00")))
                now = self._clock.now()
                for symbol in sorted(self._symbols):
                    await self._emit(
                        Quote(
                            symbol=symbol,
                            bid_price=price,
                            bid_size=100,
                            ask_price=price + Decimal("0.02"),
                            ask_size=100,
                            exchange_ts=now,
                            received_ts=now,
                            provider=self.name,
                            seq=self._next_seq(symbol),
                        )
                    )
            await asyncio.sleep(self.interval_s)


def make_scripted(*, arg: str, **deps: Any) -> ScriptedProvider:
    """Factory for ``FeedShard(provider_factories=...)``: ``arg`` is the control path."""
    keep = {k: deps[k] for k in ("clock", "on_error", "name") if k in deps}
    return ScriptedProvider(Path(arg), **keep)
