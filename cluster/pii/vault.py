"""The Vault client of a process outside ``Services`` (CLI, jobs) for the transit KEK."""

from __future__ import annotations

from typing import Any


def transit_client(settings: Any) -> Any:
    """A logged-in ``VaultSource`` (the caller closes it); ``ELSON_VAULT_ADDR`` required."""
    from cluster.secrets.vault import VaultSource
    from domain.errors import OperatorError

    if settings.vault_addr is None:
        raise OperatorError("ELSON_PII_KEK=transit needs ELSON_VAULT_ADDR")
    source = VaultSource(settings)
    source.login()
    return source
