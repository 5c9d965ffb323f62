"""The certificate fetch gives up after its timeout: a certificate host that accepts the
connection, completes TLS and reads the request but never answers makes the webhook a
400 ``cert-unavailable`` within about the timeout, and nothing is applied. The test sets
the timeout to 0.5 s through the setting; a separate check pins the default at 5 s."""

from __future__ import annotations

import inspect
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from cluster.billing.certs import CertFetcher
from cluster.billing.wiring import build_fetcher
from cluster.settings import Settings
from serve.services import Services
from tests.integration.billing.conftest import CERT_PATH, Deliverer, start_subscription, state
from tests.kit.paypal_api import FakePayPal
from tests.kit.paypal_certs import Pki
from tests.kit.users import ApiUser, assert_problem

TIMEOUT_S = 0.5
#: headroom for a loaded CI machine, still far below the 5 s default
SLACK_S = 2.0


class SilentHost:
    """TLS on 127.0.0.1 with the test CA's certificate: accepts, handshakes, reads the
    request, and never answers (each connection is held open until ``close``)."""

    def __init__(self, pki: Pki) -> None:
        self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = Path(tmp) / "tls.pem", Path(tmp) / "tls.key"
            cert.write_bytes(pki.tls_cert.public_bytes(serialization.Encoding.PEM))
            key.write_bytes(
                pki.tls_key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            self._tls.load_cert_chain(cert, key)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self.requests: list[bytes] = []
        self._held: list[socket.socket] = []
        self._stop = threading.Event()

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(5)
            try:
                tls = self._tls.wrap_socket(conn, server_side=True)
                self.requests.append(tls.recv(4096))
            except OSError:
                conn.close()
                continue
            self._held.append(tls)  # never answered

    @contextmanager
    def running(self) -> Iterator[SilentHost]:
        thread = threading.Thread(target=self._serve, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(5)
            for c in self._held:
                c.close()
            self._listener.close()


@pytest.fixture
def silent_host(pki: Pki) -> Iterator[SilentHost]:
    with SilentHost(pki).running() as host:
        yield host


@pytest.fixture
def fetcher(billing_services: Services, monkeypatch: pytest.MonkeyPatch) -> CertFetcher:
    """The fetcher the settings build, with the timeout setting lowered, in the service."""
    fast = build_fetcher(billing_services.settings.with_overrides(paypal_cert_timeout_s=TIMEOUT_S))
    monkeypatch.setattr(billing_services.billing.verifier, "fetcher", fast)
    return fast


def test_a_cert_host_that_never_answers_is_refused_within_the_timeout(
    client: httpx.Client,
    quant: ApiUser,
    deliver: Deliverer,
    paypal: tuple[FakePayPal, str],
    billing_services: Services,
    silent_host: SilentHost,
    fetcher: CertFetcher,
) -> None:
    sid = start_subscription(client, quant)
    paypal[0].set_status(sid, "ACTIVE")
    body = deliver.event("BILLING.SUBSCRIPTION.ACTIVATED", sid, datetime.now(UTC))
    url = silent_host.url(CERT_PATH)
    before = state(billing_services, quant.id)

    started = time.monotonic()
    r = deliver.post(body, deliver.headers(body) | {"PAYPAL-CERT-URL": url})
    elapsed = time.monotonic() - started

    problem = assert_problem(r, 400, "webhook-refused")
    assert problem["detail"].startswith("cert-unavailable:"), problem
    assert "Timeout" in problem["detail"], problem
    assert TIMEOUT_S <= elapsed < TIMEOUT_S + SLACK_S, elapsed
    # connected, TLS done, request sent: the wait was for an answer that never came
    assert fetcher.attempts == [url]
    assert len(silent_host.requests) == 1
    assert silent_host.requests[0].startswith(f"GET {CERT_PATH} ".encode())
    assert state(billing_services, quant.id) == before
    assert before["plan"] == "free"


def test_the_cert_fetch_timeout_defaults_to_5_s() -> None:
    # build_fetcher passes the setting through (the test above: 0.5 s is honoured)
    assert Settings.model_fields["paypal_cert_timeout_s"].default == 5.0
    assert inspect.signature(CertFetcher).parameters["timeout_s"].default == 5.0
