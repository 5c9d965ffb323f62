"""Acceptance 6: no credential is committed outside ``tests/`` (detect-secrets' plugins).

The scan covers what git would commit (tracked and untracked, not ignored files) outside
``tests/``. detect-secrets costs about a millisecond a line for its plugins, so lines
that no plugin could flag (no secret keyword, no long quoted string, no token prefix, no
key block, no credentials in a URL) are skipped before its plugins and filters run; the
planted test below checks that every kind of credential still gets through.

A finding that is not a credential is silenced where it stands with detect-secrets'
``pragma: allowlist secret`` comment, or listed in ``NOT_SECRETS`` with the reason.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: lines worth handing to detect-secrets; anything its plugins report matches one of these
CANDIDATE = re.compile(
    r"(?i:pass|pwd|secret|token|key|auth|cred|bearer|private)"
    r"|[\"'`][^\"'`\s]{16,}"
    r"|-----BEGIN"
    r"|://[^/\s:@]+:[^\s@]+@"
    r"|AKIA|ASIA|gh[pousr]_|github_pat_|glpat-|xox[abpors]-|[sr]k_live|sk-|npm_|pypi-|SG\."
    r"|eyJ|AccountKey=|[0-9a-f]{32}"
)

KEYWORD, HEX = "Secret Keyword", "Hex High Entropy String"
#: (path, detect-secrets type, sha1 of the value): found, looked at, not a credential
NOT_SECRETS: dict[tuple[str, str, str], str] = {
    ("bench/order_submit.py", KEYWORD, "9315a5f579665c41fd804a4f56ad4520a83ee652"): (
        "password of the throwaway user the benchmark registers on a local stack"
    ),
    ("cluster/auth/tokens.py", KEYWORD, "b83efb89100a5f11b5cb4418471326f6c5b669c7"): (
        "file name of the dev JWT secret generated in the data folder"
    ),
    ("cluster/pii/wiring.py", KEYWORD, "464e3a1e872730cde81c736b9aa3a881c5297bd9"): (
        "file name of the dev PII key generated in the data folder"
    ),
    ("cluster/pii/wiring.py", KEYWORD, "01fc6d30cc83485d88878ba780b5959ea6aff45e"): (
        "the fixed PII key of ELSON_ENV=test, refused in any other environment"
    ),
    (".github/workflows/deliver.yml", KEYWORD, "3e26d6750975d678acb8fa35a0f69237881576b0"): (
        "GitHub Actions 'secrets: inherit', no value"
    ),
    ("kuberay/base/ingress.yaml", KEYWORD, "003e5c2a02d7f2f21018f11fec2d4d638526f0d7"): (
        "the name of the TLS Secret of the Ingress"
    ),
    ("kuberay/base/alertmanager.yaml", KEYWORD, "74c81f2a69ef85b9f0c7278c8c567891f7a75c06"): (
        "ExternalSecret: the name of a Secret key, the value stays in Vault"
    ),
    ("kuberay/base/alertmanager.yaml", KEYWORD, "7e71f992a3663568016174f2d9a7fda6b37467e8"): (
        "ExternalSecret: a Vault property name"
    ),
    ("kuberay/base/externalsecrets.yaml", KEYWORD, "bee0cb05f850f53dc7ec012e5b12bbe98948693b"): (
        "ExternalSecret: a Vault key/property reference, the value stays in Vault"
    ),
    ("kuberay/base/externalsecrets.yaml", KEYWORD, "114d145f04f81ef78754beab8b95a2f0f31048d4"): (
        "ExternalSecret: a Vault key/property reference, the value stays in Vault"
    ),
    ("kuberay/base/externalsecrets.yaml", KEYWORD, "5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8"): (
        "ExternalSecret: the Secret key named 'password', the value stays in Vault"
    ),
    ("kuberay/base/externalsecrets.yaml", KEYWORD, "855f81d60fcbff29671624fb9a50fdf004696070"): (
        "ExternalSecret: a Vault key/property reference, the value stays in Vault"
    ),
    ("kuberay/base/externalsecrets.yaml", KEYWORD, "9c7b64a273cacedc3c14b7ab6da80c347834dbbd"): (
        "ExternalSecret: a Vault key/property reference, the value stays in Vault"
    ),
    ("serve/schemas/auth.py", KEYWORD, "abf7aad6438836dbe526aa231abde2d0eef74d42"): (
        "OpenAPI example password (the xkcd phrase)"
    ),
    ("serve/console/src/generated/api.ts", KEYWORD, "abf7aad6438836dbe526aa231abde2d0eef74d42"): (
        "generated from the OpenAPI example password (the xkcd phrase)"
    ),
    ("serve/console/src/generated/rules.ts", HEX, "33c76f70af66754ca47d19b17da8dc232e125253"): (
        "the list of common passwords that registration refuses"
    ),
    ("serve/console/src/validate.ts", KEYWORD, "49f93aa81a4b2e4e14e0a2f01cf4246f6f0fd0a5"): (
        "a form validation message about the password field"
    ),
    ("serve/console/src/validate.ts", KEYWORD, "52e8100d0d13074801e9d6d4983bdc991117678e"): (
        "a form validation message about the password field"
    ),
    ("serve/console/src/validate.ts", KEYWORD, "989db40089808b425e45775d621a100fcda85460"): (
        "a form validation message about the password field"
    ),
    ("serve/console/src/validate.ts", KEYWORD, "de56cf99070c66d789c5c7ceb5e6760818e6dca2"): (
        "a form validation message about the password field"
    ),
}


def repository_files(root: Path = ROOT) -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return select([p for p in out.split("\0") if p], root)


def select(paths: Iterable[str], root: Path) -> list[str]:
    """Files the scan covers: outside ``tests/``, present in the working tree."""
    return sorted(p for p in paths if not p.startswith("tests/") and (root / p).is_file())


def _scan_one(root: str, path: str) -> list[tuple[str, int, str, str]]:
    from detect_secrets.core import scan as ds
    from detect_secrets.settings import default_settings

    found: list[tuple[str, int, str, str]] = []
    full = str(Path(root) / path)
    with default_settings():
        if ds._is_filtered_out(required_filter_parameters=["filename"], filename=full):
            return found
        try:
            chunks = list(ds._get_lines_from_file(full))
        except OSError:
            return found
        plugins = ds.get_plugins()
        for lines in chunks:  # raw lines, then e.g. YAML/INI values (detect-secrets' own)
            for number, raw in enumerate(lines, start=1):
                if not CANDIDATE.search(raw):
                    continue
                line = raw.rstrip()
                ctx = ds.get_code_snippet(lines=lines, line_number=number)
                if ds._is_filtered_out(
                    required_filter_parameters=["line"], filename=full, line=line, context=ctx
                ):
                    continue
                for plugin in plugins:
                    for secret in ds._scan_line(
                        plugin=plugin, filename=full, line=line, line_number=number, context=ctx
                    ):
                        if not ds._is_filtered_out(
                            required_filter_parameters=["context"],
                            filename=full,
                            secret=secret.secret_value,
                            plugin=plugin,
                            line=line,
                            context=ctx,
                        ):
                            found.append((path, number, secret.type, secret.secret_hash))
            if found:
                break
    return found


def scan(paths: list[str], root: Path = ROOT) -> list[tuple[str, int, str, str]]:
    """``(path, line, type, sha1)`` of every credential-like value (about 3 s of CPU)."""
    return sorted({f for path in paths for f in _scan_one(str(root), path)})


def unexplained(findings: list[tuple[str, int, str, str]]) -> list[str]:
    return [
        f"{path}:{line}: {kind}"
        for path, line, kind, digest in findings
        if (path, kind, digest) not in NOT_SECRETS
    ]


def test_repository_outside_tests_has_no_credentials() -> None:
    files = repository_files()
    assert len(files) > 100 and "cluster/settings.py" in files

    problems = unexplained(scan(files))

    assert problems == [], "credential-like values committed:\n" + "\n".join(problems)


def _planted() -> dict[str, str]:
    # built at run time so this file holds no credential itself
    rsa = "-----BEGIN RSA " + "PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----\n"
    return {
        "aws": 'AWS_ACCESS_KEY_ID = "' + "AKIA" + "Q7ZR4WJ2XK9MEP3T" + '"\n',
        "password": 'DB_PASSWORD = "' + "Tr0ub4dor&3-horse-" + "battery" + '"\n',
        "github": 'token = "' + "ghp_" + "x9Kq2LmN4pR7sT1vW3yZ5aB8cD0eF6gH2jK4" + '"\n',
        "url": "DATABASE_URL = 'postgresql://elson:" + "s3cr3t-Pa55w0rd" + "@db.internal/elson'\n",
        "private_key": rsa,
        "entropy": 'SIGNING = "' + "kR9vQ2mX7pL4zW8nB3cT6yH1" + "sJ5fD0gA" + '"\n',
    }


@pytest.mark.parametrize("kind", sorted(_planted()))
def test_planted_credential_outside_tests_then_scan_fails(kind: str, tmp_path: Path) -> None:
    planted = _planted()[kind]
    (tmp_path / "cluster").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "cluster" / "local_config.py").write_text(f'"""config"""\n\n{planted}')
    (tmp_path / "tests" / "fixture.py").write_text(planted)  # tests/ may hold test values
    files = select(["cluster/local_config.py", "tests/fixture.py"], tmp_path)

    problems = unexplained(scan(files, tmp_path))

    assert files == ["cluster/local_config.py"]
    assert problems and all(p.startswith("cluster/local_config.py:3:") for p in problems)


def test_allowlist_entries_are_files_of_the_repository() -> None:
    files = set(repository_files())
    stale = [key for key in NOT_SECRETS if key[0] not in files]
    assert stale == [], "allowlisted files no longer exist: drop their entries"
    assert all(re.fullmatch(r"[0-9a-f]{40}", key[2]) for key in NOT_SECRETS)
