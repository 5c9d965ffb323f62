"""The layers contract holds, and it is a contract that can fail."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")


def run_lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT), str(cwd / "pyproject.toml"), "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"},
    )


def test_layers_contract_passes_on_the_repository() -> None:
    proc = run_lint(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Contracts: 2 kept, 0 broken" in proc.stdout


@pytest.mark.parametrize("library", ["redis", "sqlalchemy", "ray", "fastapi", "cluster.db"])
def test_domain_importing_io_library_then_contract_broken(tmp_path: Path, library: str) -> None:
    for pkg in ("domain", "cluster", "actors", "serve", "jobs", "migrations"):
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "domain" / "sneaky.py").write_text(f"import {library}\n")
    proc = run_lint(tmp_path)
    assert proc.returncode != 0
    assert "domain.sneaky" in proc.stdout
