"""Every decimal of every response model prints as a plain decimal with its places.

The models are found, not listed: every ``PublicModel`` subclass in ``serve.schemas`` and
``serve.routes`` (the API's response models; ``test_openapi`` checks that every route
answers with one) and every model the gateway publishes, with the models they nest. A
field typed as a bare ``Decimal`` (or a money-named ``str``) fails here, so does a wire
type whose serializer would print an exponent.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

import serve.routes
import serve.schemas
from serve.gateway_schemas import SERVER_MODELS
from serve.schemas.base import MONEY_PATTERN, MoneyStr, PublicModel, WireDecimal

#: Field names that hold an amount, a price or a quantity whatever their declared type.
NUMERIC_NAME = re.compile(
    r"(price|qty|quantity|amount|cash|notional|equity|value|cost|basis|_pl$|^pl$|"
    r"profit_loss|buying_power|percent)"
)
PLAIN = re.compile(r"^-?\d+(\.\d{1,9})?$")


def _import_all() -> None:
    for package in (serve.schemas, serve.routes):
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            importlib.import_module(info.name)


def _subclasses(cls: type[BaseModel]) -> Iterator[type[BaseModel]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


@dataclass(frozen=True)
class WireField:
    model: type[BaseModel]
    name: str
    marker: WireDecimal
    wrap: Callable[[Decimal], Any]  # puts one value where the field's type expects it

    def __str__(self) -> str:
        return f"{self.model.__name__}.{self.name}"


def _walk(tp: Any, metadata: list[Any], wrap: Callable[[Decimal], Any]) -> Iterator[Any]:
    """Yield ``(marker_or_None, wrap)`` for each Decimal reachable in ``tp``, and models."""
    if get_origin(tp) is Annotated:
        inner, *meta = get_args(tp)
        yield from _walk(inner, [*metadata, *meta], wrap)
        return
    markers = [m for m in metadata if isinstance(m, WireDecimal)]
    if tp is Decimal:
        yield ("decimal", markers[0] if markers else None, wrap)
        return
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        yield ("model", tp, wrap)
        return
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        for arg in get_args(tp):
            yield from _walk(arg, metadata, wrap)
    elif origin in (list, tuple, set, frozenset):
        yield from _walk(get_args(tp)[0], [], lambda v, w=wrap: w([v]))  # type: ignore[misc]
    elif origin is dict:
        yield from _walk(get_args(tp)[1], [], lambda v, w=wrap: w({"k": v}))  # type: ignore[misc]


def _response_models() -> list[type[BaseModel]]:
    _import_all()
    roots: list[type[BaseModel]] = [*_subclasses(PublicModel), *SERVER_MODELS.values()]
    seen: dict[type[BaseModel], None] = {}
    stack = list(roots)
    while stack:
        model = stack.pop()
        if model in seen:
            continue
        seen[model] = None
        for field in model.model_fields.values():
            for kind, found, _ in _walk(field.annotation, list(field.metadata), lambda v: v):
                if kind == "model":
                    stack.append(found)
    return sorted(seen, key=lambda m: f"{m.__module__}.{m.__qualname__}")


MODELS = _response_models()


def _fields(models: list[type[BaseModel]]) -> tuple[list[WireField], list[str]]:
    found: list[WireField] = []
    bare: list[str] = []
    for model in models:
        for name, field in model.model_fields.items():
            hits = list(_walk(field.annotation, list(field.metadata), lambda v: v))
            decimals = [(m, w) for kind, m, w in hits if kind == "decimal"]
            for marker, wrap in decimals:
                if marker is None:
                    bare.append(f"{model.__name__}.{name}: bare Decimal")
                else:
                    found.append(WireField(model, name, marker, wrap))
            if not decimals and NUMERIC_NAME.search(name) and _is_text(field.annotation):
                bare.append(f"{model.__name__}.{name}: a number typed as str")
    return found, bare


def _is_text(tp: Any) -> bool:
    if tp is str:
        return True
    return any(_is_text(a) for a in get_args(tp) if a is not type(None))


FIELDS, BARE = _fields(MODELS)


def test_response_models_when_collected_then_the_api_and_gateway_models_are_all_there() -> None:
    names = {m.__name__ for m in MODELS}
    assert {"OrderPublic", "AccountSummary", "PositionPublic", "PaperResult"} <= names
    assert {"QuotePublic", "TradeUpdate", "OrderEventMessage", "MarketMessage"} <= names
    kinds = {f.marker.kind for f in FIELDS}
    assert kinds == {"money", "price", "quantity", "decimal"}
    assert "AccountSummary.buying_power" in {str(f) for f in FIELDS}


def test_response_models_when_a_decimal_is_not_a_wire_type_then_fail() -> None:
    assert BARE == [], "use MoneyStr/PriceStr/QuantityStr/DecimalStr (serve.schemas.base)"


def test_walker_when_a_model_has_a_bare_decimal_then_it_is_reported() -> None:
    class Sneaky(BaseModel):  # not a PublicModel: MODELS stays as collected
        fee: Decimal
        fees: list[Decimal | None]
        market_value: str | None
        cash: MoneyStr
        note: str

    found, bare = _fields([Sneaky])
    assert [str(f) for f in found] == ["Sneaky.cash"]
    assert bare == [
        "Sneaky.fee: bare Decimal",
        "Sneaky.fees: bare Decimal",
        "Sneaky.market_value: a number typed as str",
    ]


def _decimals() -> st.SearchStrategy[Decimal]:
    digits = st.integers(min_value=0, max_value=10**20)
    return st.builds(
        lambda sign, d, exp: Decimal((sign, tuple(int(c) for c in str(d)), exp)),
        st.sampled_from([0, 1]),
        digits,
        st.integers(min_value=-30, max_value=12),
    )


def _dump(field: WireField, value: Decimal) -> str:
    wrapped = field.wrap(value)
    instance = field.model.model_construct(**{field.name: wrapped})
    out = instance.model_dump(mode="json", include={field.name}, by_alias=False)[field.name]
    while isinstance(out, list | dict):
        out = out[0] if isinstance(out, list) else out["k"]
    assert isinstance(out, str), f"{field} serialized to {out!r}, not a string"
    return out


@pytest.mark.parametrize("field", FIELDS, ids=str)
@settings(max_examples=60, deadline=None)
@given(value=_decimals())
@example(value=Decimal("0E-16"))
@example(value=Decimal("1E+3"))
@example(value=Decimal("-0"))
@example(value=Decimal("-0.001"))
@example(value=Decimal("1E-30"))
@example(value=Decimal("123456789012345678901234.5"))
@example(value=Decimal("9.999999999E+14"))
@example(value=Decimal("0.005"))
def test_wire_decimal_when_serialized_then_plain_with_its_places(
    field: WireField, value: Decimal
) -> None:
    text = _dump(field, value)
    assert "e" not in text.lower(), f"{field}: {value!r} -> {text}"
    assert not re.fullmatch(r"-0(\.0*)?", text), f"{field}: negative zero {text}"
    places = Decimal("0.01") if field.marker.kind == "money" else Decimal("1E-9")
    pattern = MONEY_PATTERN if field.marker.kind == "money" else PLAIN.pattern
    assert re.fullmatch(pattern, text), f"{field}: {value!r} -> {text}"
    with localcontext(Context(prec=100)):
        assert Decimal(text) == value.quantize(places, rounding=ROUND_HALF_EVEN)
