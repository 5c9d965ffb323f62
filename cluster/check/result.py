"""One check's outcome and the runner that bounds it in time.

Every check runs in a worker thread with a deadline: a dependency that accepts a
connection and then says nothing (a stuck Redis, a TCP listener in the gateway's place)
must fail the check it belongs to, by name, not hang the whole report.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


class CheckFailed(Exception):
    """A check's own verdict: ``str(exc)`` is the detail of the report line."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    seconds: float

    def json_line(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), default=str)


Probe = Callable[[], str]


def run_bounded(name: str, probe: Probe, timeout_s: float) -> CheckResult:
    """``probe`` returns a detail (ok) or raises (failed); it gets ``timeout_s`` seconds."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["detail"] = probe()
        except BaseException as exc:
            box["error"] = exc

    started = time.perf_counter()
    thread = threading.Thread(target=target, name=f"check-{name}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    seconds = round(time.perf_counter() - started, 3)
    if thread.is_alive():
        return CheckResult(name, False, f"no answer within {timeout_s:g} s", seconds)
    if "error" in box:
        exc = box["error"]
        detail = str(exc) if isinstance(exc, CheckFailed) else f"{type(exc).__name__}: {exc}"
        return CheckResult(name, False, detail[:500], seconds)
    return CheckResult(name, True, str(box.get("detail", "ok"))[:500], seconds)
