"""A test CA, a PayPal-like signing certificate, and a local TLS host serving it.

``Pki`` makes a CA and two leaves: the signing certificate (CN and SAN
``messageverificationcerts.paypal.com``, as PayPal's) and the TLS certificate of the local
host (``127.0.0.1``). ``CertHost`` serves PEM files over HTTPS on a loopback port and
counts requests. ``sign`` signs a webhook delivery exactly as PayPal does.
"""

from __future__ import annotations

import base64
import ssl
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from domain.billing.webhook import signed_message

SIGNING_CN = "messageverificationcerts.paypal.com"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class Pki:
    ca_key: rsa.RSAPrivateKey = field(default_factory=new_key)
    signing_key: rsa.RSAPrivateKey = field(default_factory=new_key)
    tls_key: rsa.RSAPrivateKey = field(default_factory=new_key)

    def __post_init__(self) -> None:
        now = datetime.now(UTC)
        ca_name = _name("Elson Test CA")
        self.ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(self.ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.ca_key.public_key()), critical=False
            )
            .sign(self.ca_key, hashes.SHA256())
        )
        self.signing_cert = self.leaf(self.signing_key, SIGNING_CN, x509.DNSName(SIGNING_CN))
        self.tls_cert = self.leaf(
            self.tls_key, "127.0.0.1", x509.IPAddress(IPv4Address("127.0.0.1"))
        )

    def leaf(
        self,
        key: rsa.RSAPrivateKey,
        cn: str,
        san: x509.GeneralName,
        *,
        not_after: datetime | None = None,
    ) -> x509.Certificate:
        now = datetime.now(UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(self.ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(not_after or now + timedelta(days=10))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([san]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key()),
                critical=False,
            )
            .sign(self.ca_key, hashes.SHA256())
        )

    @property
    def ca_pem(self) -> str:
        return _pem(self.ca).decode()

    @property
    def signing_pem(self) -> bytes:
        return _pem(self.signing_cert)

    def sign(
        self,
        body: bytes,
        *,
        webhook_id: str,
        transmission_id: str,
        transmission_time: str,
        key: rsa.RSAPrivateKey | None = None,
    ) -> str:
        message = signed_message(transmission_id, transmission_time, webhook_id, body)
        sig = (key or self.signing_key).sign(message, padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(sig).decode()


class CertHost:
    """HTTPS on 127.0.0.1: ``files`` maps a path to the bytes served, ``redirects`` a path
    to a 302 target; ``requests`` lists every path asked for."""

    def __init__(self, pki: Pki) -> None:
        self.files: dict[str, bytes] = {}
        #: path -> Location answered with a 302
        self.redirects: dict[str, str] = {}
        self.requests: list[str] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                host.requests.append(self.path)
                if self.path in host.redirects:
                    self.send_response(302)
                    self.send_header("Location", host.redirects[self.path])
                    self.end_headers()
                    return
                body = host.files.get(self.path)
                if body is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-pem-file")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = Path(tmp) / "tls.pem", Path(tmp) / "tls.key"
            cert.write_bytes(_pem(pki.tls_cert))
            key.write_bytes(
                pki.tls_key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            ctx.load_cert_chain(cert, key)
        self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    @contextmanager
    def running(self) -> Iterator[CertHost]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join(5)
