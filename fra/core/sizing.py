"""Turn a USD size into two orders of the same base quantity that both markets accept."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import NamedTuple

from fra.core.models import Market


class SizeError(ValueError):
    """The size can't be expressed on these markets (below a minimum, or zero after rounding)."""


def floor_step(amount: Decimal, step: Decimal) -> Decimal:
    return (amount / step).to_integral_value(rounding=ROUND_FLOOR) * step


def ceil_step(amount: Decimal, step: Decimal) -> Decimal:
    return (amount / step).to_integral_value(rounding=ROUND_CEILING) * step


class HedgeSize(NamedTuple):
    perp_amount: Decimal  # to sell short
    spot_amount: Decimal  # to buy, gross of a fee taken in the coin
    spot_net: Decimal  # what the spot leg will hold after that fee


def spot_to_buy(perp_amount: Decimal, spot: Market, fee_in_base: bool) -> Decimal:
    """Spot to buy so that what is held after the fee covers the perp short."""
    gross = perp_amount / (1 - spot.taker_fee) if fee_in_base else perp_amount
    return ceil_step(gross, spot.amount_step)


def size_hedge(
    notional: Decimal, price: Decimal, spot: Market, perp: Market, *, fee_in_base: bool = True
) -> HedgeSize:
    """Largest hedge of at most `notional` (quote) at `price`; raises SizeError when too small."""
    if notional <= 0 or price <= 0:
        raise SizeError("size must be positive")
    # The spot leg buys a little extra to cover a fee taken in the coin; cap it so that leg too
    # stays within `notional` (plus its fee), then take the largest perp amount it covers.
    spot_cap = floor_step(notional * (1 + spot.taker_fee) / price, spot.amount_step)
    covered = spot_cap * (1 - spot.taker_fee) if fee_in_base else spot_cap
    perp_amount = floor_step(min(notional / price, covered), perp.amount_step)
    spot_amount = spot_to_buy(perp_amount, spot, fee_in_base)
    check_minimums(perp_amount, price, perp)
    check_minimums(spot_amount, price, spot)
    spot_net = spot_amount * (1 - spot.taker_fee) if fee_in_base else spot_amount
    return HedgeSize(perp_amount, spot_amount, spot_net)


def minimum_notional(
    price: Decimal, spot: Market, perp: Market, *, fee_in_base: bool = True
) -> Decimal:
    """Smallest USD size that `size_hedge` accepts at `price`, rounded up to a cent."""
    perp_least = ceil_step(
        max(perp.min_amount, perp.min_notional / price, perp.amount_step), perp.amount_step
    )
    # The spot leg may meet its own minimums through the extra it buys to cover the fee, so the
    # perp amount only has to be large enough for that buy to reach them:
    # spot_to_buy(q) >= spot_least  <=>  q > (spot_least - spot step) x (1 - fee).
    spot_least = ceil_step(max(spot.min_amount, spot.min_notional / price), spot.amount_step)
    cover = (1 - spot.taker_fee) if fee_in_base else Decimal(1)
    bound = (spot_least - spot.amount_step) * cover
    perp_for_spot = floor_step(max(bound, Decimal(0)), perp.amount_step) + perp.amount_step
    perp_amount = max(perp_least, perp_for_spot)
    spot_amount = spot_to_buy(perp_amount, spot, fee_in_base)
    # Both conditions size_hedge checks: the perp amount fits under the notional, and so does
    # the spot leg bought to cover it (allowing for its fee).
    need = max(perp_amount * price, spot_amount * price / (1 + spot.taker_fee))
    return ceil_step(need, Decimal("0.01"))


def check_minimums(amount: Decimal, price: Decimal, market: Market) -> None:
    if amount <= 0:
        raise SizeError(f"{market.symbol}: size rounds to zero at step {market.amount_step}")
    if amount < market.min_amount:
        raise SizeError(f"{market.symbol}: {amount} is below the minimum {market.min_amount}")
    if amount * price < market.min_notional:
        raise SizeError(
            f"{market.symbol}: {amount * price:.2f} {market.quote} is below the minimum notional"
            f" {market.min_notional}"
        )
