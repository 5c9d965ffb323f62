"""Start-up: read the secrets from their source into the frozen ``Settings``.

``settings_from_sources()`` is what the CLI and the Serve app builder call. It reads the
Vault settings first (``ELSON_VAULT_*``, from the environment and the overrides), refuses an
unsafe Vault configuration in staging/production before any connection (``http://``,
verification off, missing credentials), logs in, reads the one KV v2 secret, and builds
``Settings`` with those values under the explicit overrides. In staging/production a secret
must come from Vault: one found only in the environment is refused. Without
``ELSON_VAULT_ADDR`` (dev/test) secrets come from the environment and ``*_FILE`` files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from cluster.secrets.config import VaultAuth, VaultFields
from cluster.secrets.rules import vault_problems
from cluster.secrets.source import (
    ENV_PREFIX,
    EnvFileSource,
    SecretSource,
    SecretSourceError,
    secret_field_names,
)
from cluster.settings import Environment, Settings, SettingsError, load_settings


class _Bootstrap(VaultFields, BaseSettings):
    """Only what is needed to reach the secret source."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")
    env: Environment = Environment.DEV
    #: dev: a folder of files named after the secret fields
    secrets_dir: Path | None = None


def auth_problems(boot: VaultFields, protected: bool) -> list[str]:
    p = ENV_PREFIX
    method = f"({p}VAULT_AUTH={boot.vault_auth.value})"
    problems: list[str] = []
    if boot.vault_auth is VaultAuth.APPROLE:
        if boot.vault_role_id is None:
            problems.append(f"{p}VAULT_ROLE_ID is missing {method}")
        if boot.vault_secret_id is None and boot.vault_secret_id_file is None:
            problems.append(f"{p}VAULT_SECRET_ID or {p}VAULT_SECRET_ID_FILE is missing {method}")
    elif boot.vault_auth is VaultAuth.KUBERNETES:
        if not boot.vault_k8s_role:
            problems.append(f"{p}VAULT_K8S_ROLE is missing {method}")
    else:
        if boot.vault_token is None:
            problems.append(f"{p}VAULT_TOKEN is missing {method}")
        if protected:
            problems.append(f"{p}VAULT_AUTH=token is for dev/test only: use approle or kubernetes")
    return problems


def open_source(boot: _Bootstrap) -> SecretSource:
    """The logged-in source for these settings (``SettingsError`` when refused)."""
    if boot.vault_addr is None:
        return EnvFileSource(secrets_dir=boot.secrets_dir)
    from cluster.secrets.vault import VaultSource

    try:
        source = VaultSource(boot)
        source.login()
    except SecretSourceError as exc:
        raise SettingsError(f"secrets: {exc}") from None
    return source


def settings_from_sources(**overrides: Any) -> Settings:
    environ = os.environ
    try:
        boot = _Bootstrap(**{k: v for k, v in overrides.items() if k in _Bootstrap.model_fields})
    except ValidationError as exc:
        raise SettingsError(str(exc)) from None
    protected = boot.env.is_protected
    problems: list[str] = []
    if boot.vault_addr is not None:
        # refused before any connection; without an address Settings names what is missing
        if protected:
            problems += vault_problems(boot)
            if not boot.vault_addr.startswith("https://"):
                problems.append(f"{ENV_PREFIX}VAULT_ADDR must use https:// outside dev/test")
        problems += auth_problems(boot, protected)
    if problems:
        raise SettingsError(f"unsafe {boot.env.value} configuration: " + "; ".join(problems))
    names = secret_field_names(Settings)
    source = open_source(boot)
    try:
        found = source.read(names)
    except SecretSourceError as exc:
        raise SettingsError(f"secrets: {exc}") from None
    finally:
        source.close()
    if protected and boot.vault_addr is not None:
        outside = [
            f"{ENV_PREFIX}{n.upper()}"
            for n in names
            if n not in found
            and n not in overrides
            and any(f"{ENV_PREFIX}{n.upper()}{s}" in environ for s in ("", "_FILE"))
        ]
        if outside:
            raise SettingsError(
                f"unsafe {boot.env.value} configuration: {', '.join(outside)} set in the "
                f"environment: staging/production take secrets from {source.where} only"
            )
    try:
        return load_settings(**{**found, **overrides})
    except SettingsError as exc:
        keys = ", ".join(sorted(found)) or "none"
        raise SettingsError(
            f"{exc} (secrets read from {source.where}; keys found: {keys})"
        ) from None
