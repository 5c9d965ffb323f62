"""PayPal webhook rules, exactly as PayPal defines the signature.

The signed message is ``<transmission id>|<transmission time>|<webhook id>|<crc32>``:
the webhook id is ours (configuration, never the request's) and the CRC-32 is the
unsigned CRC-32 of the raw body bytes written in decimal. Any re-serialization of the
JSON would change it, so every rule here takes the bytes as received.

The certificate URL is an SSRF boundary: ``cert_url_refusal`` decides before any
connection is made, from the URL text alone.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from domain.errors import DomainError

ALGORITHM = "SHA256withRSA"
HEADERS = (
    "paypal-transmission-id",
    "paypal-transmission-time",
    "paypal-transmission-sig",
    "paypal-cert-url",
    "paypal-auth-algo",
)
DEFAULT_CERT_HOSTS = ("api.paypal.com", "api.sandbox.paypal.com")
CERT_CN_SUFFIX = ".paypal.com"
_URL_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~:/?#[]@!$&'()*+,;=%"
)


class WebhookRefused(DomainError):
    """A delivery that is not PayPal's, or not verifiable; ``reason`` is a stable slug."""

    code = "webhook-refused"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason


@dataclass(frozen=True)
class Transmission:
    transmission_id: str
    transmission_time: str
    signature: bytes
    cert_url: str
    auth_algo: str


def crc32_decimal(body: bytes) -> str:
    return str(zlib.crc32(body) & 0xFFFFFFFF)


def signed_message(
    transmission_id: str, transmission_time: str, webhook_id: str, body: bytes
) -> bytes:
    return f"{transmission_id}|{transmission_time}|{webhook_id}|{crc32_decimal(body)}".encode()


def parse_headers(headers: Mapping[str, str]) -> Transmission:
    """The five headers (case-insensitive), each present and non-empty."""
    lowered = {k.lower(): v for k, v in headers.items()}
    values: dict[str, str] = {}
    for name in HEADERS:
        value = lowered.get(name, "").strip()
        if not value:
            raise WebhookRefused("missing-header", f"{name.upper()} is missing")
        values[name] = value
    algo = values["paypal-auth-algo"]
    if algo != ALGORITHM:
        raise WebhookRefused("bad-algorithm", f"PAYPAL-AUTH-ALGO {algo!r} is not {ALGORITHM}")
    try:
        sig = base64.b64decode(values["paypal-transmission-sig"], validate=True)
    except (binascii.Error, ValueError):
        raise WebhookRefused("bad-signature", "PAYPAL-TRANSMISSION-SIG is not base64") from None
    return Transmission(
        values["paypal-transmission-id"],
        values["paypal-transmission-time"],
        sig,
        values["paypal-cert-url"],
        algo,
    )


def cert_url_refusal(
    url: str, allowed_hosts: frozenset[str], *, any_port_hosts: frozenset[str] = frozenset()
) -> str | None:
    """Why a certificate URL is refused, or None: ``https``, port 443 (another port only
    on the local host of the test trust override), no userinfo, a host exactly on the
    allow-list."""
    if not url or any(c not in _URL_CHARS for c in url):
        return "the URL has characters outside RFC 3986"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "the URL does not parse"
    if parts.scheme != "https":
        return "the scheme is not https"
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        return "the URL carries userinfo"
    host = (parts.hostname or "").lower()
    if host not in allowed_hosts:
        return f"the host {host!r} is not on the allow-list"
    if port is not None and port != 443 and host not in any_port_hosts:
        return f"the port {port} is not 443"
    return None


def parse_time(value: str) -> datetime:
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise WebhookRefused("bad-time", f"transmission time {value!r} is not ISO 8601") from None
    if at.tzinfo is None:
        raise WebhookRefused("bad-time", "transmission time has no offset")
    return at


def check_time(value: str, now: datetime, tolerance: timedelta) -> None:
    at = parse_time(value)
    if abs(now - at) > tolerance:
        raise WebhookRefused("stale", f"transmission time {value} is outside {tolerance}")


def cert_cn_ok(common_name: str) -> bool:
    cn = common_name.lower()
    return cn.endswith(CERT_CN_SUFFIX) and len(cn) > len(CERT_CN_SUFFIX)
