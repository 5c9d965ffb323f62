"""The KV version 2 secrets engine of the fake Vault (data, metadata, list, delete).

Answers follow Vault's documented shapes: a read returns ``{"data": {"data": ...,
"metadata": ...}}``; a missing path is 404 with ``{"errors": []}``; a deleted version is 404
with its metadata (hvac's ``raise_on_deleted_version`` reads that); ``options.cas`` that does
not match the current version is 400.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from tests.kit.vault_transit import VaultHttpError


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Version:
    data: dict[str, Any]
    created_time: str
    deletion_time: str = ""
    destroyed: bool = False

    def metadata(self, number: int, custom: dict[str, str] | None) -> dict[str, Any]:
        return {
            "created_time": self.created_time,
            "custom_metadata": custom,
            "deletion_time": self.deletion_time,
            "destroyed": self.destroyed,
            "version": number,
        }


@dataclass
class Entry:
    created_time: str = field(default_factory=_now)
    updated_time: str = field(default_factory=_now)
    versions: dict[int, Version] = field(default_factory=dict)
    max_versions: int = 0
    cas_required: bool = False
    custom_metadata: dict[str, str] | None = None

    @property
    def current(self) -> int:
        return max(self.versions, default=0)


class KvEngine:
    """One KV v2 mount; ``path`` arguments are below ``data/`` or ``metadata/``."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}

    def read(self, path: str, version: int | None = None) -> dict[str, Any]:
        entry = self.entries.get(path)
        if entry is None or not entry.versions:
            raise VaultHttpError(404)
        number = version or entry.current
        found = entry.versions.get(number)
        if found is None:
            raise VaultHttpError(404)
        meta = found.metadata(number, entry.custom_metadata)
        if found.deletion_time or found.destroyed:
            raise _NotFoundWithData({"data": None, "metadata": meta})
        return {"data": dict(found.data), "metadata": meta}

    def write(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        data = body.get("data")
        if not isinstance(data, dict):
            raise VaultHttpError(400, "no data provided")
        entry = self.entries.setdefault(path, Entry())
        cas = (body.get("options") or {}).get("cas")
        if cas is None and entry.cas_required:
            raise VaultHttpError(400, "check-and-set parameter required for this call")
        if cas is not None and int(cas) != entry.current:
            raise VaultHttpError(400, "check-and-set parameter did not match the current version")
        number = entry.current + 1
        entry.versions[number] = Version(dict(data), _now())
        entry.updated_time = entry.versions[number].created_time
        if entry.max_versions and len(entry.versions) > entry.max_versions:
            del entry.versions[min(entry.versions)]
        return entry.versions[number].metadata(number, entry.custom_metadata)

    def patch(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        current = self.read(path)["data"]
        current.update(body.get("data") or {})
        return self.write(path, {"data": {k: v for k, v in current.items() if v is not None}})

    def delete_latest(self, path: str) -> None:
        entry = self.entries.get(path)
        if entry is not None and entry.versions:
            entry.versions[entry.current].deletion_time = _now()

    def metadata(self, path: str) -> dict[str, Any]:
        entry = self.entries.get(path)
        if entry is None:
            raise VaultHttpError(404)
        return {
            "cas_required": entry.cas_required,
            "created_time": entry.created_time,
            "current_version": entry.current,
            "custom_metadata": entry.custom_metadata,
            "delete_version_after": "0s",
            "max_versions": entry.max_versions,
            "oldest_version": min(entry.versions, default=0),
            "updated_time": entry.updated_time,
            "versions": {
                str(n): {k: v for k, v in ver.metadata(n, None).items() if k != "custom_metadata"}
                for n, ver in entry.versions.items()
            },
        }

    def update_metadata(self, path: str, body: dict[str, Any]) -> None:
        entry = self.entries.setdefault(path, Entry())
        if "max_versions" in body:
            entry.max_versions = int(body["max_versions"])
        if "cas_required" in body:
            entry.cas_required = bool(body["cas_required"])
        if "custom_metadata" in body:
            entry.custom_metadata = dict(body["custom_metadata"] or {})

    def delete_metadata(self, path: str) -> None:
        self.entries.pop(path, None)

    def list(self, path: str) -> dict[str, Any]:
        prefix = path.rstrip("/") + "/" if path.strip("/") else ""
        keys: set[str] = set()
        for name in self.entries:
            if name.startswith(prefix):
                rest = name[len(prefix) :]
                head, sep, _ = rest.partition("/")
                keys.add(head + sep)
        if not keys:
            raise VaultHttpError(404)
        return {"keys": sorted(keys)}


class _NotFoundWithData(VaultHttpError):
    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__(404)
        self.data = data
