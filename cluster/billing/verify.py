"""Verify a PayPal webhook delivery over the raw body bytes, as PayPal defines it.

Order of checks: the five headers (and the algorithm) first, then the transmission time,
then the certificate URL (refused from its text alone: no connection), then the
signature over ``id|time|our webhook id|crc32(raw body) in decimal``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from cluster.billing.certs import CertFetcher
from domain.billing.webhook import (
    Transmission,
    WebhookRefused,
    check_time,
    parse_headers,
    signed_message,
)


class WebhookVerifier:
    def __init__(self, webhook_id: str, fetcher: CertFetcher, tolerance: timedelta) -> None:
        self.webhook_id, self.fetcher, self.tolerance = webhook_id, fetcher, tolerance

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> Transmission:
        if not self.webhook_id:
            raise WebhookRefused("not-configured", "ELSON_PAYPAL_WEBHOOK_ID is not set")
        t = parse_headers(headers)
        check_time(t.transmission_time, now, self.tolerance)
        cert = self.fetcher.certificate(t.cert_url)
        key = cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise WebhookRefused("bad-certificate", "the certificate key is not RSA")
        message = signed_message(t.transmission_id, t.transmission_time, self.webhook_id, body)
        try:
            key.verify(t.signature, message, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise WebhookRefused("bad-signature", "the signature does not verify") from None
        return t
