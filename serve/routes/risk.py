"""Risk routes: read trading states, locks, breakers and limits; change them (admin); the
kill switch (admin, and an account's owner on their own account). Thin: parse, one
``RiskAdmin`` call, map. Every change is made by the one ``RiskEngine`` actor and audited.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query
from fastapi.concurrency import run_in_threadpool

from domain.errors import TransientError
from domain.risk.states import Scope
from serve.deps import AdminUser, CurrentUser, Principal
from serve.routes.trading import AccountPath, _account
from serve.schemas import risk as sc
from serve.schemas.problem import problem_responses
from serve.services import Services

PROBLEMS = problem_responses(401, 403, 404, 409, 422, 503)


def _by(who: Principal) -> str:
    return f"user:{who.user_id}"


def _scope(text: str) -> str:
    return str(Scope.parse(text))  # a bad scope is a 422 before any call


def register(app: FastAPI, services: Services) -> None:
    router = APIRouter(prefix="/v1", tags=["risk"], responses=PROBLEMS)

    def admin() -> Any:
        if services.risk_admin is None:
            raise TransientError("the risk engine is not available")
        return services.risk_admin

    @router.get("/risk", response_model=sc.RiskBookPublic, summary="The whole risk book (admin)")
    async def risk_book(_: AdminUser) -> sc.RiskBookPublic:
        return sc.RiskBookPublic.of(await run_in_threadpool(admin().book))

    @router.get(
        "/accounts/{account_id}/risk",
        response_model=sc.RiskBookPublic,
        summary="What applies to one account: states, locks, breakers, limits",
    )
    async def account_risk(account_id: AccountPath, who: CurrentUser) -> sc.RiskBookPublic:
        acct = await _account(services, who, account_id, write=False)
        return sc.RiskBookPublic.of(
            await run_in_threadpool(lambda: admin().book(account=str(acct)))
        )

    @router.get(
        "/risk/audit",
        response_model=list[sc.AuditEntry],
        summary="Every risk transition, newest first (admin)",
    )
    async def risk_audit(
        _: AdminUser,
        subject: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> list[sc.AuditEntry]:
        rows = await run_in_threadpool(lambda: admin().audit(subject=subject, limit=limit))
        return [sc.AuditEntry(**r) for r in rows]

    def to_state(state: str) -> Any:
        """One route per target state; the state is bound here, never a parameter (a
        ``state=`` default would become a query parameter a client could set)."""

        async def change(body: sc.StateChange, who: AdminUser) -> sc.StateChanged:
            done = await admin().call("set_state", _scope(body.scope), state, body.reason, _by(who))
            return sc.StateChanged(**done)

        return change

    for verb, state in (("halt", "halted"), ("reduce", "reducing"), ("resume", "active")):
        router.add_api_route(
            f"/risk/{verb}",
            to_state(state),
            methods=["POST"],
            response_model=sc.StateChanged,
            name=f"risk_{verb}",
            operation_id=f"risk_{verb}",
            summary=f"Set a scope's trading state to {state} (admin)",
        )

    @router.post(
        "/risk/locks",
        response_model=sc.LockPublic,
        status_code=201,
        summary="Lock a scope against new exposure (admin)",
    )
    async def create_lock(body: sc.LockCreate, who: AdminUser) -> sc.LockPublic:
        until = None if body.until is None else body.until.isoformat()
        lock = await admin().call(
            "create_lock", _scope(body.scope), body.reason, _by(who), until, body.duration_s
        )
        return sc.LockPublic(**lock)

    @router.delete(
        "/risk/locks/{lock_id}", response_model=sc.LockPublic, summary="Release a lock (admin)"
    )
    async def release_lock(
        lock_id: str,
        who: AdminUser,
        reason: Annotated[str, Query(min_length=1, max_length=500)] = "released",
    ) -> sc.LockPublic:
        return sc.LockPublic(**await admin().call("release_lock", lock_id, _by(who), reason))

    @router.put("/risk/limits", response_model=sc.LimitsSet, summary="Set a scope's limits (admin)")
    async def set_limits(body: sc.LimitsUpdate, who: AdminUser) -> sc.LimitsSet:
        limits = body.model_dump(exclude={"scope"}, mode="json")
        done = await admin().call("set_limits", _scope(body.scope), limits, _by(who))
        return sc.LimitsSet(
            scope=done["scope"],
            limits=sc.LimitsPublic(scope=done["scope"], **done["limits"]),
            version=done["version"],
        )

    @router.put(
        "/risk/protections",
        response_model=sc.ProtectionsSet,
        summary="Set an account's loss protections: daily loss, drawdown, stop-outs (admin)",
    )
    async def set_protections(body: sc.ProtectionsUpdate, who: AdminUser) -> sc.ProtectionsSet:
        settings = body.model_dump(exclude={"scope"}, mode="json")
        done = await admin().call("set_protections", _scope(body.scope), settings, _by(who))
        return sc.ProtectionsSet(
            scope=done["scope"],
            protections=sc.ProtectionsPublic(**done["protections"]),
            version=done["version"],
        )

    @router.post(
        "/risk/breakers/{name}/trip",
        response_model=sc.BreakerPublic,
        summary="Open a broker's breaker by hand until reset (admin)",
    )
    async def trip(name: str, body: sc.BreakerChange, who: AdminUser) -> sc.BreakerPublic:
        state = await admin().call("trip_breaker", name, _by(who), body.reason)
        return sc.BreakerPublic(breaker=name, state=state)

    @router.post(
        "/risk/breakers/{name}/reset",
        response_model=sc.BreakerPublic,
        summary="Close a broker's breaker (admin)",
    )
    async def reset(name: str, body: sc.BreakerChange, who: AdminUser) -> sc.BreakerPublic:
        state = await admin().call("reset_breaker", name, _by(who), body.reason)
        return sc.BreakerPublic(breaker=name, state=state)

    @router.post(
        "/risk/kill-switch",
        response_model=sc.KillReport,
        summary="Halt a scope, cancel its open orders, optionally flatten (admin)",
    )
    async def kill(body: sc.KillSwitch, who: AdminUser) -> sc.KillReport:
        return sc.KillReport(
            **await admin().call(
                "kill_switch", _scope(body.scope), _by(who), body.reason, body.flatten
            )
        )

    @router.post(
        "/accounts/{account_id}/kill-switch",
        response_model=sc.KillReport,
        summary="The owner's kill switch on their own account",
    )
    async def account_kill(
        account_id: AccountPath, body: sc.AccountKillSwitch, who: CurrentUser
    ) -> sc.KillReport:
        acct = await _account(services, who, account_id, write=who.role != "admin")
        scope = str(Scope.account(str(acct)))
        report = await admin().call("kill_switch", scope, _by(who), body.reason, body.flatten)
        return sc.KillReport(**report)

    app.include_router(router)
