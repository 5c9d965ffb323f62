"""Assets: the symbols Elson carries, in Alpaca's ``/v2/assets`` shape.

Nothing to look up: the carried symbols are configuration (``ELSON_FEED_SYMBOLS``) and an
asset's id is derived from its symbol (``domain.assets``), so these routes do no I/O.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, FastAPI, Path, Query

from domain import assets
from serve.deps import CurrentUser
from serve.schemas.portfolio import AssetPublic
from serve.schemas.problem import problem_responses
from serve.services import Services


def register(app: FastAPI, services: Services) -> None:
    router = APIRouter(prefix="/v1", tags=["market"], responses=problem_responses(401, 404, 422))

    @router.get(
        "/assets",
        response_model=list[AssetPublic],
        summary="The assets Elson carries (US equities, by symbol)",
    )
    async def list_assets(
        who: CurrentUser,
        status: Annotated[Literal["active", "inactive"] | None, Query()] = None,
        asset_class: Annotated[Literal["us_equity"] | None, Query()] = None,
    ) -> list[AssetPublic]:
        carried = assets.carried(services.settings.symbols)
        return [AssetPublic.of(a) for a in carried if status in (None, a.status)]

    @router.get(
        "/assets/{symbol_or_asset_id}",
        response_model=AssetPublic,
        summary="One asset, by symbol or asset id",
    )
    async def get_asset(
        symbol_or_asset_id: Annotated[str, Path(max_length=64)], who: CurrentUser
    ) -> AssetPublic:
        return AssetPublic.of(assets.find(services.settings.symbols, symbol_or_asset_id))

    app.include_router(router)
