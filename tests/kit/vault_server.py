"""A fake HashiCorp Vault over real TLS, for the real ``hvac`` client.

It serves the subset of Vault's HTTP API that Elson uses, on 127.0.0.1 with an ephemeral
port, in a background thread (hvac is synchronous): KV v2 (``secret/``), transit
(``transit/``), AppRole and Kubernetes login, token lookup/renew/revoke (self) and create,
and ``sys/health``. Errors have Vault's shape ``{"errors": [...]}``: 403 "permission denied"
(bad, expired or revoked token, or a path no policy grants), 400 for bad input (transit
below ``min_decryption_version``), 404 for a missing path.

Tests set it up from Python (``put_policy``, ``add_approle``, ``kv_put``, ...), make it
misbehave (``revoke``, ``seal``, ``fail_next``, ``advance`` the clock past a TTL) and read
what was asked of it (``requests``). ``client()`` returns an ``hvac.Client`` that trusts the
test CA: always pass ``verify=`` explicitly, hvac reads ``VAULT_CACERT`` at import.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.kit.vault_auth import DENIED, AuthState, Token
from tests.kit.vault_kv import KvEngine, _NotFoundWithData
from tests.kit.vault_tls import TlsFiles
from tests.kit.vault_transit import TransitEngine, VaultHttpError, _BatchFailure

_CAPABILITY = {"GET": "read", "LIST": "list", "DELETE": "delete"}


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    accessor: str | None
    status: int
    at: float


class VaultServer:
    def __init__(self, tls: TlsFiles | None, *, kv_mounts: tuple[str, ...] = ("secret",)) -> None:
        self.tls = tls
        self._offset = 0.0
        self._lock = threading.RLock()
        self.auth = AuthState(self.now)
        self.kv = {mount: KvEngine() for mount in kv_mounts}
        self.transit = {"transit": TransitEngine()}
        self.requests: list[Seen] = []
        self.sealed = False
        self._faults: deque[tuple[int, list[str]]] = deque()
        self._httpd: _Httpd | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # --- lifecycle -------------------------------------------------------------------
    def start(self) -> VaultServer:
        httpd = _Httpd(("127.0.0.1", 0), _Handler)
        httpd.vault = self
        if self.tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(self.tls.server_cert, self.tls.server_key)
            httpd.ssl_context = ctx
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        scheme = "https" if self.tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{httpd.server_address[1]}"
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.close_connections()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> VaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def ca_cert(self) -> Path:
        assert self.tls is not None
        return self.tls.ca_cert

    def client(self, token: str | None = None, verify: str | bool | None = None) -> Any:
        import hvac

        return hvac.Client(
            url=self.url, token=token, verify=str(self.ca_cert) if verify is None else verify
        )

    # --- clock and faults ------------------------------------------------------------
    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the server's clock forward: tokens past their TTL are then expired."""
        with self._lock:
            self._offset += seconds

    def seal(self) -> None:
        self.sealed = True

    def unseal(self) -> None:
        self.sealed = False

    def fail_next(self, n: int = 1, status: int = 503, error: str = "fault injected") -> None:
        with self._lock:
            self._faults.extend([(status, [error])] * n)

    def seen(self, path: str) -> list[Seen]:
        return [r for r in self.requests if r.path == path]

    # --- setup from Python -----------------------------------------------------------
    @property
    def root_token(self) -> str:
        return self.auth.root_token

    def put_policy(self, name: str, rules: dict[str, list[str]]) -> None:
        with self._lock:
            self.auth.policies[name] = {path: set(caps) for path, caps in rules.items()}

    def add_approle(
        self, name: str, policies: list[str], *, token_ttl: int = 3600, token_max_ttl: int = 0
    ) -> tuple[str, str]:
        """A role; returns ``(role_id, secret_id)``."""
        with self._lock:
            return self.auth.add_approle(name, policies, token_ttl, token_max_ttl)

    def add_kubernetes_role(
        self,
        name: str,
        *,
        service_accounts: list[str],
        namespaces: list[str],
        policies: list[str],
        token_ttl: int = 3600,
        token_max_ttl: int = 0,
    ) -> None:
        with self._lock:
            self.auth.add_k8s_role(
                name, service_accounts, namespaces, policies, token_ttl, token_max_ttl
            )

    def kubernetes_jwt(self, service_account: str, namespace: str) -> str:
        """A service-account JWT this Vault's Kubernetes auth accepts."""
        return self.auth.k8s_jwt(service_account, namespace)

    def create_token(
        self, policies: list[str], *, ttl: int = 3600, max_ttl: int = 0, renewable: bool = True
    ) -> str:
        with self._lock:
            return self.auth.issue(
                policies, ttl, max_ttl, renewable, "auth/token/create", "token"
            ).id

    def revoke(self, token: str) -> None:
        """Revoke a token out of band (an operator, or Vault losing it)."""
        with self._lock:
            self.auth.revoke(token)

    def revoke_all(self) -> None:
        with self._lock:
            for token_id in [t for t in self.auth.tokens if t != self.root_token]:
                self.auth.revoke(token_id)

    def token_for(self, accessor: str) -> Token | None:
        return next((t for t in self.auth.tokens.values() if t.accessor == accessor), None)

    def kv_put(self, path: str, data: dict[str, Any], mount: str = "secret") -> int:
        with self._lock:
            return int(self.kv[mount].write(path, {"data": data})["version"])

    def transit_key(self, name: str, **options: Any) -> dict[str, Any]:
        with self._lock:
            return self.transit["transit"].create_key(name, options)

    # --- HTTP dispatch (called from handler threads) ----------------------------------
    def handle(
        self, method: str, raw_path: str, token: str | None, body: dict[str, Any]
    ) -> tuple[int, Any]:
        split = urlsplit(raw_path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        if method == "GET" and query.get("list") == "true":
            method = "LIST"
        path = split.path.removeprefix("/v1/").strip("/")
        accessor = None
        with self._lock:
            try:
                if self._faults:
                    status, errors = self._faults.popleft()
                    raise VaultHttpError(status, *errors)
                if path == "sys/health":
                    return self._health()
                if self.sealed:
                    raise VaultHttpError(503, "Vault is sealed")
                result = self._route(method, path, token, body, query)
                status, payload = (204, None) if result is None else (200, result)
            except _NotFoundWithData as exc:
                status, payload = 404, {"data": exc.data}
            except _BatchFailure as exc:
                status, payload = exc.status, {"data": {"batch_results": exc.results}}
            except VaultHttpError as exc:
                status, payload = exc.status, {"errors": exc.errors}
            found = self.auth.tokens.get(token or "")
            accessor = found.accessor if found else None
            self.requests.append(Seen(method, path, accessor, status, time.monotonic()))
        return status, payload

    def _health(self) -> tuple[int, Any]:
        body = {
            "initialized": True,
            "sealed": self.sealed,
            "standby": False,
            "version": "1.18.0-fake",
        }
        return (503 if self.sealed else 200), body

    def _route(
        self, method: str, path: str, token: str | None, body: dict[str, Any], query: dict[str, str]
    ) -> dict[str, Any] | None:
        parts = path.split("/")
        if (
            parts[:2] == ["auth", "approle"]
            and parts[2:] == ["login"]
            and method in ("POST", "PUT")
        ):
            return {"auth": self.auth.approle_login(body).auth(self.now())}
        if (
            parts[:2] == ["auth", "kubernetes"]
            and parts[2:] == ["login"]
            and method in ("POST", "PUT")
        ):
            return {"auth": self.auth.k8s_login(body).auth(self.now())}
        caller = self.auth.valid(token)
        if parts[:2] == ["auth", "token"]:
            return self._token_route(method, parts[2:], caller, body)
        if not self.auth.allowed(caller, path, _CAPABILITY.get(method, "write")):
            raise VaultHttpError(403, DENIED)
        if (
            parts[:2] == ["auth", "approle"]
            and len(parts) == 5
            and parts[4] in ("role-id", "secret-id")
        ):
            role = self.auth.approles.get(parts[3])
            if role is None:
                raise VaultHttpError(404)
            if parts[4] == "role-id":
                return {"data": {"role_id": role.role_id}}
            return {"data": {"secret_id": self.auth.new_secret_id(parts[3]), "secret_id_ttl": 0}}
        if parts[0] in self.kv and len(parts) >= 2:
            return self._kv_route(
                self.kv[parts[0]], method, parts[1], "/".join(parts[2:]), body, query
            )
        if parts[0] in self.transit and len(parts) >= 2:
            return self._transit_route(self.transit[parts[0]], method, parts[1:], body)
        raise VaultHttpError(404, f'no handler for route "{path}". route entry not found.')

    def _token_route(
        self, method: str, rest: list[str], caller: Token, body: dict[str, Any]
    ) -> dict[str, Any] | None:
        now = self.now()
        if rest == ["lookup-self"] and method == "GET":
            return {"data": caller.lookup(now)}
        if rest == ["renew-self"] and method in ("POST", "PUT"):
            increment = _seconds(body.get("increment"))
            return {"auth": self.auth.renew(caller, increment).auth(now)}
        if rest == ["revoke-self"] and method in ("POST", "PUT"):
            self.auth.revoke(caller.id)
            return None
        if rest == ["create"] and method in ("POST", "PUT"):
            if "root" not in caller.policies:
                raise VaultHttpError(403, DENIED)
            ttl = _seconds(body.get("ttl")) or 3600
            token = self.auth.issue(
                list(body.get("policies") or ["default"]),
                ttl,
                _seconds(body.get("explicit_max_ttl")) or 0,
                bool(body.get("renewable", True)),
                "auth/token/create",
                str(body.get("display_name") or "token"),
            )
            return {"auth": token.auth(now)}
        raise VaultHttpError(403, DENIED)

    @staticmethod
    def _kv_route(
        kv: KvEngine, method: str, kind: str, path: str, body: dict[str, Any], query: dict[str, str]
    ) -> dict[str, Any] | None:
        if kind == "data":
            if method == "GET":
                return {
                    "data": kv.read(path, int(query["version"]) if "version" in query else None)
                }
            if method in ("POST", "PUT"):
                return {"data": kv.write(path, body)}
            if method == "PATCH":
                return {"data": kv.patch(path, body)}
            if method == "DELETE":
                kv.delete_latest(path)
                return None
        if kind == "metadata":
            if method == "LIST":
                return {"data": kv.list(path)}
            if method == "GET":
                return {"data": kv.metadata(path)}
            if method in ("POST", "PUT"):
                kv.update_metadata(path, body)
                return None
            if method == "DELETE":
                kv.delete_metadata(path)
                return None
        raise VaultHttpError(405)

    @staticmethod
    def _transit_route(
        engine: TransitEngine, method: str, rest: list[str], body: dict[str, Any]
    ) -> dict[str, Any] | None:
        op = rest[0]
        if op == "keys" and len(rest) == 1 and method == "LIST":
            if not engine.keys:
                raise VaultHttpError(404)
            return {"data": {"keys": sorted(engine.keys)}}
        if op == "keys" and len(rest) == 2:
            if method == "GET":
                return {"data": engine.key(rest[1], missing=404).info()}
            if method in ("POST", "PUT"):
                return {"data": engine.create_key(rest[1], body)}
            if method == "DELETE":
                engine.delete(rest[1])
                return None
        if op == "keys" and len(rest) == 3 and method in ("POST", "PUT"):
            action = {"config": engine.configure, "trim": engine.trim}
            if rest[2] == "rotate":
                return {"data": engine.rotate(rest[1])}
            if rest[2] in action:
                return {"data": action[rest[2]](rest[1], body)}
        if method in ("POST", "PUT") and len(rest) == 2:
            ops = {"encrypt": engine.encrypt, "decrypt": engine.decrypt, "rewrap": engine.rewrap}
            if op in ops:
                return {"data": ops[op](rest[1], body)}
        if op == "datakey" and len(rest) == 3 and method in ("POST", "PUT"):
            return {"data": engine.datakey(rest[1], rest[2], body)}
        raise VaultHttpError(405)


def _seconds(value: Any) -> int | None:
    """Vault durations: an integer of seconds or a string like ``"30s"``, ``"5m"``, ``"1h"``."""
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        return int(value)
    text = str(value).strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text[-1:] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


class _Httpd(ThreadingHTTPServer):
    daemon_threads = True
    vault: VaultServer
    ssl_context: ssl.SSLContext | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs in the request's own thread: a client that refuses the
        # certificate (wrong CA) fails only its own connection.
        if self.ssl_context is not None:
            try:
                request = self.ssl_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        with self._open_lock:
            self._open.add(request)
        try:
            super().finish_request(request, client_address)
        finally:
            with self._open_lock:
                self._open.discard(request)

    def close_connections(self) -> None:
        with self._open_lock:
            for conn in list(self._open):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Httpd
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        if not isinstance(body, dict):
            status, payload = 400, {"errors": ["failed to parse JSON input"]}
        else:
            token = self.headers.get("X-Vault-Token")
            status, payload = self.server.vault.handle(self.command, self.path, token, body)
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_LIST = _serve
