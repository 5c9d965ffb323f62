"""Finished chunks into PostgreSQL on a few threads, off the driver's loop.

Why: a chunk's transaction (marker row, ``COPY`` of its trials, commit) takes a few
milliseconds to tens of milliseconds. Run inline, it held up the driver's next ``ray.wait``
and submissions, and at the end of a job the last chunks, which finish together, were
written one after the other. Each chunk is still persisted whole in its own transaction
(``persist_chunk``); only the waiting moves here. The driver ``flush``es before it moves
the job to a final status or returns, so nothing it reports is still in flight.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType

from cluster.optimization.repository import ChunkResult, OptimizationRepository


class ChunkWriter:
    def __init__(self, repo: OptimizationRepository, job_id: str, threads: int) -> None:
        self._repo, self._job_id = repo, job_id
        self._pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix="chunk-writer")
        self._pending: list[tuple[ChunkResult, Future[bool]]] = []

    def submit(self, chunk: ChunkResult) -> None:
        future = self._pool.submit(self._repo.persist_chunk, self._job_id, chunk)
        self._pending.append((chunk, future))

    def done(self) -> list[tuple[ChunkResult, bool]]:
        """Chunks written since the last call, with whether they were new (a retried task's
        duplicate is not); a failed write raises here."""
        finished: list[tuple[ChunkResult, Future[bool]]] = []
        waiting: list[tuple[ChunkResult, Future[bool]]] = []
        for item in self._pending:
            (finished if item[1].done() else waiting).append(item)
        self._pending = waiting
        return [(c, f.result()) for c, f in finished]

    def flush(self) -> list[tuple[ChunkResult, bool]]:
        """Wait for every chunk handed over; as :meth:`done`."""
        finished, self._pending = self._pending, []
        return [(c, f.result()) for c, f in finished]

    def __enter__(self) -> ChunkWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
