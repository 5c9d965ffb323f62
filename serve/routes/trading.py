"""Trading routes: thin. Each validates its schema, makes one order-service call in the
thread pool (after the ownership check), and maps the result to a public schema. The
portfolio arithmetic is ``domain.portfolio``; the I/O behind it ``cluster.orders.portfolio``.

Access: a user acts on their own accounts only (another user's account or order answers
404); an admin may read any account but never trades on someone else's (403).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Header, Path, Query, Response
from fastapi.concurrency import run_in_threadpool

from cluster.access import account_for
from domain.errors import DomainError, TransientError, ValidationFailed
from domain.ids import AccountId, OrderId, parse_order_id
from domain.ledger import EntryKind, JournalEntry
from domain.order_request import OrderRequest
from domain.orders import Order, Side
from domain.risk.codes import Denial, ReasonCode
from domain.risk.gate import denied_error
from serve.deps import CurrentUser, Principal
from serve.problems import slug_for
from serve.schemas import portfolio as ps
from serve.schemas import trading as sc
from serve.schemas.problem import problem_responses
from serve.services import Services

# documented as application/problem+json with the shared Problem schema
PROBLEMS = problem_responses(401, 403, 404, 409, 422, 429, 503)
AccountPath = Annotated[str, Path(description="Account id (UUID)", max_length=64)]
IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", max_length=128, description="Retry-safe key")
]


def _orders(services: Services) -> Any:
    if services.orders is None:
        raise TransientError("order service is not available")
    return services.orders


async def _account(
    services: Services, who: Principal, account_id: str, *, write: bool
) -> AccountId:
    acct: AccountId = await run_in_threadpool(
        lambda: account_for(services.db, str(who.user_id), who.role, account_id, write=write)
    )
    return acct


def denied(order: Order) -> DomainError:
    """The problem a rejected submit answers: its type names the reason code."""
    denial = Denial(ReasonCode(order.reject_code or ""), order.reject_reason or "")
    return denied_error(denial, order_id=str(order.id))


def _order_id(value: str) -> OrderId:
    try:
        return parse_order_id(value)
    except ValidationFailed as exc:
        from domain.errors import NotFound

        raise NotFound(f"order {value} not found") from exc


def register(app: FastAPI, services: Services) -> None:
    router = APIRouter(prefix="/v1", tags=["trading"], responses=PROBLEMS)

    def public(order: Order) -> sc.OrderPublic:
        """The public order; ``queued_until`` says when an order accepted while closed opens."""
        return sc.OrderPublic.of(order, services.calendar)

    @router.post(
        "/accounts/{account_id}/orders",
        status_code=201,
        response_model=sc.OrderPublic,
        summary="Submit an order",
        description=(
            "Orders outside regular hours (09:30-16:00 New York on trading days) are "
            "accepted and queued for the open, as Alpaca does: the answer has status "
            "`accepted` and `queued_until`, the instant the order goes live (the next "
            "regular open; the next pre-market start for an `extended_hours` limit day "
            "order, which also trades 04:00-09:30 and after the close until 20:00). "
            "`opg` orders always wait for the opening auction. `GET /v1/clock` tells "
            "whether the market is open and when it next opens."
        ),
        responses={200: {"model": sc.OrderPublic, "description": "Idempotent replay"}},
    )
    async def submit_order(
        account_id: AccountPath,
        body: sc.OrderCreate,
        who: CurrentUser,
        response: Response,
        idempotency_key: IdempotencyKey = None,
    ) -> sc.OrderPublic:
        acct = await _account(services, who, account_id, write=True)
        request = OrderRequest.parse(**body.model_dump())
        result = await run_in_threadpool(
            _orders(services).submit, acct, request, idempotency_key=idempotency_key
        )
        if result.order.reject_code is not None:
            raise denied(result.order)  # stored rejected; the answer is the rule's problem
        if not result.created:
            response.status_code = 200
        return public(result.order)

    @router.get("/accounts/{account_id}/orders", response_model=sc.OrderList, summary="List orders")
    async def list_orders(
        account_id: AccountPath,
        who: CurrentUser,
        status: Annotated[str, Query(pattern=r"^(open|closed|all|[a-z_]{3,20})$")] = "open",
        side: Annotated[Side | None, Query()] = None,
        symbols: Annotated[str | None, Query(max_length=500, description="comma separated")] = None,
        after: datetime | None = None,
        until: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> sc.OrderList:
        acct = await _account(services, who, account_id, write=False)
        for name, value in (("after", after), ("until", until)):
            if value is not None and value.tzinfo is None:
                raise ValidationFailed(name, "timezone-aware-required")
        syms = [s.strip().upper() for s in symbols.split(",") if s.strip()] if symbols else None
        orders, nxt = await run_in_threadpool(
            lambda: _orders(services).list_orders(
                acct,
                status=status,
                side=side.value if side else None,
                symbols=syms,
                after=after,
                until=until,
                limit=limit,
                cursor=cursor,
            )
        )
        return sc.OrderList(orders=[public(o) for o in orders], next_cursor=nxt)

    @router.get(
        "/accounts/{account_id}/orders/by-client-id/{client_order_id}",
        response_model=sc.OrderPublic,
        summary="Get an order by client order id",
    )
    async def get_order_by_client_id(
        account_id: AccountPath,
        client_order_id: Annotated[str, Path(max_length=128)],
        who: CurrentUser,
    ) -> sc.OrderPublic:
        acct = await _account(services, who, account_id, write=False)
        return public(
            await run_in_threadpool(_orders(services).get_by_client_id, acct, client_order_id)
        )

    @router.get(
        "/accounts/{account_id}/orders/{order_id}",
        response_model=sc.OrderPublic,
        summary="Get an order",
    )
    async def get_order(
        account_id: AccountPath, order_id: Annotated[str, Path(max_length=64)], who: CurrentUser
    ) -> sc.OrderPublic:
        acct = await _account(services, who, account_id, write=False)
        order = await run_in_threadpool(_orders(services).get, acct, _order_id(order_id))
        return public(order)

    @router.delete(
        "/accounts/{account_id}/orders/{order_id}",
        response_model=sc.OrderPublic,
        summary="Request cancellation of an order",
    )
    async def cancel_order(
        account_id: AccountPath, order_id: Annotated[str, Path(max_length=64)], who: CurrentUser
    ) -> sc.OrderPublic:
        acct = await _account(services, who, account_id, write=True)
        order = await run_in_threadpool(_orders(services).request_cancel, acct, _order_id(order_id))
        return public(order)

    @router.delete(
        "/accounts/{account_id}/orders",
        status_code=207,
        response_model=list[sc.CancelResult],
        summary="Cancel every open order (207 with a result per order)",
    )
    async def cancel_all_orders(account_id: AccountPath, who: CurrentUser) -> list[sc.CancelResult]:
        acct = await _account(services, who, account_id, write=True)
        outcomes = await run_in_threadpool(_orders(services).cancel_all_orders, acct)
        return [_bulk(key, outcome, public, refused=409) for key, outcome in outcomes]

    @router.patch(
        "/accounts/{account_id}/orders/{order_id}",
        response_model=sc.OrderPublic,
        summary="Replace an order (returns the new order)",
    )
    async def replace_order(
        account_id: AccountPath,
        order_id: Annotated[str, Path(max_length=64)],
        body: sc.OrderReplace,
        who: CurrentUser,
    ) -> sc.OrderPublic:
        acct = await _account(services, who, account_id, write=True)
        new = await run_in_threadpool(
            _orders(services).replace_order, acct, _order_id(order_id), body.model_dump()
        )
        return public(new)

    @router.get(
        "/accounts/{account_id}/positions",
        response_model=list[sc.PositionPublic],
        summary="Open positions",
    )
    async def list_positions(account_id: AccountPath, who: CurrentUser) -> list[sc.PositionPublic]:
        acct = await _account(services, who, account_id, write=False)
        marked = await run_in_threadpool(_orders(services).marked_positions, acct)
        return [sc.PositionPublic.of(p) for p in marked]

    @router.get(
        "/accounts/{account_id}/positions/{symbol}",
        response_model=sc.PositionPublic,
        summary="One position",
    )
    async def get_position(
        account_id: AccountPath, symbol: Annotated[str, Path(max_length=12)], who: CurrentUser
    ) -> sc.PositionPublic:
        acct = await _account(services, who, account_id, write=False)
        marked = await run_in_threadpool(_orders(services).marked_position, acct, symbol)
        return sc.PositionPublic.of(marked)

    @router.delete(
        "/accounts/{account_id}/positions/{symbol}",
        response_model=sc.OrderPublic,
        summary="Close all or part of a position (a market order)",
    )
    async def close_position(
        account_id: AccountPath,
        symbol: Annotated[str, Path(max_length=12)],
        who: CurrentUser,
        qty: Annotated[str | None, Query(pattern=sc._DEC)] = None,
        percentage: Annotated[str | None, Query(pattern=sc._DEC)] = None,
    ) -> sc.OrderPublic:
        acct = await _account(services, who, account_id, write=True)
        order = await run_in_threadpool(
            _orders(services).close_position, acct, symbol, qty, percentage
        )
        return public(order)

    @router.delete(
        "/accounts/{account_id}/positions",
        status_code=207,
        response_model=list[sc.CancelResult],
        summary="Close every position (207)",
    )
    async def close_all_positions(
        account_id: AccountPath, who: CurrentUser
    ) -> list[sc.CancelResult]:
        acct = await _account(services, who, account_id, write=True)
        outcomes = await run_in_threadpool(_orders(services).close_all_positions, acct)
        return [_bulk(key, outcome, public, refused=422) for key, outcome in outcomes]

    @router.get(
        "/accounts/{account_id}/summary",
        response_model=ps.AccountSummary,
        summary="The account in Alpaca's shape: cash, buying power, equity, market values",
    )
    async def get_account_summary(account_id: AccountPath, who: CurrentUser) -> ps.AccountSummary:
        acct = await _account(services, who, account_id, write=False)
        return ps.AccountSummary.of(
            await run_in_threadpool(_orders(services).account_summary, acct)
        )

    @router.get(
        "/accounts/{account_id}/activities",
        response_model=sc.ActivityList,
        summary="Account activities from the ledger",
    )
    async def list_activities(
        account_id: AccountPath,
        who: CurrentUser,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> sc.ActivityList:
        acct = await _account(services, who, account_id, write=False)
        entries, nxt = await run_in_threadpool(
            lambda: _orders(services).activities(acct, limit=limit, cursor=cursor)
        )
        return sc.ActivityList(activities=[_activity(e) for e in entries], next_cursor=nxt)

    @router.get(
        "/accounts/{account_id}/account-activities",
        response_model=ps.AccountActivityPage,
        summary="Account activities in Alpaca's shapes (FILL, CSD, CSW, FEE, JNLC)",
        description=(
            "The ledger as Alpaca's `/v2/account/activities`, newest first: a `FILL` per "
            "execution and a non-trade activity per cash movement. Each id ends with the "
            "ledger entry id it shows (`GET .../activities`); pass `next_page_token` (the "
            "last id of a full page) as `page_token` for the next one."
        ),
    )
    async def list_account_activities(
        account_id: AccountPath,
        who: CurrentUser,
        page_size: Annotated[int, Query(ge=1, le=100)] = 100,
        page_token: Annotated[str | None, Query(max_length=200)] = None,
    ) -> ps.AccountActivityPage:
        acct = await _account(services, who, account_id, write=False)
        page = await run_in_threadpool(
            lambda: _orders(services).account_activities(
                acct, page_size=page_size, page_token=page_token
            )
        )
        return ps.AccountActivityPage.of(page, page_size)

    @router.get(
        "/accounts/{account_id}/portfolio/history",
        response_model=sc.PortfolioHistory,
        summary="Equity after each ledger entry (positions at their last fill price)",
    )
    async def get_portfolio_history(
        account_id: AccountPath, who: CurrentUser
    ) -> sc.PortfolioHistory:
        acct = await _account(services, who, account_id, write=False)
        points = await run_in_threadpool(_orders(services).portfolio_history, acct)
        return sc.PortfolioHistory.of(points)

    @router.get(
        "/clock",
        response_model=sc.Clock,
        tags=["market"],
        summary="Market clock",
        description=(
            "Whether the regular session is open, and the next open and close, now or at "
            "`at` (an aware instant). Unknown query parameters are refused (422)."
        ),
    )
    async def clock(who: CurrentUser, query: Annotated[sc.ClockQuery, Query()]) -> sc.Clock:
        return sc.Clock.of(services.calendar.clock_at(query.at or services.clock.now()))

    @router.get(
        "/calendar",
        response_model=list[sc.CalendarDay],
        tags=["market"],
        summary="Trading sessions between two dates (at most 366 days)",
    )
    async def calendar(
        who: CurrentUser, start: date | None = None, end: date | None = None
    ) -> list[sc.CalendarDay]:
        today = services.clock.now().date()
        start = start or today
        end = end or start + timedelta(days=30)
        if end < start:
            raise ValidationFailed("end", "after-start", "end must not be before start")
        if (end - start).days > 366:
            raise ValidationFailed("end", "range-too-long", "at most 366 days")
        return [sc.CalendarDay.of(s) for s in services.calendar.sessions(start, end)]

    app.include_router(router)


def _bulk(
    key: str,
    outcome: Order | DomainError,
    public: Callable[[Order], sc.OrderPublic],
    *,
    refused: Literal[409, 422],
) -> sc.CancelResult:
    """One entry of a 207 answer: the order, or the problem that refused it."""
    if isinstance(outcome, Order):
        return sc.CancelResult(id=key, status=200, body=public(outcome))
    slug = slug_for(outcome) or "conflict"
    problem = sc.CancelProblem(type=f"/problems/{slug}", detail=outcome.message)
    return sc.CancelResult(id=key, status=404 if slug == "not-found" else refused, body=problem)


def _activity(entry: JournalEntry) -> sc.ActivityPublic:
    return sc.ActivityPublic(
        id=entry.id,
        activity_type=EntryKind(entry.kind),
        date=entry.at.isoformat(),
        memo=entry.memo,
        postings=[sc.Posting(account=p.account, amount=p.amount) for p in entry.postings],
    )
