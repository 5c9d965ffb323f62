"""Webhook rules: the signed message over raw bytes, the five headers, the certificate URL
(decided from its text alone), the transmission time."""

from __future__ import annotations

import base64
import zlib
from datetime import UTC, datetime, timedelta

import pytest

from domain.billing.webhook import (
    DEFAULT_CERT_HOSTS,
    HEADERS,
    WebhookRefused,
    cert_cn_ok,
    cert_url_refusal,
    check_time,
    crc32_decimal,
    parse_headers,
    signed_message,
)

HOSTS = frozenset(DEFAULT_CERT_HOSTS)
BODY = b'{"id":"WH-1","event_type":"BILLING.SUBSCRIPTION.ACTIVATED"}'


def test_signed_message_uses_unsigned_decimal_crc32_of_the_raw_bytes() -> None:
    body = b"\xff" * 7  # a CRC-32 above 2**31: signed arithmetic would print it negative
    crc = zlib.crc32(body)
    assert crc > 2**31
    assert crc32_decimal(body) == str(crc)
    assert signed_message("t-1", "2026-12-07T18:00:00Z", "WH-9", body) == (
        f"t-1|2026-12-07T18:00:00Z|WH-9|{crc}".encode()
    )
    # one byte of whitespace is another message
    assert signed_message("t", "x", "w", BODY) != signed_message("t", "x", "w", BODY + b" ")


def _headers(**changes: str) -> dict[str, str]:
    h = {
        "PAYPAL-TRANSMISSION-ID": "69cd13f0-d67a-11e5-baa3-778b53f4ae55",
        "PAYPAL-TRANSMISSION-TIME": "2026-12-07T18:00:00Z",
        "PAYPAL-TRANSMISSION-SIG": base64.b64encode(b"sig").decode(),
        "PAYPAL-CERT-URL": "https://api.paypal.com/v1/notifications/certs/CERT-1",
        "PAYPAL-AUTH-ALGO": "SHA256withRSA",
    }
    h.update(changes)
    return h


def test_headers_are_read_case_insensitively() -> None:
    t = parse_headers({k.lower(): v for k, v in _headers().items()})
    assert t.signature == b"sig"
    assert t.auth_algo == "SHA256withRSA"


@pytest.mark.parametrize("name", HEADERS)
def test_each_missing_or_empty_header_is_refused(name: str) -> None:
    h = {k: v for k, v in _headers().items() if k.lower() != name}
    with pytest.raises(WebhookRefused) as missing:
        parse_headers(h)
    assert missing.value.reason == "missing-header"
    with pytest.raises(WebhookRefused):
        parse_headers(_headers(**{name.upper(): "  "}))


@pytest.mark.parametrize("algo", ["SHA1withRSA", "sha256withrsa", "SHA256withECDSA", "none"])
def test_only_sha256_with_rsa_is_accepted(algo: str) -> None:
    with pytest.raises(WebhookRefused) as refused:
        parse_headers(_headers(**{"PAYPAL-AUTH-ALGO": algo}))
    assert refused.value.reason == "bad-algorithm"


def test_signature_must_be_base64() -> None:
    with pytest.raises(WebhookRefused) as refused:
        parse_headers(_headers(**{"PAYPAL-TRANSMISSION-SIG": "not base64!"}))
    assert refused.value.reason == "bad-signature"


@pytest.mark.parametrize(
    "url",
    [
        "https://api.paypal.com/v1/notifications/certs/CERT-1",
        "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-1",
        "https://API.PayPal.com:443/v1/notifications/certs/CERT-1",
    ],
)
def test_paypal_cert_urls_are_allowed(url: str) -> None:
    assert cert_url_refusal(url, HOSTS) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://api.paypal.com/cert",
        "ftp://api.paypal.com/cert",
        "https://example.org/cert",
        "https://api.paypal.com.evil.test/cert",
        "https://evil.test/api.paypal.com/cert",
        "https://api.paypal.com@evil.test/cert",
        "https://user:pw@api.paypal.com/cert",
        "https://api.paypal.com:8443/cert",
        "https://api.paypal.com:99999/cert",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fe80::1]/cert",
        "https://127.0.0.1/cert",
        "https://api.paypal.com./cert",
        "https://api.paypal.com\\@evil.test/cert",
        "https://api.paypal.com /cert",
        "//api.paypal.com/cert",
        "",
    ],
)
def test_other_cert_urls_are_refused(url: str) -> None:
    assert cert_url_refusal(url, HOSTS) is not None


def test_another_port_only_on_the_override_host() -> None:
    local = frozenset({"127.0.0.1"})
    assert cert_url_refusal("https://127.0.0.1:8443/c", HOSTS | local, any_port_hosts=local) is None
    assert cert_url_refusal("https://api.paypal.com:8443/c", HOSTS | local, any_port_hosts=local)


def test_transmission_time_within_tolerance() -> None:
    now = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
    five = timedelta(minutes=5)
    check_time("2026-12-07T17:55:00Z", now, five)
    check_time("2026-12-07T18:05:00+00:00", now, five)
    for stale in ("2026-12-07T17:54:59Z", "2026-12-07T18:05:01Z"):
        with pytest.raises(WebhookRefused) as refused:
            check_time(stale, now, five)
        assert refused.value.reason == "stale"
    for bad in ("yesterday", "2026-12-07T18:00:00"):
        with pytest.raises(WebhookRefused) as refused:
            check_time(bad, now, five)
        assert refused.value.reason == "bad-time"


def test_certificate_common_name_must_end_with_paypal_com() -> None:
    assert cert_cn_ok("messageverificationcerts.paypal.com")
    assert cert_cn_ok("messageverificationcerts.sandbox.PayPal.com")
    assert not cert_cn_ok(".paypal.com")
    assert not cert_cn_ok("paypal.com")
    assert not cert_cn_ok("evilpaypal.com")
    assert not cert_cn_ok("messageverificationcerts.paypal.com.evil.test")
