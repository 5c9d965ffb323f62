"""Strategy instance routes (quant and admin roles): thin calls into ``StrategyAdmin``.

Owner-only like accounts: another user's instance answers 404; admins may read and act on
any. ``GET /v1/strategies`` (the optimization routes) lists the strategy kinds and their
spaces, so the instances are listed at ``GET /v1/strategies/instances``. A promotion that
a guardrail refuses is stored (a refused proposal, audited) and answered 422
``/problems/guardrail-refused`` naming the guardrails.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, FastAPI

from cluster.strategies.client import StrategyAdmin
from serve.deps import Principal, QuantUser
from serve.schemas import strategies as sc
from serve.schemas.problem import problem_responses
from serve.services import Services

PREFIX = "/v1/strategies"


def _reader(p: Principal) -> str | None:
    return None if p.role == "admin" else str(p.user_id)


def register(app: FastAPI, services: Services) -> None:
    admin = StrategyAdmin(
        services.settings, services.db, in_ray=services.in_ray, entitlements=services.entitlements
    )
    router = APIRouter(tags=["strategies"])

    @router.post(
        PREFIX,
        status_code=201,
        operation_id="create_strategy_instance",
        summary="Create a strategy instance (stopped, at version 1 with the given params)",
        responses=problem_responses(401, 403, 404, 422, 503),
    )
    async def create(body: sc.InstanceCreate, p: QuantUser) -> sc.InstancePublic:
        wire = await admin.call("create", body.to_spec(), str(p.user_id), str(p.user_id))
        return sc.InstancePublic.of(wire)

    @router.get(
        f"{PREFIX}/instances",
        operation_id="list_strategy_instances",
        summary="The caller's strategy instances (every instance for admins)",
        responses=problem_responses(401, 403, 503),
    )
    async def list_instances(p: QuantUser) -> sc.InstanceList:
        items = await admin.call("instances", _reader(p))
        return sc.InstanceList(items=[sc.InstancePublic.of(w) for w in items])

    @router.get(
        f"{PREFIX}/{{instance_id}}",
        operation_id="get_strategy_instance",
        summary="An instance with its versions, proposals (with verdicts) and performance",
        responses=problem_responses(401, 403, 404, 422, 503),
    )
    async def get(instance_id: uuid.UUID, p: QuantUser) -> sc.InstanceDetail:
        wire = await admin.call("details", str(instance_id), _reader(p))
        return sc.InstanceDetail.of(wire)

    @router.post(
        f"{PREFIX}/{{instance_id}}/promote",
        operation_id="promote_strategy_params",
        summary="Promote a job's result, explicit params or a waiting proposal (guardrailed)",
        responses=problem_responses(401, 403, 404, 409, 422, 503),
    )
    async def promote(
        instance_id: uuid.UUID, body: sc.PromoteBody, p: QuantUser
    ) -> sc.DecisionPublic:
        decision = await admin.promote(
            str(instance_id),
            by=str(p.user_id),
            job_id=None if body.job_id is None else str(body.job_id),
            params=body.params,
            proposal_id=body.proposal_id,
            owner_user_id=_reader(p),
        )
        return sc.DecisionPublic.model_validate(decision)

    @router.post(
        f"{PREFIX}/{{instance_id}}/rollback",
        operation_id="rollback_strategy_params",
        summary="A new version with the parameters in force before the current ones",
        responses=problem_responses(401, 403, 404, 409, 422, 503),
    )
    async def rollback(
        instance_id: uuid.UUID, body: sc.RollbackBody, p: QuantUser
    ) -> sc.VersionPublic:
        wire = await admin.call(
            "rollback", str(instance_id), str(p.user_id), body.reason, _reader(p)
        )
        return sc.VersionPublic.model_validate(wire)

    async def set_status(instance_id: uuid.UUID, status: str, p: Principal) -> sc.InstancePublic:
        wire = await admin.call("set_status", str(instance_id), status, str(p.user_id), _reader(p))
        return sc.InstancePublic.of(wire)

    @router.post(
        f"{PREFIX}/{{instance_id}}/start",
        operation_id="start_strategy_instance",
        summary="Set the instance running (its runner trades while it is not stopped)",
        responses=problem_responses(401, 403, 404, 422, 503),
    )
    async def start(instance_id: uuid.UUID, p: QuantUser) -> sc.InstancePublic:
        wire = await admin.start(str(instance_id), str(p.user_id), _reader(p))
        return sc.InstancePublic.of(wire)

    @router.post(
        f"{PREFIX}/{{instance_id}}/stop",
        operation_id="stop_strategy_instance",
        summary="Set the instance stopped (its runner stops placing orders)",
        responses=problem_responses(401, 403, 404, 422, 503),
    )
    async def stop(instance_id: uuid.UUID, p: QuantUser) -> sc.InstancePublic:
        return await set_status(instance_id, "stopped", p)

    app.include_router(router)
