"""The certificate fetcher against a local TLS host: chain to the trust store, CN ending
``.paypal.com``, validity, cached by URL, no redirects followed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from cluster.billing.certs import CertFetcher, override_trust
from domain.billing.webhook import WebhookRefused
from tests.kit.paypal_certs import SIGNING_CN, CertHost, Pki, new_key


@pytest.fixture(scope="module")
def host_and_pki() -> Iterator[tuple[CertHost, Pki]]:
    pki = Pki()
    host = CertHost(pki)
    other = Pki()  # another CA: its certificates do not chain to ours
    host.files["/good.pem"] = pki.signing_pem
    host.files["/untrusted.pem"] = other.signing_pem
    wrong = pki.leaf(new_key(), "evil.example.com", x509.DNSName("evil.example.com"))
    host.files["/wrong-cn.pem"] = wrong.public_bytes(serialization.Encoding.PEM)
    expired = pki.leaf(
        new_key(),
        SIGNING_CN,
        x509.DNSName(SIGNING_CN),
        not_after=datetime.now(UTC) - timedelta(hours=1),
    )
    host.files["/expired.pem"] = expired.public_bytes(serialization.Encoding.PEM)
    host.files["/garbage.pem"] = b"not a certificate"
    with host.running():
        yield host, pki


def _fetcher(pki: Pki) -> CertFetcher:
    local = frozenset({"127.0.0.1"})
    return CertFetcher(local, lambda: override_trust(pki.ca_pem), any_port_hosts=local, timeout_s=5)


def test_a_trusted_paypal_certificate_is_fetched_once_and_cached(
    host_and_pki: tuple[CertHost, Pki],
) -> None:
    host, pki = host_and_pki
    fetcher = _fetcher(pki)
    before = host.requests.count("/good.pem")
    cert = fetcher.certificate(host.url("/good.pem"))
    assert cert.public_key().public_numbers() == pki.signing_key.public_key().public_numbers()
    assert fetcher.certificate(host.url("/good.pem")) is cert
    assert host.requests.count("/good.pem") == before + 1
    assert fetcher.attempts == [host.url("/good.pem")]


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/untrusted.pem", "bad-certificate"),
        ("/wrong-cn.pem", "bad-certificate"),
        ("/expired.pem", "bad-certificate"),
        ("/garbage.pem", "bad-certificate"),
        ("/missing.pem", "cert-unavailable"),
    ],
)
def test_untrusted_wrong_expired_or_missing_certificates_are_refused(
    host_and_pki: tuple[CertHost, Pki], path: str, reason: str
) -> None:
    host, pki = host_and_pki
    fetcher = _fetcher(pki)
    with pytest.raises(WebhookRefused) as refused:
        fetcher.certificate(host.url(path))
    assert refused.value.reason == reason
    # a refused certificate is not cached: the next delivery fetches again
    with pytest.raises(WebhookRefused):
        fetcher.certificate(host.url(path))
    assert fetcher.attempts == [host.url(path)] * 2


def test_a_host_whose_tls_certificate_is_not_trusted_is_refused(
    host_and_pki: tuple[CertHost, Pki],
) -> None:
    host, _ = host_and_pki
    fetcher = _fetcher(Pki())  # trusts another CA only
    with pytest.raises(WebhookRefused) as refused:
        fetcher.certificate(host.url("/good.pem"))
    assert refused.value.reason == "cert-unavailable"


def test_redirects_are_not_followed(host_and_pki: tuple[CertHost, Pki]) -> None:
    host, pki = host_and_pki
    host.redirects["/moved.pem"] = "https://169.254.169.254/latest/meta-data/"
    fetcher = _fetcher(pki)
    with pytest.raises(WebhookRefused) as refused:
        fetcher.certificate(host.url("/moved.pem"))
    assert refused.value.reason == "cert-unavailable"
    assert fetcher.attempts == [host.url("/moved.pem")]
