"""Domain records shared by every layer.

Money and quantities are Decimal; times are UTC epoch milliseconds (ccxt's convention), which
keeps arithmetic on settlement times exact and free of time-zone mistakes.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from fra.core.brackets import Bracket

HOUR_MS = 3_600_000
PERIOD_HOURS = 8  # the market's reference funding period: thresholds are quoted per 8h


class MarketType(StrEnum):
    SPOT = "spot"
    PERP = "perp"


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class Market(NamedTuple):
    """Trading rules of one market, in ccxt's unified symbol form (`BTC/USDT`, `BTC/USDT:USDT`)."""

    symbol: str
    type: MarketType
    base: str
    quote: str
    amount_step: Decimal
    min_amount: Decimal
    min_notional: Decimal
    price_step: Decimal
    taker_fee: Decimal
    maker_fee: Decimal
    # Perpetuals only: the maintenance margin rate of the first bracket.
    maintenance_margin_rate: Decimal = Decimal("0")
    max_leverage: int = 1
    # Perpetuals only: the leverage brackets, lowest first; () where the venue gives only the
    # first rate (then it applies at every size). See fra.core.brackets.
    brackets: tuple[Bracket, ...] = ()

    # Perpetuals counted in units of many coins (fra.core.units): the spot market that hedges
    # it, and the coins one of the venue's units stands for. Every amount, step and price on
    # this record is per coin already; only the venue's own requests and answers are in units.
    hedge_symbol: str = ""
    coins_per_unit: Decimal = Decimal(1)

    @property
    def spot_symbol(self) -> str:
        """The spot market a linear perpetual hedges against (`BTC/USDT:USDT` -> `BTC/USDT`,
        `1000PEPE/USDT:USDT` -> `PEPE/USDT` where the venue lists no `1000PEPE/USDT`)."""
        return self.hedge_symbol or f"{self.base}/{self.quote}"


class FundingQuote(NamedTuple):
    """The funding rate that will settle at `next_funding_ms`, as the venue predicts it now."""

    symbol: str
    rate: Decimal | None  # None when the venue publishes no rate (treated as unavailable)
    interval_hours: int
    next_funding_ms: int
    mark_price: Decimal
    index_price: Decimal


class Ticker(NamedTuple):
    symbol: str
    bid: Decimal
    ask: Decimal
    last: Decimal
    quote_volume_24h: Decimal


class OrderBook(NamedTuple):
    """Best price first on both sides; each level is (price, amount in base units)."""

    symbol: str
    timestamp_ms: int
    bids: tuple[tuple[Decimal, Decimal], ...]
    asks: tuple[tuple[Decimal, Decimal], ...]


class FundingSettlement(NamedTuple):
    """A funding rate that actually settled, with the mark price used to compute payments."""

    symbol: str
    time_ms: int
    rate: Decimal
    mark_price: Decimal
    interval_hours: int


class FundingPayment(NamedTuple):
    """Funding booked to the account at one settlement; positive means received."""

    symbol: str
    time_ms: int
    amount: Decimal
    rate: Decimal
    mark_price: Decimal
    position_amount: Decimal


class OrderRequest(NamedTuple):
    client_order_id: str
    symbol: str
    market_type: MarketType
    side: Side
    amount: Decimal
    reduce_only: bool = False


class OrderStatus(StrEnum):
    FILLED = "filled"  # completely filled
    PARTIAL = "partial"  # filled in part, the rest cancelled (IOC)
    REJECTED = "rejected"  # nothing filled


class OrderResult(NamedTuple):
    client_order_id: str
    symbol: str
    side: Side
    status: OrderStatus
    requested: Decimal
    filled: Decimal
    average_price: Decimal
    fee: Decimal
    fee_currency: str
    timestamp_ms: int
    exchange_order_id: str = ""
    reason: str = ""

    @property
    def cost(self) -> Decimal:
        return self.filled * self.average_price


class PerpMargin(NamedTuple):
    """Margin state of one short perp leg, as the exchanges define the ratio."""

    symbol: str
    amount: Decimal
    entry_price: Decimal
    mark_price: Decimal
    margin: Decimal  # isolated margin posted for the leg
    maintenance_margin: Decimal

    @property
    def unrealized_pnl(self) -> Decimal:
        return self.amount * (self.entry_price - self.mark_price)

    @property
    def margin_balance(self) -> Decimal:
        return self.margin + self.unrealized_pnl

    @property
    def ratio(self) -> Decimal:
        """Maintenance margin / margin balance; 1 (100 %) or more means liquidation."""
        balance = self.margin_balance
        if balance <= 0:
            return Decimal("Infinity")
        return self.maintenance_margin / balance


class SnapshotRow(NamedTuple):
    """One perpetual in a scan: everything ranking needs, nothing fetched again later."""

    perp_symbol: str
    spot_symbol: str | None  # None: the venue lists no spot market to hedge with
    funding_rate: Decimal | None
    interval_hours: int
    next_funding_ms: int
    mark_price: Decimal
    perp_bid: Decimal
    perp_ask: Decimal
    spot_bid: Decimal | None
    spot_ask: Decimal | None
    quote_volume_24h: Decimal  # the smaller of the two legs' 24h quote volumes
    perp_taker_fee: Decimal
    spot_taker_fee: Decimal | None


class Snapshot(NamedTuple):
    id: int
    venue: str
    taken_ms: int
    rows: tuple[SnapshotRow, ...] = ()
