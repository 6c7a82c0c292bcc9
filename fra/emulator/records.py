"""The account's records: orders and their fills, positions, per-symbol settings, income."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

from fra.emulator.catalog import Listing, Venue

ZERO = Decimal(0)
BUY, SELL = "BUY", "SELL"
OPEN_STATUSES = ("NEW", "PARTIALLY_FILLED")
AUTOCLOSE = "autoclose-"  # Binance's client id prefix for the orders its liquidation engine sends
DEFAULT_LEVERAGE = 20  # what a Binance futures account starts with on every symbol


class OrderParams(NamedTuple):
    """A new order as the API request states it (parsed, not yet checked against the rules)."""

    listing: Listing
    side: str  # BUY / SELL
    type: str  # MARKET / LIMIT
    quantity: Decimal
    price: Decimal | None  # LIMIT only
    time_in_force: str  # GTC / IOC / FOK
    client_order_id: str
    reduce_only: bool = False
    fill_fraction: Decimal | None = None  # a "partial" fault: fill only this share


@dataclass
class Fill:
    trade_id: int
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    realized_pnl: Decimal
    time_ms: int


@dataclass
class Order:
    venue: Venue
    order_id: int
    client_order_id: str
    listing: Listing
    side: str
    type: str
    time_in_force: str
    orig_qty: Decimal
    price: Decimal  # the limit price; zero for market orders, as Binance shows it
    reduce_only: bool
    time_ms: int
    status: str = "NEW"
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO
    update_ms: int = 0
    # Held for the resting part: spot quote (buys) or base (sells); futures initial margin.
    reserved: Decimal = ZERO
    fills: list[Fill] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def avg_price(self) -> Decimal:
        return self.cum_quote / self.executed_qty if self.executed_qty else ZERO


@dataclass
class Position:
    """A one-way-mode futures position: negative amount = short."""

    listing: Listing
    amount: Decimal = ZERO
    entry_price: Decimal = ZERO
    isolated_wallet: Decimal = ZERO  # margin posted to an isolated position
    update_ms: int = 0
    watched_ms: int = 0  # funding and liquidation are settled up to this instant


@dataclass
class SymbolSettings:
    leverage: int = DEFAULT_LEVERAGE
    isolated: bool = False  # Binance starts every symbol in cross margin


class Income(NamedTuple):
    """One line of the futures income history (GET /fapi/v1/income)."""

    symbol: str
    income_type: str  # FUNDING_FEE, COMMISSION, REALIZED_PNL
    amount: Decimal
    asset: str
    time_ms: int
    tran_id: int
    trade_id: str
    info: str


class Transfer(NamedTuple):
    """One universal transfer between the account's wallets (GET /sapi/v1/asset/transfer)."""

    tran_id: int
    type: str  # MAIN_UMFUTURE, UMFUTURE_MAIN
    asset: str
    amount: Decimal
    time_ms: int


class MarginChange(NamedTuple):
    """Isolated margin moved by hand (GET /fapi/v1/positionMargin/history)."""

    symbol: str
    type: int  # 1 added, 2 taken out
    amount: Decimal
    asset: str
    time_ms: int


class PositionView(NamedTuple):
    """A position valued at the current mark price, as positionRisk reports it."""

    position: Position
    settings: SymbolSettings
    mark_price: Decimal
    notional: Decimal  # signed, like positionAmt
    unrealized_pnl: Decimal
    initial_margin: Decimal
    maint_margin: Decimal
    isolated_margin: Decimal  # isolated wallet + unrealized PnL; zero in cross margin
    liquidation_price: Decimal  # zero when there is none


class WalletView(NamedTuple):
    """One futures wallet asset, as the account endpoints report it."""

    asset: str
    wallet_balance: Decimal
    unrealized_pnl: Decimal
    margin_balance: Decimal
    maint_margin: Decimal
    position_initial_margin: Decimal
    open_order_initial_margin: Decimal
    cross_wallet_balance: Decimal
    cross_unrealized_pnl: Decimal
    available_balance: Decimal
    update_ms: int

    @property
    def initial_margin(self) -> Decimal:
        return self.position_initial_margin + self.open_order_initial_margin
