"""Leverage brackets: how an exchange sets a position's maintenance margin by its size.

Binance (and Bybit, OKX) divide a perpetual's position notional into brackets. Each has a
maintenance rate, and a larger position falls in a bracket with a higher one; the
maintenance margin is `notional x rate - cum`, where `cum` (Binance's maintenance amount) is
what keeps it continuous across a bracket's floor. A BTC short of 50,000 USDT needs 0.4 %,
one of 1,000,000 USDT about 0.5 %: a flat rate cannot be right for both.

Pure Decimal arithmetic, no I/O: the ladders come from the venue layer (the exchange, or the
table shipped in `fra/data`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from fra.core.models import Market

ZERO = Decimal(0)
ONE = Decimal(1)
UNBOUNDED = Decimal("Infinity")


class Bracket(NamedTuple):
    """One notional bracket of a perpetual, as Binance's leverageBracket lists it."""

    floor: Decimal  # notional from which the bracket applies (USDT)
    cap: Decimal  # ...up to, not including, this
    rate: Decimal  # maintenance margin rate
    cum: Decimal  # maintenance amount: maintenance margin = notional x rate - cum
    max_leverage: int  # the highest initial leverage a position in this bracket may use


Ladder = tuple[Bracket, ...]


def ladder(rows: Iterable[tuple[Decimal, Decimal, int, Decimal | None]]) -> Ladder:
    """A ladder from (cap, rate, max leverage, cum) per bracket, lowest first. Each floor is
    the cap below it. A cum of None is worked out from continuity (the maintenance margin at
    a floor is the same in both brackets), which is how exchanges that do not publish it set
    it; where the exchange gives one it is kept as given."""
    out: list[Bracket] = []
    floor = cum = previous = ZERO
    for cap, rate, max_leverage, given in rows:
        if not cap > floor or rate < 0:
            raise ValueError(f"bracket caps must rise and rates be positive: {cap} after {floor}")
        cum = given if given is not None else cum + floor * (rate - previous)
        out.append(Bracket(floor, cap, rate, cum, max_leverage))
        floor, previous = cap, rate
    if not out:
        raise ValueError("a ladder needs at least one bracket")
    return tuple(out)


def flat(rate: Decimal, max_leverage: int) -> Ladder:
    """One bracket for every size: a venue that publishes only one rate."""
    return (Bracket(ZERO, UNBOUNDED, rate, ZERO, max_leverage),)


def of_market(market: Market) -> Ladder:
    """A perpetual's ladder: its brackets, or its one published rate at every size."""
    return market.brackets or flat(market.maintenance_margin_rate, market.max_leverage)


def bracket_at(brackets: Ladder, notional: Decimal) -> Bracket:
    """The bracket a position of this notional (absolute, USDT) falls in; beyond the last cap
    the last bracket (the exchange would not let it grow there)."""
    for bracket in brackets:
        if notional < bracket.cap:
            return bracket
    return brackets[-1]


def maintenance_margin(brackets: Ladder, notional: Decimal) -> Decimal:
    """Binance's formula: notional x rate - cum of the bracket the notional falls in."""
    bracket = bracket_at(brackets, notional)
    return max(notional * bracket.rate - bracket.cum, ZERO)


def maintenance_rate(brackets: Ladder, notional: Decimal) -> Decimal:
    """Maintenance margin / notional at this size. It never falls as the size grows, so the
    rate of a size is an upper bound for any smaller one."""
    if notional <= 0:
        return brackets[0].rate
    return maintenance_margin(brackets, notional) / notional


def short_liquidation_price(
    brackets: Ladder, amount: Decimal, entry: Decimal, margin: Decimal
) -> Decimal:
    """The mark price at which an isolated short of `amount` coins entered at `entry` with
    `margin` posted reaches a margin ratio of 1: margin + amount x (entry - P) equals the
    maintenance margin at notional amount x P. The maintenance margin grows with P and the
    balance falls, so the first bracket whose solution lies below its cap holds it."""
    for bracket in brackets:
        price = (margin + amount * entry + bracket.cum) / (amount * (ONE + bracket.rate))
        if amount * price < bracket.cap:
            return price
    return price


class Brackets(NamedTuple):
    """The ladders of a venue's perpetuals, and the one for a perpetual it has none for."""

    ladders: Mapping[str, Ladder]
    default: Ladder

    def of(self, symbol: str) -> Ladder:
        return self.ladders.get(symbol, self.default)
