"""The console's generated types match the server's contracts (stale types fail here),
every WebSocket message type has a handler, and the sources type-check."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from serve.console import codegen
from serve.gateway_schemas import SERVER_MODELS
from tests.browser.conftest import CONSOLE


@pytest.fixture(scope="module")
def fresh(
    tmp_path_factory: pytest.TempPathFactory, console_modules: Path, database_url: str
) -> Iterator[Path]:
    """The generated files as the sources make them now (built on the session's migrated
    database: the generator reads only what the services' wiring reads)."""
    out = tmp_path_factory.mktemp("generated")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ELSON_CODEGEN_DATABASE_URL", database_url)
        codegen.generate(out)
    yield out


def test_generated_types_when_regenerated_then_equal_to_committed(fresh: Path) -> None:
    assert codegen.differing(codegen.GENERATED, fresh) == [], (
        "stale: run .venv/bin/python -m serve.console.codegen"
    )


def test_generated_types_when_a_file_differs_then_reported_stale(
    fresh: Path, tmp_path: Path
) -> None:
    committed = tmp_path / "committed"
    shutil.copytree(fresh, committed)
    assert codegen.differing(committed, fresh) == []
    (committed / "ws.ts").write_text((committed / "ws.ts").read_text().replace("ping", "pong", 1))
    (committed / "rules.ts").unlink()
    assert codegen.differing(committed, fresh) == ["ws.ts", "rules.ts"]


def test_ws_handlers_when_compared_with_schema_list_then_one_per_server_message() -> None:
    source = (CONSOLE / "src" / "handlers.ts").read_text()
    table = source.split("export const handlers", 1)[1].split("\n};", 1)[0]
    keys = set(re.findall(r'^  "([a-z_.]+)":', table, flags=re.M))
    assert keys == set(SERVER_MODELS)


def test_console_sources_when_type_checked_then_clean(console_modules: Path) -> None:
    done = subprocess.run(
        ["npx", "--no-install", "tsc", "--noEmit", "-p", "."],
        cwd=CONSOLE,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
