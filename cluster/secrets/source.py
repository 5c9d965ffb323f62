"""The secret source port, its errors, and the env/file source for development.

Errors are grouped by what start-up and readiness do with them: ``SecretUnavailable``
(Vault unreachable, sealed, 5xx: retry, readiness down), ``SecretAccessDenied`` (login
refused, token revoked and no new login possible: stop and page), ``SecretTlsError`` (the
certificate does not verify: refuse to start). All are ``SecretSourceError``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from pydantic import SecretStr

ENV_PREFIX = "ELSON_"


class SecretSourceError(Exception):
    """A secret could not be read; the message names the source, never a value."""


class SecretUnavailable(SecretSourceError):
    pass


class SecretAccessDenied(SecretSourceError):
    pass


class SecretTlsError(SecretSourceError):
    pass


class SecretSource(Protocol):
    #: where secrets are read, for messages (``vault secret/data/elson/app``)
    where: str

    def read(self, names: Iterable[str]) -> dict[str, str]:
        """The values of those ``names`` that the source holds (absent names are left out)."""
        ...

    def probe(self) -> dict[str, Any]:
        """For readiness: raises when the source cannot serve; details otherwise."""
        ...

    def close(self) -> None: ...


def secret_field_names(model: type[Any], *, exclude_prefix: str = "vault_") -> list[str]:
    """The settings fields that hold secrets: every ``SecretStr`` field but Vault's own
    credentials (those are how we reach the source, not what it holds)."""
    names = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        args = getattr(annotation, "__args__", ())
        if (annotation is SecretStr or SecretStr in args) and not name.startswith(exclude_prefix):
            names.append(name)
    return names


class EnvFileSource:
    """Development secrets: ``ELSON_<NAME>`` variables, ``ELSON_<NAME>_FILE`` files (Docker
    and Kubernetes secret files) and an optional folder of files named after the fields."""

    def __init__(
        self, environ: Mapping[str, str] | None = None, secrets_dir: Path | None = None
    ) -> None:
        self._environ = os.environ if environ is None else environ
        self._dir = secrets_dir
        self.where = "environment" + (f" and {secrets_dir}" if secrets_dir else "")

    def read(self, names: Iterable[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for name in names:
            var = ENV_PREFIX + name.upper()
            if var in self._environ:
                found[name] = self._environ[var]
            elif f"{var}_FILE" in self._environ:
                found[name] = _read_file(Path(self._environ[f"{var}_FILE"]), f"{var}_FILE")
            elif self._dir is not None and (self._dir / name).is_file():
                found[name] = _read_file(self._dir / name, str(self._dir / name))
        return found

    def probe(self) -> dict[str, Any]:
        return {"source": "env"}

    def close(self) -> None:
        return None


def _read_file(path: Path, what: str) -> str:
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise SecretUnavailable(f"{what}: cannot read {path}: {exc.strerror}") from None
