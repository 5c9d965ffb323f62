"""Rows of strategy instances in, domain values out; every write runs in the caller's
transaction (the engine commits the change, its audit row and its event together)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from cluster.strategies.tables import (
    strategy_audit,
    strategy_instances,
    strategy_param_versions,
    strategy_performance,
    strategy_proposals,
)
from domain.strategy.config import DriftConfig, GuardrailConfig, InstanceStatus, Sizing
from domain.strategy.guardrails import Verdict
from domain.strategy.instance import Instance
from domain.strategy.versions import ParamVersion

I = strategy_instances.c  # noqa: E741
V = strategy_param_versions.c
P = strategy_proposals.c
F = strategy_performance.c
A = strategy_audit.c


def _uuid(value: str | None) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(str(value))


def instance_of(row: Any) -> Instance:
    return Instance(
        id=str(row.id),
        owner_user_id=str(row.owner_user_id),
        strategy=row.strategy,
        symbols=tuple(row.symbols),
        bar_interval=row.bar_interval,
        account_id=str(row.account_id),
        sizing=Sizing.from_wire(row.sizing),
        objective=row.objective,
        auto_promote=row.auto_promote,
        auto_reoptimize=row.auto_reoptimize,
        guardrails=GuardrailConfig.from_wire(row.guardrails),
        drift=DriftConfig.from_wire(row.drift),
        reoptimize=None if row.reoptimize is None else dict(row.reoptimize),
        status=InstanceStatus(row.status),
        current_version=row.current_version,
        reoptimize_job_id=None if row.reoptimize_job_id is None else str(row.reoptimize_job_id),
        last_promoted_at=row.last_promoted_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def version_of(row: Any) -> ParamVersion:
    return ParamVersion(
        version=row.version,
        params=dict(row.params),
        source=row.source,
        created_at=row.created_at,
        by=row.by,
        restores=row.restores,
        oos_score=row.oos_score,
        in_sample_score=row.in_sample_score,
        proposal_id=row.proposal_id,
    )


def load_instances(s: Session) -> list[Instance]:
    return [instance_of(r) for r in s.execute(select(strategy_instances).order_by(I.created_at))]


def load_instance(s: Session, instance_id: str, *, for_update: bool = False) -> Instance | None:
    q = select(strategy_instances).where(I.id == _uuid(instance_id))
    row = s.execute(q.with_for_update() if for_update else q).one_or_none()
    return None if row is None else instance_of(row)


def load_versions(s: Session, instance_id: str | None = None) -> dict[str, list[ParamVersion]]:
    q = select(strategy_param_versions).order_by(V.instance_id, V.version)
    if instance_id is not None:
        q = q.where(V.instance_id == _uuid(instance_id))
    out: dict[str, list[ParamVersion]] = {}
    for r in s.execute(q):
        out.setdefault(str(r.instance_id), []).append(version_of(r))
    return out


def live_scores(s: Session, instance_id: str, version: int, limit: int) -> list[float | None]:
    rows = s.execute(
        select(F.score)
        .where(F.instance_id == _uuid(instance_id), F.version == version, F.kind == "live")
        .order_by(F.id.desc())
        .limit(limit)
    ).all()
    return [r.score for r in reversed(rows)]


def count_trading(s: Session, owner_user_id: str, *, but: str) -> int:
    """The owner's instances that trade (any status but ``stopped``), ``but`` one."""
    trading = [st.value for st in InstanceStatus if st.trading]
    q = select(func.count()).select_from(strategy_instances)
    q = q.where(I.owner_user_id == _uuid(owner_user_id), I.id != _uuid(but))
    return int(s.execute(q.where(I.status.in_(trading))).scalar_one())


def insert_instance(s: Session, inst: Instance) -> None:
    s.execute(
        insert(strategy_instances).values(
            id=_uuid(inst.id),
            owner_user_id=_uuid(inst.owner_user_id),
            strategy=inst.strategy,
            symbols=list(inst.symbols),
            bar_interval=inst.bar_interval,
            account_id=_uuid(inst.account_id),
            sizing=inst.sizing.to_wire(),
            objective=inst.objective,
            auto_promote=inst.auto_promote,
            auto_reoptimize=inst.auto_reoptimize,
            guardrails=inst.guardrails.to_wire(),
            drift=inst.drift.to_wire(),
            reoptimize=None if inst.reoptimize is None else dict(inst.reoptimize),
            status=inst.status.value,
            current_version=inst.current_version,
            created_at=inst.created_at,
            updated_at=inst.updated_at,
        )
    )


def update_instance(s: Session, instance_id: str, **values: Any) -> None:
    if "reoptimize_job_id" in values:
        values["reoptimize_job_id"] = _uuid(values["reoptimize_job_id"])
    s.execute(update(strategy_instances).where(I.id == _uuid(instance_id)).values(**values))


