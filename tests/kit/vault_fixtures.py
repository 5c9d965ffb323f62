"""pytest fixtures for the fake Vault (imported by ``tests/conftest.py``).

``vault_tls``: the session's CA, server certificate and an unrelated CA (files under the
session's temporary folder). ``vault``: a fresh, started ``VaultServer`` for one test, with
the ``transit`` mount ready; its ``client()`` is an ``hvac.Client`` trusting the test CA.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.kit.vault_server import VaultServer
from tests.kit.vault_tls import TlsFiles, make_tls_files


@pytest.fixture(scope="session")
def vault_tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("vault-tls"))


@pytest.fixture
def vault(vault_tls: TlsFiles) -> Iterator[VaultServer]:
    server = VaultServer(vault_tls).start()
    try:
        yield server
    finally:
        server.stop()
