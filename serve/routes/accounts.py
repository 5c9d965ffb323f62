"""Accounts: create and read, per-account configuration, admin ceilings, paper funding.

Object-level checks live in ``AccountsService``: another user's account answers 404,
exactly like an id that does not exist. Admins may read any account but change only the
ceilings; funding and resets are the owner's.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, FastAPI, status
from fastapi.concurrency import run_in_threadpool

from cluster.accounts.types import ConfigPatch, LimitsPatch
from domain.errors import Conflict, TransientError
from domain.ids import AccountId
from serve.deps import AdminUser, CurrentUser, ServicesDep
from serve.routes.users import accounts_of
from serve.schemas.accounts import (
    AccountConfigPublic,
    AccountConfigUpdate,
    AccountCreate,
    AccountLimitsUpdate,
    AccountPublic,
    FundRequest,
    PaperResult,
    ResetRequest,
)
from serve.schemas.problem import problem_responses
from serve.services import Services

router = APIRouter(tags=["accounts"])


@router.post(
    "/v1/accounts",
    status_code=status.HTTP_201_CREATED,
    response_model=AccountPublic,
    summary="Open an account (custodial: the caller is the guardian, `minor` is required)",
    responses=problem_responses(401, 422),
)
async def create_account(
    body: AccountCreate, principal: CurrentUser, services: ServicesDep
) -> AccountPublic:
    account = await run_in_threadpool(
        accounts_of(services).create_account,
        principal.user_id,
        body.type,
        body.minor.to_domain() if body.minor else None,
    )
    return AccountPublic.of(account)


@router.get(
    "/v1/accounts",
    response_model=list[AccountPublic],
    summary="The caller's accounts",
    responses=problem_responses(401),
)
async def list_accounts(principal: CurrentUser, services: ServicesDep) -> list[AccountPublic]:
    rows = await run_in_threadpool(accounts_of(services).list_accounts, principal.user_id)
    return [AccountPublic.of(a) for a in rows]


@router.get(
    "/v1/accounts/{account_id}",
    response_model=AccountPublic,
    summary="One account (own, or any for an admin)",
    responses=problem_responses(401, 404, 422),
)
async def get_account(
    account_id: str, principal: CurrentUser, services: ServicesDep
) -> AccountPublic:
    account = await run_in_threadpool(
        accounts_of(services).get_account,
        principal.user_id,
        account_id,
        admin=principal.is_admin,
    )
    return AccountPublic.of(account)


@router.get(
    "/v1/accounts/{account_id}/config",
    response_model=AccountConfigPublic,
    summary="Effective limits and the admin's ceilings",
    responses=problem_responses(401, 404, 422),
)
async def get_account_config(
    account_id: str, principal: CurrentUser, services: ServicesDep
) -> AccountConfigPublic:
    config = await run_in_threadpool(
        accounts_of(services).get_config, principal.user_id, account_id, admin=principal.is_admin
    )
    return AccountConfigPublic.of(config)


@router.patch(
    "/v1/accounts/{account_id}/config",
    response_model=AccountConfigPublic,
    summary="Set the owner's limits (never above the admin's ceilings: 422 above-ceiling)",
    responses=problem_responses(401, 404, 422),
)
async def update_account_config(
    account_id: str, body: AccountConfigUpdate, principal: CurrentUser, services: ServicesDep
) -> AccountConfigPublic:
    sent = body.model_fields_set
    patch = ConfigPatch(
        max_order_notional=body.max_order_notional,
        max_position_notional=body.max_position_notional,
        allow_extended_hours=body.allow_extended_hours,
        clear=frozenset(
            n
            for n in ("max_order_notional", "max_position_notional")
            if n in sent and getattr(body, n) is None
        ),
    )
    config = await run_in_threadpool(
        accounts_of(services).update_config, principal.user_id, account_id, patch
    )
    return AccountConfigPublic.of(config)


@router.patch(
    "/v1/admin/accounts/{account_id}/limits",
    response_model=AccountConfigPublic,
    tags=["admin"],
    summary="Set an account's ceilings (admin only); user limits above them are lowered",
    responses=problem_responses(401, 403, 404, 422),
)
async def set_account_limits(
    account_id: str, body: AccountLimitsUpdate, admin: AdminUser, services: ServicesDep
) -> AccountConfigPublic:
    patch = LimitsPatch(
        ceiling_max_order_notional=body.ceiling_max_order_notional,
        ceiling_max_position_notional=body.ceiling_max_position_notional,
        extended_hours_permitted=body.extended_hours_permitted,
    )
    config = await run_in_threadpool(
        accounts_of(services).set_limits, admin.user_id, account_id, patch
    )
    return AccountConfigPublic.of(config)


def _paper_orders(services: Services) -> Any:
    if services.orders is None:
        raise TransientError("the order service is not available")
    if services.settings.broker != "paper":
        raise Conflict("funding and reset are for paper accounts only")
    return services.orders


@router.post(
    "/v1/accounts/{account_id}/fund",
    response_model=PaperResult,
    summary="Add paper cash to an account (owner only)",
    responses=problem_responses(401, 404, 409, 422, 503),
)
async def fund_account(
    account_id: str, body: FundRequest, principal: CurrentUser, services: ServicesDep
) -> PaperResult:
    account = await run_in_threadpool(
        accounts_of(services).require_owner, principal.user_id, account_id
    )
    orders = _paper_orders(services)
    cash = await run_in_threadpool(orders.fund_paper, AccountId(account.id), Decimal(body.amount))
    return PaperResult(account_id=account.id, action="fund", amount=body.amount, cash=cash)


@router.post(
    "/v1/accounts/{account_id}/reset",
    response_model=PaperResult,
    summary="Reset a paper account to a starting cash balance (owner only)",
    responses=problem_responses(401, 404, 409, 422, 503),
)
async def reset_account(
    account_id: str, principal: CurrentUser, services: ServicesDep, body: ResetRequest | None = None
) -> PaperResult:
    body = body or ResetRequest()
    account = await run_in_threadpool(
        accounts_of(services).require_owner, principal.user_id, account_id
    )
    orders = _paper_orders(services)
    cash = await run_in_threadpool(
        orders.reset_paper, AccountId(account.id), Decimal(body.starting_cash)
    )
    return PaperResult(account_id=account.id, action="reset", amount=body.starting_cash, cash=cash)


def register(app: FastAPI, services: Services) -> None:
    app.include_router(router)
