"""domain.assets: stable ids, Alpaca's listing fields, lookups by symbol or id."""

from __future__ import annotations

import uuid

import pytest

from domain import assets
from domain.errors import NotFound


def test_asset_id_when_derived_twice_then_same_uuid_and_case_blind() -> None:
    first = assets.asset_id("AAPL")
    assert first == assets.asset_id("aapl") == str(uuid.UUID(first))
    assert first != assets.asset_id("MSFT")
    # pinned: changing the namespace would change every id clients stored
    assert first == str(uuid.uuid5(uuid.uuid5(uuid.NAMESPACE_URL, "elson:assets"), "AAPL"))


def test_carried_when_listed_then_sorted_unique_with_exchange() -> None:
    listed = assets.carried(["spy", "AAPL", "SPY", "ZZZZ"])
    assert [a.symbol for a in listed] == ["AAPL", "SPY", "ZZZZ"]
    assert [a.exchange for a in listed] == ["NASDAQ", "ARCA", ""]
    assert all(a.tradable and a.fractionable and not a.shortable for a in listed)


def test_find_when_symbol_or_id_then_asset() -> None:
    carried = ["AAPL", "MSFT"]
    assert assets.find(carried, "msft").symbol == "MSFT"
    assert assets.find(carried, assets.asset_id("AAPL").upper()).symbol == "AAPL"


@pytest.mark.parametrize("key", ["TSLA", str(uuid.uuid4()), "not a symbol"])
def test_find_when_not_carried_then_not_found(key: str) -> None:
    with pytest.raises(NotFound):
        assets.find(["AAPL"], key)
