"""Where secrets come from: Vault (KV v2 over TLS) in staging/production, env/files in dev.

Code never asks Vault: start-up (``startup.settings_from_sources``) reads the secrets into
the frozen ``Settings``; each process that needs Vault later (readiness, PII transit) holds
one ``VaultSource`` (``wiring.wire``) that keeps its token renewed.
"""
