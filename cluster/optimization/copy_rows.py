"""Trial rows in PostgreSQL's binary ``COPY`` format, built where the trials are computed.

Why binary: a chunk's statistics come out of the kernel as one float matrix; written as
``float8[]`` in the binary format they are a byte-for-byte copy of that matrix (big-endian),
built with numpy in one pass, and PostgreSQL stores them without parsing text or JSON. The
per-trial cost in a Ray worker is a few microseconds (the parameters' small JSON), and the
driver only streams one ``bytes`` object per chunk.

The payload holds the trials of one chunk of one job, with a header and trailer, for
``COPY optimization_trials (COLUMNS) FROM STDIN (FORMAT binary)``. Statistics are stored in
``STAT_FIELDS`` order; NaN and infinities are stored as such (``float8`` has them) and the
repository's mapper turns them into ``None``. A score that is not a number is ``NULL``.
"""

from __future__ import annotations

import json
import math
import struct
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from domain.backtest import STAT_FIELDS

COLUMNS = (
    "job_id, chunk_index, window_index, position, stats, score, "
    "in_sample_stats, in_sample_score, params"
)
_N_FIELDS = 9
_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_TRAILER = struct.pack(">h", -1)
_NULL = struct.pack(">i", -1)
_FLOAT8_OID = 701
_N = len(STAT_FIELDS)
#: one ``float8[]`` field of ``_N`` elements: its length, the array header, (length, value)s
_ARRAY = np.dtype([("size", ">i4"), ("head", ">i4", 5), ("el", [("len", ">i4"), ("v", ">f8")], _N)])
_ARRAY_BYTES = _ARRAY.itemsize - 4
_EMPTY_ARRAY = struct.pack(">iiii", 12, 0, 0, _FLOAT8_OID)
_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def _prefix(job_id: str, chunk_index: int) -> bytes:
    """Field count, job id and chunk index: the same bytes for every row of a chunk."""
    return struct.pack(">hi16sii", _N_FIELDS, 16, uuid.UUID(job_id).bytes, 4, chunk_index)


def _int(value: int | None) -> bytes:
    return _NULL if value is None else struct.pack(">ii", 4, value)


def _float(value: float | None) -> bytes:
    if value is None or not math.isfinite(value):
        return _NULL
    return struct.pack(">id", 8, value)


def _jsonb(value: Mapping[str, Any]) -> bytes:
    text = _dumps(dict(value)).encode()
    return struct.pack(">ib", len(text) + 1, 1) + text


def _arrays(matrix: np.ndarray) -> bytes:
    """Every row of ``matrix`` (N x ``STAT_FIELDS``) as one ``float8[]`` field, back to back."""
    out = np.zeros(len(matrix), dtype=_ARRAY)
    out["size"] = _ARRAY_BYTES
    out["head"] = (1, 0, _FLOAT8_OID, _N, 1)  # ndim, has-null flag, element type, dim, lbound
    out["el"]["len"] = 8
    out["el"]["v"] = matrix
    return out.tobytes()


def _stats_array(stats: Mapping[str, Any] | None) -> bytes:
    if stats is None:
        return _NULL
    if not stats:
        return _EMPTY_ARRAY
    values = [stats.get(f) for f in STAT_FIELDS]
    row = np.array([[np.nan if v is None else float(v) for v in values]])
    return _arrays(row)


def encode_matrix(
    job_id: str,
    chunk_index: int,
    points: Sequence[Mapping[str, float]],
    matrix: np.ndarray,
    scores: Sequence[float | None],
) -> bytes:
    """A grid/random chunk: row ``i`` is ``points[i]`` with statistics ``matrix[i]``."""
    prefix = _prefix(job_id, chunk_index) + _NULL  # no window
    tail = _NULL + _NULL  # no in-sample side
    arrays = memoryview(_arrays(matrix))
    size = _ARRAY.itemsize
    parts: list[bytes | memoryview] = [_HEADER]
    for i, (params, score) in enumerate(zip(points, scores, strict=True)):
        parts += (prefix, _int(i), arrays[i * size : (i + 1) * size], _float(score), tail)
        parts.append(_jsonb(params))
    parts.append(_TRAILER)
    return b"".join(parts)


def encode_row(
    job_id: str,
    chunk_index: int,
    position: int,
    params: Mapping[str, Any],
    stats: Mapping[str, Any],
    score: float | None,
    *,
    window_index: int | None = None,
    in_sample_stats: Mapping[str, Any] | None = None,
    in_sample_score: float | None = None,
) -> bytes:
    """One trial of any kind (walk-forward windows, tests) as a row without header."""
    return b"".join(
        (
            _prefix(job_id, chunk_index),
            _int(window_index),
            _int(position),
            _stats_array(stats),
            _float(score),
            _stats_array(in_sample_stats),
            _float(in_sample_score),
            _jsonb(params),
        )
    )


def payload(rows: Sequence[bytes]) -> bytes:
    """Rows from :func:`encode_row` as a whole ``COPY`` stream."""
    return b"".join((_HEADER, *rows, _TRAILER))


def decode_stats(values: Sequence[float] | None) -> dict[str, Any] | None:
    """A stored ``float8[]`` as named statistics: non-finite values are ``None`` (no JSON
    form), the trade count an integer; an empty array is an empty mapping."""
    if values is None:
        return None
    out: dict[str, Any] = {}
    for name, v in zip(STAT_FIELDS, values, strict=False):
        out[name] = None if v is None or not math.isfinite(v) else v
    if out.get("trades") is not None:
        out["trades"] = int(out["trades"])
    return out
