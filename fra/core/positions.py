"""A hedged position, its lifecycle, and its accounting, all derived from its fills.

Nothing about quantities, prices, fees or P&L is stored on the position itself: it is computed
from the orders' fills and the funding payments, so there is one source of truth. The one copy:
when a position becomes final (it never changes after), the store keeps its realized P&L as
derived from those fills, so that a long history is summed without being rebuilt.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

ZERO = Decimal(0)


class PositionState(StrEnum):
    OPENING = "opening"  # intent written; legs being placed
    OPEN = "open"  # both legs filled and hedged
    CLOSING = "closing"  # close intent written; legs being unwound
    CLOSED = "closed"  # both legs closed by decision
    FAILED = "failed"  # the open placed nothing
    UNWOUND = "unwound"  # the open went part-way and what filled was sold back

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES = frozenset({PositionState.CLOSED, PositionState.FAILED, PositionState.UNWOUND})
HELD_STATES = (PositionState.OPENING, PositionState.OPEN, PositionState.CLOSING)

# Which state may follow which: the lifecycle is a one-way street.
TRANSITIONS: dict[PositionState, frozenset[PositionState]] = {
    PositionState.OPENING: frozenset(
        {PositionState.OPEN, PositionState.FAILED, PositionState.UNWOUND}
    ),
    PositionState.OPEN: frozenset({PositionState.CLOSING}),
    PositionState.CLOSING: frozenset({PositionState.CLOSED}),
    PositionState.CLOSED: frozenset(),
    PositionState.FAILED: frozenset(),
    PositionState.UNWOUND: frozenset(),
}


def can_move(current: PositionState, new: PositionState) -> bool:
    return new in TRANSITIONS[current]


class Fill(NamedTuple):
    """An order of a position and what came of it (filled = 0 while pending or rejected)."""

    client_order_id: str
    leg: str  # "spot" | "perp"
    side: str  # "buy" | "sell"
    state: str  # pending | filled | partial | rejected | unsent
    requested: Decimal
    filled: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str
    time_ms: int

    @property
    def pending(self) -> bool:
        return self.state == "pending"


class Payment(NamedTuple):
    time_ms: int
    amount: Decimal
    rate: Decimal
    mark_price: Decimal
    position_amount: Decimal


class LegTotals(NamedTuple):
    bought: Decimal = ZERO  # base units, gross
    sold: Decimal = ZERO
    buy_cost: Decimal = ZERO  # quote
    sell_proceeds: Decimal = ZERO
    fee_quote: Decimal = ZERO  # fees charged in quote currency
    fee_base: Decimal = ZERO  # fees charged in the base coin (spot buys on Binance)
    fee_base_value: Decimal = ZERO  # those valued at their fill price

    @property
    def fees(self) -> Decimal:
        return self.fee_quote + self.fee_base_value


def leg_totals(fills: tuple[Fill, ...] | list[Fill], leg: str, quote: str) -> LegTotals:
    bought = sold = buy_cost = sell_proceeds = fee_quote = fee_base = fee_base_value = ZERO
    for f in fills:
        if f.leg != leg or f.filled <= 0:
            continue
        if f.side == "buy":
            bought += f.filled
            buy_cost += f.filled * f.price
        else:
            sold += f.filled
            sell_proceeds += f.filled * f.price
        if f.fee:
            if f.fee_currency == quote:
                fee_quote += f.fee
            else:
                fee_base += f.fee
                fee_base_value += f.fee * f.price
    return LegTotals(bought, sold, buy_cost, sell_proceeds, fee_quote, fee_base, fee_base_value)


class Pnl(NamedTuple):
    """A position's P&L split by source. net = spot + perp + funding - fees."""

    spot_price: Decimal
    perp_price: Decimal
    funding: Decimal
    fees: Decimal

    @property
    def net(self) -> Decimal:
        return self.spot_price + self.perp_price + self.funding - self.fees


class Position(NamedTuple):
    id: int
    venue: str
    mode: str
    perp_symbol: str
    spot_symbol: str
    state: PositionState
    target_amount: Decimal
    leverage: int
    entry_rate: Decimal | None
    interval_hours: int | None
    created_ms: int
    opened_ms: int | None
    closed_ms: int | None
    close_reason: str | None
    note: str | None
    fills: tuple[Fill, ...] = ()
    payments: tuple[Payment, ...] = ()

    @property
    def quote(self) -> str:
        return self.spot_symbol.split("/")[1]

    @property
    def base(self) -> str:
        return self.spot_symbol.split("/")[0]

    @property
    def spot(self) -> LegTotals:
        return leg_totals(self.fills, "spot", self.quote)

    @property
    def perp(self) -> LegTotals:
        return leg_totals(self.fills, "perp", self.quote)

    @property
    def spot_held(self) -> Decimal:
        """Base coin held by the spot leg, after fees taken in the coin."""
        s = self.spot
        return s.bought - s.fee_base - s.sold

    @property
    def perp_short(self) -> Decimal:
        p = self.perp
        return p.sold - p.bought

    @property
    def spot_entry_price(self) -> Decimal | None:
        s = self.spot
        return s.buy_cost / s.bought if s.bought else None

    @property
    def perp_entry_price(self) -> Decimal | None:
        p = self.perp
        return p.sell_proceeds / p.sold if p.sold else None

    @property
    def notional(self) -> Decimal:
        """Entry notional of the short that is still open."""
        price = self.perp_entry_price
        return self.perp_short * price if price else ZERO

    @property
    def funding(self) -> Decimal:
        return sum((p.amount for p in self.payments), ZERO)

    @property
    def pending_fills(self) -> tuple[Fill, ...]:
        return tuple(f for f in self.fills if f.pending)

    def pnl(self, spot_price: Decimal | None = None, perp_price: Decimal | None = None) -> Pnl:
        """P&L with what is still held valued at the given prices (entry prices if omitted)."""
        s, p = self.spot, self.perp
        spot_mark = spot_price if spot_price is not None else (self.spot_entry_price or ZERO)
        perp_mark = perp_price if perp_price is not None else (self.perp_entry_price or ZERO)
        # Cash-flow form: what came in, what went out, and what is still held at the mark.
        # Coin taken as fee is added back here because it is counted in `fees` instead.
        spot_pnl = s.sell_proceeds + self.spot_held * spot_mark - s.buy_cost + s.fee_base_value
        perp_pnl = p.sell_proceeds - p.buy_cost - self.perp_short * perp_mark
        return Pnl(spot_pnl, perp_pnl, self.funding, s.fees + p.fees)


def delta_mismatch(spot_held: Decimal, perp_short: Decimal) -> Decimal:
    """Relative difference between the two legs' quantities (0 = perfectly hedged)."""
    larger = max(spot_held, perp_short)
    if larger <= 0:
        return ZERO
    return abs(spot_held - perp_short) / larger
