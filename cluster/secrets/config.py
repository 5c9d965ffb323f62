"""The Vault settings (``ELSON_VAULT_*``), a mixin of ``cluster.settings.Settings``.

Secrets live in one KV v2 secret (``<vault_kv_mount>/data/<vault_kv_path>``) whose keys are
the settings' field names (``jwt_secret``, ``database_url``, ...). Auth is AppRole (role id
and secret id, or a file holding the secret id), Kubernetes (a role and the service
account's projected token file) or a token (dev).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr


class VaultAuth(StrEnum):
    APPROLE = "approle"
    KUBERNETES = "kubernetes"
    TOKEN = "token"


class VaultFields(BaseModel):
    #: ``https://...``; set: secrets come from Vault (required in staging/production)
    vault_addr: str | None = None
    vault_auth: VaultAuth = VaultAuth.APPROLE
    vault_role_id: SecretStr | None = None
    vault_secret_id: SecretStr | None = None
    #: a file holding the AppRole secret id (read at each login; wins over vault_secret_id)
    vault_secret_id_file: Path | None = None
    vault_approle_mount: str = "approle"
    vault_k8s_role: str | None = None
    vault_k8s_jwt_file: Path = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
    vault_k8s_mount: str = "kubernetes"
    #: dev only: a token instead of a login
    vault_token: SecretStr | None = None
    #: the CA bundle that signs Vault's certificate (none: the system's trust store)
    vault_ca_cert: Path | None = None
    #: refused as false outside dev/test
    vault_tls_verify: bool = True
    vault_kv_mount: str = "secret"
    vault_kv_path: str = "elson/app"
    vault_timeout_s: float = Field(5.0, gt=0)
    #: the token is renewed when this fraction of its lease has passed
    vault_renew_fraction: float = Field(2 / 3, gt=0, lt=1)

    @property
    def vault_secret_location(self) -> str:
        return f"{self.vault_kv_mount}/data/{self.vault_kv_path}"
