"""Market-data routes: thin reads over ``services.marketdata`` (``MarketDataQuery``).

Symbols are validated with ``domain.ids.Symbol``; a bad one is a 422 problem naming the
field (``symbols`` or ``symbol``). A shard that is down answers 503 (retry).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Query

from domain.errors import TransientError, ValidationFailed
from domain.ids import Symbol
from serve.deps import CurrentUser
from serve.schemas import marketdata as sc
from serve.services import Services

MAX_SYMBOLS = 100
PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not authenticated (`/problems/unauthenticated`)"},
    422: {"description": "Invalid input (`/problems/validation`)"},
    503: {"description": "A feed shard is unavailable (`/problems/dependency-unavailable`)"},
}


def parse_symbols(raw: str, field: str = "symbols") -> list[Symbol]:
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    if not parts:
        raise ValidationFailed(field, "required", f"{field} must name at least one symbol")
    if len(parts) > MAX_SYMBOLS:
        raise ValidationFailed(field, "too-many", f"at most {MAX_SYMBOLS} symbols per request")
    return list(dict.fromkeys(Symbol(p, field) for p in parts))


def register(app: FastAPI, services: Services) -> None:
    router = APIRouter(prefix="/v1/marketdata", tags=["market data"], responses=PROBLEMS)

    def query() -> Any:
        if services.marketdata is None:
            raise TransientError("market data is not available")
        return services.marketdata

    @router.get("/snapshots", summary="Latest quote, trade and 1-minute bar per symbol")
    async def get_snapshots(
        _: CurrentUser,
        symbols: Annotated[str, Query(max_length=2000, description="Comma list: AAPL,MSFT")],
    ) -> sc.SnapshotsPublic:
        wanted = parse_symbols(symbols)
        found = await query().snapshots(wanted)
        return sc.SnapshotsPublic(
            snapshots={s: sc.SnapshotPublic.model_validate(found[s]) for s in wanted if s in found},
            missing=[s for s in wanted if s not in found],
        )

    @router.get("/bars/{symbol}", summary="Recent 1-minute bars, oldest first")
    async def get_bars(
        _: CurrentUser,
        symbol: Annotated[str, Path(max_length=16)],
        limit: Annotated[int, Query(ge=1, le=1000)] = 120,
    ) -> sc.BarsPublic:
        sym = Symbol(symbol, "symbol")
        found = await query().bars(sym, limit)
        return sc.BarsPublic(
            symbol=sym, bars=[sc.BarPublic.model_validate(b.to_wire()) for b in found]
        )

    @router.get("/feed/status", summary="Active provider, staleness and breakers per symbol")
    async def get_feed_status(_: CurrentUser) -> sc.FeedStatusPublic:
        return sc.FeedStatusPublic.model_validate(await query().feed_status())

    app.include_router(router)
