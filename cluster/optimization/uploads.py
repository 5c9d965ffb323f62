"""Uploaded bar files, kept as blobs so a job (and its resumption) reads the same bytes."""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy import insert, select

from cluster.db import Database
from cluster.optimization.data import bars_from_frame, format_of, frame_from_bytes
from cluster.optimization.tables import optimization_uploads
from domain.errors import NotFound, ValidationFailed

MAX_UPLOAD_BYTES = 64 * 1024 * 1024


class UploadStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def save(self, content: bytes, filename: str, owner_user_id: str | None) -> tuple[str, int]:
        """Validate the bars, store the blob; returns (upload id, number of bars)."""
        if not content:
            raise ValidationFailed("data", "empty", "the upload is empty")
        if len(content) > MAX_UPLOAD_BYTES:
            raise ValidationFailed("data", "too-large", f"at most {MAX_UPLOAD_BYTES} bytes")
        fmt = format_of(filename)
        bars = bars_from_frame(frame_from_bytes(content, fmt))
        uid = uuid.uuid4()
        with self.db.session() as s:
            s.execute(
                insert(optimization_uploads).values(
                    id=uid,
                    owner_user_id=None if owner_user_id is None else uuid.UUID(owner_user_id),
                    filename=filename[:200],
                    format=fmt,
                    sha256=hashlib.sha256(content).hexdigest(),
                    n_bars=len(bars),
                    content=content,
                )
            )
        return str(uid), len(bars)

    def content(self, upload_id: str, owner_user_id: str | None = None) -> tuple[str, bytes]:
        t = optimization_uploads
        try:
            uid = uuid.UUID(upload_id)
        except ValueError as exc:
            raise ValidationFailed("data.upload_id", "unknown") from exc
        with self.db.session() as s:
            row = s.execute(
                select(t.c.format, t.c.content, t.c.owner_user_id).where(t.c.id == uid)
            ).one_or_none()
        if row is None or (owner_user_id is not None and str(row.owner_user_id) != owner_user_id):
            raise NotFound(f"upload {upload_id} not found")
        return str(row.format), bytes(row.content)
