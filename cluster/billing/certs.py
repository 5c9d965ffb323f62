"""Fetch and validate the certificate a PayPal webhook names (``PAYPAL-CERT-URL``).

This is an SSRF boundary. The URL is judged from its text first (``domain.billing.
webhook.cert_url_refusal``): a refused URL never reaches the network, and every
connection attempt is recorded in ``attempts`` so tests can show it. An allowed URL is
fetched with a 5 s timeout and no redirects; the PEM's first certificate must chain to
the trust store (the system's, or the test CA under the trust override), have a subject
CN ending ``.paypal.com`` and be within its validity. Validated certificates are cached by
URL (and re-checked for expiry on each use).
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import httpx
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from domain.billing.webhook import WebhookRefused, cert_cn_ok, cert_url_refusal

MAX_PEM_BYTES = 64 * 1024


def system_trust() -> tuple[list[x509.Certificate], ssl.SSLContext]:
    """The trust store PayPal's chain is validated against (certifi's bundle, which is
    what httpx trusts too) and the TLS context for fetching."""
    import warnings

    import certifi
    from cryptography.utils import CryptographyDeprecationWarning

    with open(certifi.where(), "rb") as f, warnings.catch_warnings():
        # a few old roots in the bundle have non-positive serial numbers
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        roots = x509.load_pem_x509_certificates(f.read())
    return roots, ssl.create_default_context(cafile=certifi.where())


def override_trust(ca_pem: str) -> tuple[list[x509.Certificate], ssl.SSLContext]:
    """The trust override (dev/test only; settings refuse it in staging/production)."""
    return x509.load_pem_x509_certificates(ca_pem.encode()), ssl.create_default_context(
        cadata=ca_pem
    )


class CertFetcher:
    def __init__(
        self,
        allowed_hosts: frozenset[str],
        trust: Callable[[], tuple[Sequence[x509.Certificate], ssl.SSLContext]],
        *,
        any_port_hosts: frozenset[str] = frozenset(),
        timeout_s: float = 5.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.allowed_hosts, self.any_port_hosts = allowed_hosts, any_port_hosts
        self._trust_source = trust
        self._trust: tuple[Store, ssl.SSLContext] | None = None  # loaded on first use
        self._timeout_s, self._now = timeout_s, now
        self._cache: dict[str, x509.Certificate] = {}
        self._lock = threading.Lock()
        #: every URL a connection was attempted to (tests assert none for refused URLs)
        self.attempts: list[str] = []

    def certificate(self, url: str) -> x509.Certificate:
        why = cert_url_refusal(url, self.allowed_hosts, any_port_hosts=self.any_port_hosts)
        if why is not None:
            raise WebhookRefused("bad-cert-url", why)
        with self._lock:
            cached = self._cache.get(url)
        now = self._now()
        if cached is not None and cached.not_valid_after_utc >= now:
            return cached
        chain = self._download(url)
        leaf = self._validate(chain, now)
        with self._lock:
            self._cache[url] = leaf
        return leaf

    def _trusted(self) -> tuple[Store, ssl.SSLContext]:
        if self._trust is None:
            roots, tls = self._trust_source()
            self._trust = (Store(list(roots)), tls)
        return self._trust

    def _download(self, url: str) -> list[x509.Certificate]:
        self.attempts.append(url)
        try:
            with httpx.Client(
                verify=self._trusted()[1], timeout=self._timeout_s, follow_redirects=False
            ) as http:
                r = http.get(url)
        except httpx.HTTPError as exc:
            raise WebhookRefused("cert-unavailable", type(exc).__name__) from exc
        if r.status_code != 200:
            raise WebhookRefused(
                "cert-unavailable", f"the certificate URL answered {r.status_code}"
            )
        if len(r.content) > MAX_PEM_BYTES:
            raise WebhookRefused("bad-certificate", "the certificate is too large")
        try:
            certs = x509.load_pem_x509_certificates(r.content)
        except ValueError as exc:
            raise WebhookRefused("bad-certificate", "not a PEM certificate") from exc
        return certs

    def _validate(self, chain: list[x509.Certificate], now: datetime) -> x509.Certificate:
        leaf, intermediates = chain[0], chain[1:]
        names = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        cn = str(names[0].value) if names else ""
        if not cert_cn_ok(cn):
            raise WebhookRefused("bad-certificate", f"subject CN {cn!r} is not *.paypal.com")
        if not (leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc):
            raise WebhookRefused("bad-certificate", "the certificate is not valid now")
        verifier = (
            PolicyBuilder()
            .store(self._trusted()[0])
            .time(now)
            .build_server_verifier(x509.DNSName(cn))
        )
        try:
            verifier.verify(leaf, intermediates)
        except VerificationError as exc:
            raise WebhookRefused("bad-certificate", f"chain not trusted: {exc}") from exc
        return leaf