def insert_version(s: Session, instance_id: str, v: ParamVersion) -> None:
    s.execute(
        insert(strategy_param_versions).values(
            instance_id=_uuid(instance_id),
            version=v.version,
            params=dict(v.params),
            source=v.source,
            restores=v.restores,
            oos_score=v.oos_score,
            in_sample_score=v.in_sample_score,
            proposal_id=v.proposal_id,
            created_at=v.created_at,
            by=v.by,
        )
    )


def insert_proposal(
    s: Session,
    instance_id: str,
    *,
    params: Mapping[str, Any],
    source: str,
    job_id: str | None,
    in_sample_score: float | None,
    oos_score: float | None,
    trades: int | None,
    verdicts: list[Verdict],
    outcome: str | None,
    version: int | None,
    at: datetime,
    by: str,
) -> int:
    return int(
        s.execute(
            insert(strategy_proposals)
            .values(
                instance_id=_uuid(instance_id),
                params=dict(params),
                source=source,
                job_id=_uuid(job_id),
                in_sample_score=in_sample_score,
                oos_score=oos_score,
                trades=trades,
                verdicts=[v.to_wire() for v in verdicts],
                outcome=outcome,
                version=version,
                created_at=at,
                decided_at=None if outcome is None else at,
                by=by,
            )
            .returning(P.id)
        ).scalar_one()
    )


def decide_proposal(
    s: Session,
    proposal_id: int,
    *,
    verdicts: list[Verdict],
    outcome: str,
    version: int | None,
    at: datetime,
    by: str,
) -> None:
    s.execute(
        update(strategy_proposals)
        .where(P.id == proposal_id)
        .values(
            verdicts=[v.to_wire() for v in verdicts],
            outcome=outcome,
            version=version,
            decided_at=at,
            by=by,
        )
    )


def proposal(s: Session, proposal_id: int) -> dict[str, Any] | None:
    row = s.execute(select(strategy_proposals).where(P.id == proposal_id)).mappings().one_or_none()
    return None if row is None else _plain(dict(row))


def proposals(s: Session, instance_id: str, limit: int = 100) -> list[dict[str, Any]]:
    rows = s.execute(
        select(strategy_proposals)
        .where(P.instance_id == _uuid(instance_id))
        .order_by(P.id.desc())
        .limit(limit)
    ).mappings()
    return [_plain(dict(r)) for r in rows]


def insert_sample(
    s: Session,
    instance_id: str,
    *,
    version: int,
    kind: str,
    at: datetime,
    score: float | None = None,
    realized_pnl: Decimal | None = None,
    unrealized_pnl: Decimal | None = None,
    trades: int | None = None,
    drawdown_pct: float | None = None,
    job_id: str | None = None,
) -> int:
    return int(
        s.execute(
            insert(strategy_performance)
            .values(
                instance_id=_uuid(instance_id),
                version=version,
                kind=kind,
                score=score,
                realized_pnl=realized_pnl,
                unrealized_pnl=unrealized_pnl,
                trades=trades,
                drawdown_pct=drawdown_pct,
                job_id=_uuid(job_id),
                at=at,
            )
            .returning(F.id)
        ).scalar_one()
    )


def samples(s: Session, instance_id: str, limit: int = 200) -> list[dict[str, Any]]:
    rows = s.execute(
        select(strategy_performance)
        .where(F.instance_id == _uuid(instance_id))
        .order_by(F.id.desc())
        .limit(limit)
    ).mappings()
    return [_plain(dict(r)) for r in rows]


def audit(
    s: Session,
    instance_id: str,
    *,
    at: datetime,
    by: str,
    action: str,
    detail: Mapping[str, Any],
    from_version: int | None = None,
    to_version: int | None = None,
) -> int:
    return int(
        s.execute(
            insert(strategy_audit)
            .values(
                instance_id=_uuid(instance_id),
                at=at,
                by=by,
                action=action,
                from_version=from_version,
                to_version=to_version,
                detail=dict(detail),
            )
            .returning(A.id)
        ).scalar_one()
    )


def audit_rows(s: Session, instance_id: str, limit: int = 500) -> list[dict[str, Any]]:
    rows = s.execute(
        select(strategy_audit)
        .where(A.instance_id == _uuid(instance_id))
        .order_by(A.id)
        .limit(limit)
    ).mappings()
    return [_plain(dict(r)) for r in rows]


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe values: ids and times as text, money as decimal text."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, uuid.UUID):
            v = str(v)
        elif isinstance(v, datetime):
            v = v.isoformat()
        elif isinstance(v, Decimal):
            v = str(v)
        out[k] = v
    return out


def account_owner(s: Session, account_id: str) -> str | None:
    from cluster.tables import accounts

    try:
        key = _uuid(account_id)
    except ValueError:
        return None
    found = s.execute(
        select(accounts.c.owner_user_id).where(accounts.c.id == key)
    ).scalar_one_or_none()
    return None if found is None else str(found)
