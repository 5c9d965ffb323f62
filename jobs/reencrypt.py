"""Re-encryption: move every encrypted field to the current write key, in batches.

Run after ``elson keys rotate`` (``elson keys reencrypt``, or ``rotate --reencrypt``).
Each batch is its own transaction, so the job is resumable: stopped anywhere, a rerun
picks up the rows still on an older version (the query selects exactly those). The API
keeps writing meanwhile: each row update is a compare-and-set on the ciphertext read
(``cluster.pii.reencrypt``), so no API write is lost; a row that changed under the job
is visited again in the next pass. Passes repeat until one moves nothing and meets no
conflict; what is left then is only fields that do not decrypt, reported by row id.
After a clean run, the old version can be retired (``elson keys retire kN``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cluster.accounts.cipher import PiiCipher
from cluster.pii import reencrypt as rows

log = logging.getLogger(__name__)


@dataclass
class Report:
    key_id: str = ""
    moved: int = 0
    conflicts: int = 0
    passes: int = 0
    unreadable: list[str] = field(default_factory=list)


def run(
    connect: Callable[[], Any],
    cipher: PiiCipher,
    *,
    batch: int = 200,
    max_passes: int = 20,
    on_batch: Callable[[str, rows.BatchResult], None] | None = None,
) -> Report:
    """``connect()``: a context manager yielding a session in its own transaction."""
    write = cipher.keyring.write_key()
    report = Report(key_id=write[0])
    for _ in range(max_passes):
        report.passes += 1
        moved, conflicts, unreadable = 0, 0, []
        for table, step in (("users", rows.users_batch), ("profiles", rows.profiles_batch)):
            after = None
            while True:
                with connect() as s:
                    result = step(s, cipher, write, after, batch)
                if on_batch is not None:
                    on_batch(table, result)
                moved, conflicts = moved + result.moved, conflicts + result.conflicts
                unreadable.extend(result.unreadable)
                if result.seen < batch:
                    break
                after = result.last_id
        report.moved += moved
        report.conflicts += conflicts
        report.unreadable = unreadable
        log.info(
            "pii re-encryption pass %d: moved=%d conflicts=%d unreadable=%d",
            report.passes,
            moved,
            conflicts,
            len(unreadable),
        )
        if moved == 0 and conflicts == 0:
            return report
    log.warning("pii re-encryption stopped after %d passes with rows still moving", max_passes)
    return report
