"""Tokens, policies and the auth methods (token, AppRole, Kubernetes) of the fake Vault.

Time comes from the server's clock (``now``), which a test may move forward
(``VaultServer.advance``) to expire tokens without sleeping. A policy maps Vault path
patterns (``secret/data/elson/*``, ``transit/+/pii``) to capabilities; ``root`` may do all.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt

from tests.kit.vault_transit import VaultHttpError

SYSTEM_MAX_TTL = 32 * 24 * 3600
DENIED = "permission denied"


@dataclass
class Token:
    id: str
    accessor: str
    policies: list[str]
    ttl: int
    max_ttl: int
    renewable: bool
    issue_time: float
    expire_at: float
    path: str
    display_name: str
    meta: dict[str, str] = field(default_factory=dict)

    def lookup(self, now: float) -> dict[str, Any]:
        return {
            "accessor": self.accessor,
            "creation_time": int(self.issue_time),
            "creation_ttl": self.ttl,
            "display_name": self.display_name,
            "entity_id": "",
            "expire_time": None if self.ttl == 0 else _iso(self.expire_at),
            "explicit_max_ttl": self.max_ttl,
            "id": self.id,
            "issue_time": _iso(self.issue_time),
            "meta": self.meta or None,
            "num_uses": 0,
            "orphan": True,
            "path": self.path,
            "policies": self.policies,
            "renewable": self.renewable,
            "ttl": 0 if self.ttl == 0 else max(0, round(self.expire_at - now)),
            "type": "service",
        }

    def auth(self, now: float) -> dict[str, Any]:
        return {
            "client_token": self.id,
            "accessor": self.accessor,
            "policies": self.policies,
            "token_policies": self.policies,
            "metadata": self.meta or None,
            "lease_duration": 0 if self.ttl == 0 else max(0, round(self.expire_at - now)),
            "renewable": self.renewable,
            "entity_id": "",
            "token_type": "service",
            "orphan": True,
        }


def _iso(ts: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Role:
    name: str
    policies: list[str]
    token_ttl: int
    token_max_ttl: int
    renewable: bool = True
    role_id: str = ""
    secret_ids: set[str] = field(default_factory=set)
    #: Kubernetes roles: bound service accounts and namespaces
    bound_sa: list[str] = field(default_factory=list)
    bound_ns: list[str] = field(default_factory=list)


def _matches(pattern: str, path: str) -> bool:
    """Vault ACL paths: a trailing ``*`` is a prefix glob, ``+`` is one whole segment."""
    glob = pattern.endswith("*")
    parts = (pattern[:-1] if glob else pattern).split("/")
    regex = "/".join("[^/]+" if part == "+" else re.escape(part) for part in parts)
    return re.fullmatch(regex + (".*" if glob else ""), path) is not None


class AuthState:
    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        self.tokens: dict[str, Token] = {}
        self.policies: dict[str, dict[str, set[str]]] = {}
        self.approles: dict[str, Role] = {}
        self.k8s_roles: dict[str, Role] = {}
        self.k8s_signing_key = secrets.token_bytes(32)
        self.root_token = self.issue(["root"], 0, 0, False, "auth/token/root", "root").id

    # --- tokens ----------------------------------------------------------------------
    def issue(
        self, policies: list[str], ttl: int, max_ttl: int, renewable: bool, path: str, name: str
    ) -> Token:
        now = self.now()
        token = Token(
            id="hvs." + secrets.token_urlsafe(24),
            accessor=uuid.uuid4().hex[:24],
            policies=sorted(set(policies) | ({"default"} if "root" not in policies else set())),
            ttl=ttl,
            max_ttl=max_ttl,
            renewable=renewable,
            issue_time=now,
            expire_at=now + ttl if ttl else float("inf"),
            path=path,
            display_name=name,
        )
        self.tokens[token.id] = token
        return token

    def valid(self, token_id: str | None) -> Token:
        token = self.tokens.get(token_id or "")
        if token is None:
            raise VaultHttpError(403, DENIED)
        if token.expire_at <= self.now():
            del self.tokens[token.id]
            raise VaultHttpError(403, DENIED)
        return token

    def renew(self, token: Token, increment: int | None) -> Token:
        if not token.renewable:
            raise VaultHttpError(400, "lease is not renewable")
        now = self.now()
        want = now + (increment if increment else token.ttl)
        cap = token.issue_time + (token.max_ttl or SYSTEM_MAX_TTL)
        token.expire_at = min(want, cap)
        return token

    def revoke(self, token_id: str) -> None:
        self.tokens.pop(token_id, None)

    def allowed(self, token: Token, path: str, capability: str) -> bool:
        if "root" in token.policies:
            return True
        best: tuple[int, set[str]] | None = None
        for name in token.policies:
            for pattern, caps in self.policies.get(name, {}).items():
                if _matches(pattern, path):
                    rank = len(pattern) + (1 if not pattern.endswith("*") else 0)
                    if "deny" in caps:
                        return False
                    if best is None or rank > best[0]:
                        best = (rank, caps)
        if best is None:
            return False
        wanted = {"create", "update"} if capability == "write" else {capability}
        return bool(best[1] & wanted)

    # --- AppRole ---------------------------------------------------------------------
    def add_approle(
        self, name: str, policies: list[str], token_ttl: int, token_max_ttl: int
    ) -> tuple[str, str]:
        role = Role(name, policies, token_ttl, token_max_ttl, role_id=str(uuid.uuid4()))
        self.approles[name] = role
        return role.role_id, self.new_secret_id(name)

    def new_secret_id(self, name: str) -> str:
        if name not in self.approles:
            raise VaultHttpError(400, f'invalid role name "{name}"')
        secret_id = str(uuid.uuid4())
        self.approles[name].secret_ids.add(secret_id)
        return secret_id

    def approle_login(self, body: dict[str, Any]) -> Token:
        role_id, secret_id = body.get("role_id"), body.get("secret_id")
        if not role_id:
            raise VaultHttpError(400, "missing role_id")
        for role in self.approles.values():
            if role.role_id == role_id:
                if secret_id not in role.secret_ids:
                    raise VaultHttpError(400, "invalid role or secret ID")
                return self._login(role, "auth/approle/login", f"approle-{role.name}")
        raise VaultHttpError(400, "invalid role or secret ID")

    def _login(self, role: Role, path: str, name: str) -> Token:
        token = self.issue(role.policies, role.token_ttl, role.token_max_ttl, True, path, name)
        token.meta = {"role_name": role.name}
        return token

    # --- Kubernetes ------------------------------------------------------------------
    def add_k8s_role(
        self, name: str, sa: list[str], ns: list[str], policies: list[str], ttl: int, max_ttl: int
    ) -> None:
        self.k8s_roles[name] = Role(name, policies, ttl, max_ttl, bound_sa=sa, bound_ns=ns)

    def k8s_jwt(self, service_account: str, namespace: str) -> str:
        claims = {
            "iss": "kubernetes/serviceaccount",
            "sub": f"system:serviceaccount:{namespace}:{service_account}",
            "kubernetes.io/serviceaccount/namespace": namespace,
            "kubernetes.io/serviceaccount/service-account.name": service_account,
        }
        return jwt.encode(claims, self.k8s_signing_key, algorithm="HS256")

    def k8s_login(self, body: dict[str, Any]) -> Token:
        name = body.get("role") or ""
        role = self.k8s_roles.get(name)
        if role is None:
            raise VaultHttpError(400, f'invalid role name "{name}"')
        try:
            claims = jwt.decode(body.get("jwt") or "", self.k8s_signing_key, algorithms=["HS256"])
        except jwt.PyJWTError:
            raise VaultHttpError(403, DENIED) from None
        sa = claims.get("kubernetes.io/serviceaccount/service-account.name")
        ns = claims.get("kubernetes.io/serviceaccount/namespace")
        if sa not in role.bound_sa and "*" not in role.bound_sa:
            raise VaultHttpError(403, "service account name not authorized")
        if ns not in role.bound_ns and "*" not in role.bound_ns:
            raise VaultHttpError(403, "namespace not authorized")
        return self._login(role, "auth/kubernetes/login", f"kubernetes-{ns}-{sa}")
