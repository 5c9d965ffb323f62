"""Each process that runs the API keeps one ``VaultSource`` alive (readiness, PII transit).

``wire(services)`` (a capability of ``serve.services.build_services``) logs in, starts the
token renewal, adds the required ``vault`` readiness check (token valid, Vault reachable)
and stops and revokes on close. Without ``ELSON_VAULT_ADDR`` it does nothing.
"""

from __future__ import annotations

from typing import Any

from cluster.readiness import Check


def wire(services: Any) -> None:
    settings = services.settings
    if settings.vault_addr is None:
        return
    from cluster.secrets.vault import open_vault

    source = open_vault(settings)
    services.secrets = source
    services.extra_checks.append(Check("vault", source.probe, required=True))
    services.closers.append(source.close)
