"""``elson strategies ...`` on the configured database (no Ray: the command hosts the
engine): create, promote, a refusal exits 3 naming the guardrail, rollback, show."""

from __future__ import annotations

import json

import pytest

from cluster import cli
from cluster.db import Database
from tests.integration.strategies.conftest import owner_and_account


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, object]:
    code = cli.main(["strategies", "--by", "ops", *argv])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else None


def test_cli_creates_promotes_refuses_and_rolls_back(
    strategies_db_url: str,
    strategies_db: Database,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ELSON_DATABASE_URL", strategies_db_url)
    monkeypatch.setenv("ELSON_ENV", "test")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    owner, account = owner_and_account(strategies_db)
    config = json.dumps({"guardrails": {"max_step": 0.2, "min_trades": 0}})
    code, inst = _run(
        capsys,
        "create",
        "--owner", owner, "--account", account, "--strategy", "sma_cross",
        "--symbols", "AAPL,MSFT", "--params", '{"n1": 10, "n2": 30}', "--config", config,
    )  # fmt: skip
    assert code == 0 and isinstance(inst, dict)
    iid = inst["id"]
    code, decision = _run(capsys, "promote", iid, "--params", '{"n1": 11, "n2": 30}')
    assert code == 0 and isinstance(decision, dict) and decision["version"] == 2
    code, refused = _run(capsys, "promote", iid, "--params", '{"n1": 20, "n2": 30}')
    assert (code, refused) == (
        3,
        {"refused": ["step_limit"], "proposal_id": refused["proposal_id"]},
    )  # type: ignore[index]
    code, version = _run(capsys, "rollback", iid, "--reason", "ops")
    assert code == 0 and isinstance(version, dict) and version["restores"] == 1
    code, shown = _run(capsys, "show", iid)
    assert code == 0 and isinstance(shown, dict)
    assert [v["version"] for v in shown["versions"]] == [1, 2, 3]
    assert shown["symbols"] == ["AAPL", "MSFT"] and shown["params"] == {"n1": 10, "n2": 30}
