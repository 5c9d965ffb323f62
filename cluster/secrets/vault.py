"""Secrets from HashiCorp Vault through ``hvac``: KV v2 over verified TLS, a kept-alive token.

One ``VaultSource`` per process. It logs in (AppRole, Kubernetes or a dev token), renews
its token in a background thread once ``vault_renew_fraction`` of the lease has passed, and
logs in anew when renewal fails, the token was revoked (a call answered 403) or the
token's max TTL stops renewals from extending it. ``verify`` is always passed explicitly:
hvac reads ``VAULT_CACERT`` and friends when imported (FIELD-NOTES).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import hvac
import requests
from hvac import exceptions as hvac_errors

from cluster.secrets.config import VaultAuth, VaultFields
from cluster.secrets.source import (
    SecretAccessDenied,
    SecretSourceError,
    SecretTlsError,
    SecretUnavailable,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
_MAX_BACKOFF_S = 30.0
#: a token without expiry (dev root token) is still looked at this often
_IDLE_CHECK_S = 60.0


@dataclass(frozen=True)
class Lease:
    ttl_s: float
    renewable: bool
    obtained_at: float  # time.monotonic()


class VaultSource:
    def __init__(self, config: VaultFields) -> None:
        if not config.vault_addr:
            raise ValueError("VaultSource needs ELSON_VAULT_ADDR")
        self._cfg = config
        self.where = f"vault {config.vault_secret_location}"
        verify: str | bool = config.vault_tls_verify
        if config.vault_ca_cert is not None:
            if not config.vault_ca_cert.is_file():
                raise SecretTlsError(f"ELSON_VAULT_CA_CERT: {config.vault_ca_cert} does not exist")
            verify = str(config.vault_ca_cert)
        self._client = hvac.Client(
            url=config.vault_addr, verify=verify, timeout=config.vault_timeout_s
        )
        self._lock = threading.RLock()
        self._lease: Lease | None = None
        self._login_ttl_s = 0.0
        self._generation = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.logins = 0
        self.renewals = 0
        self.renew_failures = 0

    # --- auth ------------------------------------------------------------------------
    def login(self) -> None:
        cfg = self._cfg
        with self._lock:
            try:
                if cfg.vault_auth is VaultAuth.TOKEN:
                    auth = self._token_login()
                else:
                    if cfg.vault_auth is VaultAuth.APPROLE:
                        response = self._client.auth.approle.login(
                            role_id=_secret(cfg.vault_role_id),
                            secret_id=self._approle_secret_id(),
                            mount_point=cfg.vault_approle_mount,
                        )
                    else:
                        response = self._client.auth.kubernetes.login(
                            role=cfg.vault_k8s_role,
                            jwt=cfg.vault_k8s_jwt_file.read_text().strip(),
                            mount_point=cfg.vault_k8s_mount,
                        )
                    auth = response["auth"]
            except (hvac_errors.VaultError, requests.RequestException) as exc:
                raise self._translate(exc, f"vault {cfg.vault_auth.value} login") from exc
            except OSError as exc:  # after requests' errors, which are OSErrors too
                raise SecretAccessDenied(
                    f"vault login: cannot read a credential file: {exc.strerror}"
                ) from None
            self._lease = Lease(float(auth["lease_duration"]), bool(auth["renewable"]), _now())
            self._login_ttl_s = self._lease.ttl_s
            self._generation += 1
            self.logins += 1
            log.info("vault login (%s): lease %ss", cfg.vault_auth.value, auth["lease_duration"])

    def _token_login(self) -> dict[str, Any]:
        self._client.token = _secret(self._cfg.vault_token)
        data = self._client.auth.token.lookup_self()["data"]
        return {"lease_duration": data["ttl"], "renewable": data["renewable"]}

    def _approle_secret_id(self) -> str:
        if self._cfg.vault_secret_id_file is not None:
            return self._cfg.vault_secret_id_file.read_text().strip()
        return _secret(self._cfg.vault_secret_id)

    # --- calls -----------------------------------------------------------------------
    def call(self, fn: Callable[[hvac.Client], T], action: str) -> T:
        """Run ``fn`` with the logged-in client; a 403 (token revoked or expired) logs in
        again once and retries. Errors come out as ``SecretSourceError`` subclasses."""
        if self._lease is None:
            self.login()
        generation = self._generation
        try:
            return fn(self._client)
        except hvac_errors.Forbidden as exc:
            if self._cfg.vault_auth is VaultAuth.TOKEN:
                raise self._translate(exc, action) from exc
            with self._lock:
                if self._generation == generation:
                    log.warning("vault answered 403 to %s: logging in again", action)
                    self.login()
        except (hvac_errors.VaultError, requests.RequestException) as exc:
            raise self._translate(exc, action) from exc
        try:
            return fn(self._client)
        except (hvac_errors.VaultError, requests.RequestException) as exc:
            raise self._translate(exc, action) from exc

    def client(self) -> Any:
        """An hvac-like client (``client().secrets.transit.encrypt_data(...)``) whose every
        call goes through ``call``: logged in again on a 403, errors translated."""
        return _Relogging(self, ())

    def read(self, names: Iterable[str]) -> dict[str, str]:
        cfg = self._cfg
        try:
            response = self.call(
                lambda c: c.secrets.kv.v2.read_secret_version(
                    path=cfg.vault_kv_path,
                    mount_point=cfg.vault_kv_mount,
                    raise_on_deleted_version=True,
                ),
                "read secrets",
            )
        except SecretSourceError as exc:
            if isinstance(exc.__cause__, hvac_errors.InvalidPath):
                raise SecretSourceError(f"{self.where} does not exist") from None
            raise
        data = response["data"]["data"] or {}
        wanted = set(names)
        return {k: str(v) for k, v in data.items() if k in wanted and v is not None}

    def probe(self) -> dict[str, Any]:
        data = self.call(lambda c: c.auth.token.lookup_self()["data"], "token lookup")
        return {
            "auth": self._cfg.vault_auth.value,
            "token_ttl_s": data["ttl"],
            "logins": self.logins,
            "renewals": self.renewals,
            "renew_failures": self.renew_failures,
        }

    # --- renewal ---------------------------------------------------------------------
    def start_renewal(self) -> None:
        if self._thread is not None:
            return
        if self._lease is None:
            self.login()
        self._thread = threading.Thread(target=self._renew_loop, name="vault-renew", daemon=True)
        self._thread.start()

    def _renew_loop(self) -> None:
        backoff = 0.5
        while not self._stop.wait(self._next_renewal_in()):
            try:
                self.renew_or_login()
                backoff = 0.5
            except SecretSourceError as exc:
                self.renew_failures += 1
                log.warning("vault token renewal failed: %s", exc)
                if self._stop.wait(backoff):
                    return
                backoff = min(backoff * 2, _MAX_BACKOFF_S)

    def _next_renewal_in(self) -> float:
        lease = self._lease
        if lease is None or lease.ttl_s <= 0:
            return _IDLE_CHECK_S
        due = lease.obtained_at + lease.ttl_s * self._cfg.vault_renew_fraction
        return max(due - _now(), 0.05)

    def renew_or_login(self) -> None:
        """Renew the token; log in anew when it is not renewable, was revoked, or its
        max TTL no longer lets a renewal extend it by half its first lease."""
        lease = self._lease
        can_login = self._cfg.vault_auth is not VaultAuth.TOKEN
        if lease is not None and lease.renewable:
            try:
                auth = self._client.auth.token.renew_self()["auth"]
            except (hvac_errors.VaultError, requests.RequestException) as exc:
                error = self._translate(exc, "vault token renewal")
                if not can_login or isinstance(error, SecretTlsError):
                    raise error from exc
                log.warning("%s: logging in again", error)
                self.login()
                return
            self._lease = Lease(float(auth["lease_duration"]), bool(auth["renewable"]), _now())
            self.renewals += 1
            if not can_login or self._lease.ttl_s >= self._login_ttl_s / 2:
                return
        elif not can_login:
            return
        self.login()

    def close(self) -> None:
        """Stop renewing; a token this source logged in for is revoked (not a given one)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._lease is not None and self._cfg.vault_auth is not VaultAuth.TOKEN:
            try:
                self._client.auth.token.revoke_self()
            except (hvac_errors.VaultError, requests.RequestException):
                log.info("vault token revoke on close failed", exc_info=True)
        self._lease = None

    # --- errors ----------------------------------------------------------------------
    def _translate(self, exc: Exception, action: str) -> SecretSourceError:
        addr = self._cfg.vault_addr
        if isinstance(exc, requests.exceptions.SSLError):
            return SecretTlsError(
                f"{action}: the TLS certificate of {addr} does not verify against "
                f"ELSON_VAULT_CA_CERT ({self._cfg.vault_ca_cert or 'system trust store'})"
            )
        if isinstance(exc, requests.RequestException):
            return SecretUnavailable(f"{action}: {addr} unreachable ({type(exc).__name__})")
        errors = "; ".join(str(e) for e in getattr(exc, "errors", None) or []) or "no detail"
        if isinstance(exc, hvac_errors.Forbidden | hvac_errors.Unauthorized):
            return SecretAccessDenied(f"{action}: permission denied by {addr}")
        if isinstance(exc, hvac_errors.InvalidRequest) and "login" in action:
            return SecretAccessDenied(f"{action}: refused by {addr}: {errors}")
        if isinstance(exc, hvac_errors.InvalidRequest | hvac_errors.InvalidPath):
            return SecretSourceError(f"{action}: {type(exc).__name__} from {addr}: {errors}")
        return SecretUnavailable(f"{action}: {type(exc).__name__} from {addr}: {errors}")


class _Relogging:
    """A path into the hvac client (``secrets.transit.decrypt_data``), called via ``call``."""

    def __init__(self, source: VaultSource, path: tuple[str, ...]) -> None:
        self._source, self._path = source, path

    def __getattr__(self, name: str) -> _Relogging:
        return _Relogging(self._source, (*self._path, name))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        def run(client: hvac.Client) -> Any:
            target: Any = client
            for name in self._path:
                target = getattr(target, name)
            return target(*args, **kwargs)

        return self._source.call(run, "vault " + ".".join(self._path[-2:]))


def open_vault(config: VaultFields) -> VaultSource:
    """A logged-in source whose token is kept renewed until ``close()``."""
    source = VaultSource(config)
    source.login()
    source.start_renewal()
    return source


def _secret(value: Any) -> str:
    return "" if value is None else str(value.get_secret_value())


def _now() -> float:
    return time.monotonic()
