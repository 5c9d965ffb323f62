"""A random secret kept in a file of the data dir, for dev only: created once by whichever
process comes first (``O_EXCL``), read by every other (waiting out a writer mid-write).
Staging and production never get here: their secrets are configured (Vault or env)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def file_secret(path: Path, *, min_len: int = 32) -> str:
    """The secret in ``path``, created with 48 random bytes (URL-safe) when missing.
    Raises ``OSError`` when the folder is not writable or the file stays incomplete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    for _ in range(50):  # another process may be mid-write: wait for a whole secret
        text = path.read_text().strip()
        if len(text) >= min_len:
            return text
    raise OSError(f"{path} holds no whole secret")
