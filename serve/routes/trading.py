"""Trading routes: thin. Each validates its schema, calls the order service, and returns a
public schema. Sync service calls run in the thread pool; broker routing is async.

Access: a user acts on their own accounts only (another user's account or order answers
404); an admin may read any account but never trades on someone else's (403).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header, Path, Query, Response
from fastapi.concurrency import run_in_threadpool

from cluster.access import account_for
from domain.errors import DomainError, TransientError, ValidationFailed
from domain.ids import AccountId, OrderId, parse_order_id
from domain.ledger import EntryKind
from domain.order_request import OrderRequest, ReplaceRequest
from domain.orders import Order, OrderType, Side, TimeInForce
from serve.deps import CurrentUser, Principal
from serve.problems import slug_for
from serve.schemas import trading as sc
from serve.schemas.problem import problem_responses
from serve.services import Services

# documented as application/problem+json with the shared Problem schema
PROBLEMS = problem_responses(401, 403, 404, 409, 422, 503)
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
        return public(await _cancel(services, acct, _order_id(order_id)))

    @router.delete(
        "/accounts/{account_id}/orders",
        status_code=207,
        response_model=list[sc.CancelResult],
        summary="Cancel every open order (207 with a result per order)",
    )
    async def cancel_all_orders(account_id: AccountPath, who: CurrentUser) -> list[sc.CancelResult]:
        acct = await _account(services, who, account_id, write=True)
        orders, _ = await run_in_threadpool(
            lambda: _orders(services).list_orders(acct, status="open", limit=500)
        )
        results = []
        for order in orders:
            try:
                cancelled = await _cancel(services, acct, order.id)
                results.append(
                    sc.CancelResult(id=str(order.id), status=200, body=public(cancelled))
                )
            except DomainError as exc:
                slug = slug_for(exc) or "conflict"
                results.append(
                    sc.CancelResult(
                        id=str(order.id),
                        status=409 if slug != "not-found" else 404,
                        body=sc.CancelProblem(type=f"/problems/{slug}", detail=exc.message),
                    )
                )
        return results

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
        orders = _orders(services)
        old = await run_in_threadpool(orders.get, acct, _order_id(order_id))
        replace = ReplaceRequest.parse(old, **body.model_dump())
        old, new = await run_in_threadpool(orders.request_replace, acct, old.id, replace)
        return public(new)

    @router.get(
        "/accounts/{account_id}/positions",
        response_model=list[sc.PositionPublic],
        summary="Open positions",
    )
    async def list_positions(account_id: AccountPath, who: CurrentUser) -> list[sc.PositionPublic]:
        acct = await _account(services, who, account_id, write=False)
        return [
            _position(services, p)
            for p in await run_in_threadpool(_orders(services).positions, acct)
        ]

    @router.get(
        "/accounts/{account_id}/positions/{symbol}",
        response_model=sc.PositionPublic,
        summary="One position",
    )
    async def get_position(
        account_id: AccountPath, symbol: Annotated[str, Path(max_length=12)], who: CurrentUser
    ) -> sc.PositionPublic:
        acct = await _account(services, who, account_id, write=False)
        return _position(services, await _find_position(services, acct, symbol))

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
        pos = await _find_position(services, acct, symbol)
        return public(await _close(services, acct, pos, qty, percentage))

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
        results = []
        for pos in await run_in_threadpool(_orders(services).positions, acct):
            try:
                order = await _close(services, acct, pos, None, None)
                results.append(sc.CancelResult(id=pos.symbol, status=200, body=public(order)))
            except DomainError as exc:
                problem = sc.CancelProblem(type=f"/problems/{slug_for(exc)}", detail=exc.message)
                results.append(sc.CancelResult(id=pos.symbol, status=422, body=problem))
        return results

    @router.get(
        "/accounts/{account_id}/summary",
        response_model=sc.AccountSummary,
        summary="Cash, buying power and equity",
    )
    async def get_account_summary(account_id: AccountPath, who: CurrentUser) -> sc.AccountSummary:
        acct = await _account(services, who, account_id, write=False)
        orders = _orders(services)
        cash, bp, pos = await run_in_threadpool(
            lambda: (orders.cash(acct), orders.buying_power(acct), orders.positions(acct))
        )
        value = sum((_mark(services, p) * p.qty for p in pos), Decimal(0))
        return sc.AccountSummary(
            account_id=str(acct),
            cash=cash,
            buying_power=bp,
            equity=cash + value,
            positions_value=value,
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
        "/accounts/{account_id}/portfolio/history",
        response_model=sc.PortfolioHistory,
        summary="Equity after each ledger entry (positions at their last fill price)",
    )
    async def get_portfolio_history(
        account_id: AccountPath, who: CurrentUser
    ) -> sc.PortfolioHistory:
        acct = await _account(services, who, account_id, write=False)
        entries, _ = await run_in_threadpool(lambda: _orders(services).activities(acct, limit=500))
        return _history(list(reversed(entries)))

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
    ) -> list[dict[str, Any]]:
        today = services.clock.now().date()
        start = start or today
        end = end or start + timedelta(days=30)
        if end < start:
            raise ValidationFailed("end", "after-start", "end must not be before start")
        if (end - start).days > 366:
            raise ValidationFailed("end", "range-too-long", "at most 366 days")
        return [_session(s) for s in services.calendar.sessions(start, end)]

    app.include_router(router)


async def _cancel(services: Services, acct: AccountId, order_id: OrderId) -> Order:
    order: Order = await run_in_threadpool(_orders(services).request_cancel, acct, order_id)
    return order


async def _find_position(services: Services, acct: AccountId, symbol: str) -> Any:
    from domain.errors import NotFound
    from domain.ids import Symbol

    sym = Symbol.parse(symbol, "symbol")
    for p in await run_in_threadpool(_orders(services).positions, acct):
        if p.symbol == sym:
            return p
    raise NotFound(f"no open position in {sym}")


async def _close(
    services: Services, acct: AccountId, pos: Any, qty: str | None, pct: str | None
) -> Order:
    if qty is not None and pct is not None:
        raise ValidationFailed("qty", "qty-xor-percentage", "give qty or percentage, not both")
    amount = abs(pos.qty)
    if qty is not None:
        amount = Decimal(qty)
    elif pct is not None:
        p = Decimal(pct)
        if not Decimal(0) < p <= Decimal(100):
            raise ValidationFailed("percentage", "percent-range", "percentage must be in (0, 100]")
        amount = (abs(pos.qty) * p / 100).quantize(Decimal("0.000000001"))
    if amount <= 0 or amount > abs(pos.qty):
        raise ValidationFailed("qty", "exceeds-position", "qty must be in (0, position qty]")
    side = Side.SELL if pos.qty > 0 else Side.BUY
    request = OrderRequest.parse(
        symbol=pos.symbol,
        side=side.value,
        type=OrderType.MARKET.value,
        time_in_force=TimeInForce.DAY.value,
        qty=str(amount),
    )
    result = await run_in_threadpool(_orders(services).submit, acct, request)
    order: Order = result.order
    return order


def _mark(services: Services, pos: Any) -> Decimal:
    quote = _orders(services).quotes.latest_quote(pos.symbol)
    if quote is not None:
        return (Decimal(quote.bid_price) + Decimal(quote.ask_price)) / 2
    return Decimal(pos.avg_entry_price)


def _position(services: Services, pos: Any) -> sc.PositionPublic:
    mark = _mark(services, pos)
    value = (mark * pos.qty).quantize(Decimal("0.01"))
    return sc.PositionPublic(
        symbol=pos.symbol,
        qty=pos.qty,
        side="long" if pos.qty >= 0 else "short",
        avg_entry_price=Decimal(pos.avg_entry_price),
        cost_basis=Decimal(pos.cost_basis),
        current_price=mark,
        market_value=value,
        unrealized_pl=(value - Decimal(pos.cost_basis)).quantize(Decimal("0.01")),
    )


def _activity(entry: Any) -> sc.ActivityPublic:
    return sc.ActivityPublic(
        id=entry.id,
        activity_type=EntryKind(entry.kind),
        date=entry.at.isoformat(),
        memo=entry.memo,
        postings=[sc.Posting(account=p.account, amount=p.amount) for p in entry.postings],
    )


def _history(entries: list[Any]) -> sc.PortfolioHistory:
    cash = Decimal(0)
    shares: dict[str, Decimal] = {}
    last_price: dict[str, Decimal] = {}
    ts: list[int] = []
    equity: list[str] = []
    for e in entries:
        fill_qty: dict[str, Decimal] = {}
        fill_cash = Decimal(0)
        for p in e.postings:
            if p.account == "cash":
                cash += p.amount
                fill_cash += p.amount
            elif p.account.startswith("position:"):
                sym = p.account.split(":", 1)[1]
                shares[sym] = shares.get(sym, Decimal(0)) + p.amount
                fill_qty[sym] = p.amount
        for sym, q in fill_qty.items():
            if q:
                last_price[sym] = abs(fill_cash / q)
        value = sum((q * last_price.get(s, Decimal(0)) for s, q in shares.items()), Decimal(0))
        ts.append(int(e.at.timestamp()))
        equity.append(str((cash + value).quantize(Decimal("0.01"))))
    base = equity[0] if equity else "0.00"
    pl = [str(Decimal(v) - Decimal(base)) for v in equity]
    return sc.PortfolioHistory(
        timestamp=ts,
        equity=[Decimal(v) for v in equity],
        profit_loss=[Decimal(v) for v in pl],
        base_value=Decimal(base),
        timeframe="entry",
    )


def _session(s: Any) -> dict[str, Any]:
    from zoneinfo import ZoneInfo

    ny = ZoneInfo("America/New_York")
    return {
        "date": s.date.isoformat(),
        "open": s.open.astimezone(ny).strftime("%H:%M"),
        "close": s.close.astimezone(ny).strftime("%H:%M"),
        "session_open": s.open.isoformat(),
        "session_close": s.close.isoformat(),
    }
