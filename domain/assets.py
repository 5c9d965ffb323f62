"""Assets: the US equities Elson carries, named as Alpaca names them.

An asset id is ``uuid5`` of the symbol in Elson's own namespace: stable across processes,
restarts and databases, so an order or a position can carry it without a table. (They are
not Alpaca's ids: those are assigned by Alpaca and cannot be derived.)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from domain.errors import NotFound

#: Elson's namespace for asset ids (uuid5 of "elson:assets" in the URL namespace)
ASSET_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "elson:assets")

#: Listing exchange and name of the symbols Elson's feed carries by default. A symbol
#: configured beyond these is listed with exchange "" (Alpaca's "unknown") and no name.
_LISTINGS: dict[str, tuple[str, str]] = {
    "AAPL": ("NASDAQ", "Apple Inc. Common Stock"),
    "MSFT": ("NASDAQ", "Microsoft Corporation Common Stock"),
    "GOOG": ("NASDAQ", "Alphabet Inc. Class C Capital Stock"),
    "GOOGL": ("NASDAQ", "Alphabet Inc. Class A Common Stock"),
    "AMZN": ("NASDAQ", "Amazon.com, Inc. Common Stock"),
    "TSLA": ("NASDAQ", "Tesla, Inc. Common Stock"),
    "NVDA": ("NASDAQ", "NVIDIA Corporation Common Stock"),
    "META": ("NASDAQ", "Meta Platforms, Inc. Class A Common Stock"),
    "SPY": ("ARCA", "SPDR S&P 500 ETF Trust"),
    "QQQ": ("NASDAQ", "Invesco QQQ Trust, Series 1"),
    "IWM": ("ARCA", "iShares Russell 2000 ETF"),
}


@dataclass(frozen=True, slots=True)
class Asset:
    """What an order may trade. Elson trades every carried symbol the same way: whole and
    fractional shares (9 decimals), long only (a sell may not exceed the position), no
    margin."""

    id: str
    symbol: str
    exchange: str
    name: str
    asset_class: str = "us_equity"
    status: str = "active"
    tradable: bool = True
    marginable: bool = False
    shortable: bool = False
    easy_to_borrow: bool = False
    fractionable: bool = True


def asset_id(symbol: str) -> str:
    """The stable id of ``symbol`` (upper-case ticker)."""
    return str(uuid.uuid5(ASSET_NAMESPACE, symbol.upper()))


def asset_of(symbol: str) -> Asset:
    exchange, name = _LISTINGS.get(symbol.upper(), ("", ""))
    return Asset(id=asset_id(symbol), symbol=symbol.upper(), exchange=exchange, name=name)


def carried(symbols: Iterable[str]) -> list[Asset]:
    """The assets of the configured symbols, by symbol."""
    return [asset_of(s) for s in sorted({s.upper() for s in symbols})]


def find(symbols: Iterable[str], key: str) -> Asset:
    """The carried asset named by symbol or by asset id; ``NotFound`` otherwise."""
    wanted = key.strip()
    for asset in carried(symbols):
        if wanted.upper() == asset.symbol or wanted.lower() == asset.id:
            return asset
    raise NotFound(f"asset {wanted} not found")
