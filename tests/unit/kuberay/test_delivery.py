"""The container and the delivery workflow keep their promises: non-root, pinned base,
the project installed with pip, a HEALTHCHECK in Python; test -> build -> staging ->
`elson check` -> approval -> production, migrations before the RayService."""

from __future__ import annotations

import re

import yaml

from tests.kit.kuberay import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _instructions(name: str) -> list[str]:
    text = re.sub(r"\\\n", " ", DOCKERFILE)
    return [
        line.split(None, 1)[1] for line in text.splitlines() if line.upper().startswith(name + " ")
    ]


def test_image_runs_as_a_non_root_user() -> None:
    users = _instructions("USER")
    assert users and not users[-1].startswith(("root", "0"))


def test_base_image_is_pinned_to_a_version() -> None:
    (base,) = [a for a in _instructions("ARG") if a.startswith("PYTHON_IMAGE=")]
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11\.\d+-slim-\w+", base)
    assert all("latest" not in f for f in _instructions("FROM"))


def test_project_is_installed_with_pip_from_its_source() -> None:
    assert any(
        re.search(r"pip install .*--constraint requirements\.lock \.", r)
        for r in _instructions("RUN")
    )


def test_healthcheck_is_python_and_the_image_has_no_curl() -> None:
    (check,) = _instructions("HEALTHCHECK")
    assert '"python", "-c"' in check
    assert not re.search(r"\b(curl|wget)\b", "\n".join([*_instructions("RUN"), check]))


def test_dockerignore_keeps_environments_data_and_tests_out() -> None:
    rules = (ROOT / ".dockerignore").read_text().splitlines()
    assert rules[rules.index("*")] == "*"  # everything out, then only the sources back in
    allowed = {r[1:].rstrip("/") for r in rules if r.startswith("!")}
    assert not allowed & {".venv", ".data", "tests", ".git", "bench"}


def test_workflow_goes_test_build_staging_check_approval_production() -> None:
    deliver = yaml.safe_load((ROOT / ".github/workflows/deliver.yml").read_text())
    jobs = deliver["jobs"]
    assert jobs["build"]["needs"] == "test"
    assert jobs["staging"]["needs"] == "build"
    assert set(jobs["production"]["needs"]) == {"build", "staging"}
    assert jobs["staging"]["with"]["environment"] == "staging"
    assert jobs["production"]["with"]["environment"] == "production"
    deploy = yaml.safe_load((ROOT / ".github/workflows/deploy.yml").read_text())
    (job,) = deploy["jobs"].values()
    # the environment carries the approval (required reviewers on `production`)
    assert job["environment"] == "${{ inputs.environment }}"
    names = [s.get("name", "") for s in job["steps"]]
    migrate = next(i for i, n in enumerate(names) if n.startswith("migrations"))
    rayservice = next(i for i, n in enumerate(names) if n == "the RayService")
    check = next(i for i, n in enumerate(names) if n.startswith("elson check"))
    assert migrate < rayservice < check
    assert "elson check" in job["steps"][check]["run"]
