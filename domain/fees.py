"""What one execution costs in fees, and the most an order can cost: the paper fee model.

Commissions (all default 0, as at a commission-free broker): ``per_share`` x shares,
``per_order`` once per order (on its first fill), and ``rate`` x the fill's value.

Regulatory fees on sells (the seller pays them; a real broker passes them through):

- SEC fee (Exchange Act Section 31): ``sec_rate`` x the sale value. The rate is set by the
  SEC per fiscal year in dollars per million: $27.80 per million from 2024-05-22 (Order
  Making Fiscal Year 2024 Annual Adjustments to Transaction Fee Rates, Release 34-99973,
  89 FR 29402), then $0.00 per million from 2025-05-14 because the fiscal 2025
  appropriation had been collected (SEC announcement of 2025-04-08, reported by the STA
  at securitytraders.org). The fiscal 2026 order (Release 34-104909, 2026-02-27,
  FR Doc 2026-04233) was found but its rate could not be read from the stored copy, so the
  default is the last rate we could verify, 0; set ``ELSON_PAPER_FEE_SEC_RATE`` (a
  fraction: $27.80 per million is ``0.0000278``) to the rate in force.
- FINRA Trading Activity Fee (By-Laws Schedule A, Section 1): ``taf_per_share`` x shares
  sold, at most ``taf_max`` per trade: $0.000166 per share, capped at $8.30 (FINRA's
  rate for covered equity sales since 2024, as brokers publish it, e.g.
  brokerage-review.com "FINRA Trading Activity Fee (TAF)").

Rounding, per fill (a fill is one trade): each regulatory fee is rounded UP to the cent,
as regulators and brokers do ("always rounded up to the nearest cent"). The commission
(per share + rate) is rounded DOWN to the cent, in the customer's favour: then the
commissions of the fills of one order add up to at most the commission of the whole
order at the same price, however the order is split, so :meth:`FeeModel.fee_reserve`
(which rounds up) is a true upper bound for a buy. ``per_order`` is whole cents.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Final

from domain.errors import ValidationFailed
from domain.ledger import reservation
from domain.money import CENT, EXACT, to_decimal
from domain.orders import Order, Side

ZERO: Final = Decimal(0)
#: FINRA TAF for covered equity sales: per share and per-trade cap (see module docstring).
TAF_PER_SHARE: Final = Decimal("0.000166")
TAF_MAX: Final = Decimal("8.30")
#: SEC Section 31 rate as a fraction of the sale value (see module docstring).
SEC_RATE: Final = Decimal("0")


def _up(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_CEILING, context=EXACT)


def _down(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_FLOOR, context=EXACT)


@dataclass(frozen=True)
class FeeModel:
    """Fees of paper executions. ``FeeModel()`` is commission-free with regulatory fees."""

    per_share: Decimal = ZERO
    per_order: Decimal = ZERO
    rate: Decimal = ZERO
    sec_rate: Decimal = SEC_RATE
    taf_per_share: Decimal = TAF_PER_SHARE
    taf_max: Decimal = TAF_MAX

    def __post_init__(self) -> None:
        for name in ("per_share", "per_order", "rate", "sec_rate", "taf_per_share", "taf_max"):
            value = to_decimal(getattr(self, name), name)
            if value < 0:
                raise ValidationFailed(name, "non-negative", f"{name} must be >= 0")
            object.__setattr__(self, name, value)
        if self.rate >= 1 or self.sec_rate >= 1:
            raise ValidationFailed("rate", "fraction", "fee rates are fractions below 1")
        if self.per_order != self.per_order.quantize(CENT, context=EXACT):
            raise ValidationFailed("per_order", "whole-cents", "per_order must be whole cents")

    @classmethod
    def free(cls) -> FeeModel:
        """No fee at all (the classic optimistic paper model)."""
        return cls(sec_rate=ZERO, taf_per_share=ZERO, taf_max=ZERO)

    def fill_fee(self, side: Side, qty: Decimal, price: Decimal, *, first_fill: bool) -> Decimal:
        """The fee of one fill, whole cents: commission, plus SEC fee and TAF on sells."""
        value = EXACT.multiply(qty, price)
        fee = self._commission(qty, value)
        if first_fill:
            fee = EXACT.add(fee, self.per_order)
        if side is Side.SELL:
            fee = EXACT.add(fee, _up(EXACT.multiply(self.sec_rate, value)))
            fee = EXACT.add(fee, _up(min(EXACT.multiply(self.taf_per_share, qty), self.taf_max)))
        return fee.quantize(CENT, context=EXACT)

    def fee_reserve(self, order: Order, price_bound: Decimal) -> Decimal:
        """The most a buy can pay in fees for its whole quantity, filled at ``price_bound``
        (the price its cash reservation assumes); 0 for sells, whose fees come out of the
        proceeds. A notional buy is taken as ``notional / price_bound`` shares."""
        if order.side is not Side.BUY:
            return ZERO
        bound = to_decimal(price_bound, "price_bound")
        if bound <= 0:
            raise ValidationFailed("price_bound", "positive", "price_bound must be > 0")
        if order.qty is not None:
            qty = order.qty.value
            value = EXACT.multiply(qty, bound)
        else:
            assert order.notional is not None
            value = order.notional.amount
            qty = EXACT.divide(value, bound)
        variable = EXACT.add(EXACT.multiply(self.per_share, qty), EXACT.multiply(self.rate, value))
        return EXACT.add(_up(variable), self.per_order)

    def _commission(self, qty: Decimal, value: Decimal) -> Decimal:
        return _down(
            EXACT.add(EXACT.multiply(self.per_share, qty), EXACT.multiply(self.rate, value))
        )


def buy_fee_reserve(
    model: FeeModel, order: Order, ask: Decimal | None, buffer_bps: Decimal
) -> Decimal:
    """What a new buy holds for fees, priced where its cash reservation is: the per-share
    bound is that reservation over the quantity (limit, stop x buffer, ask x buffer...),
    the ask for a notional buy. 0 for sells, and when the order has no price yet (it is
    refused for want of a quote anyway)."""
    if order.side is not Side.BUY or model == FeeModel.free():
        return ZERO
    if order.qty is None:
        return ZERO if ask is None else model.fee_reserve(order, to_decimal(ask, "ask"))
    try:
        held = reservation(order, ask, buffer_bps).amount
    except ValidationFailed:
        return ZERO
    if held <= 0:
        return ZERO
    return model.fee_reserve(order, EXACT.divide(held, order.qty.value))
