"""The venue interface: market data and execution.

Every venue (the simulated market, ccxt exchanges) implements `MarketData`. Execution is a
separate `Executor` so paper trading can run over any market data, and live trading is a sibling
implementation rather than a branch inside one class.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple, Protocol, runtime_checkable

from fra.core.models import (
    FundingPayment,
    FundingQuote,
    FundingSettlement,
    Market,
    OrderBook,
    OrderRequest,
    OrderResult,
    PerpMargin,
    Ticker,
)


class VenueError(Exception):
    """A venue failed to answer. `temporary` errors may succeed if retried later.

    `kind` says what failed, for the engine's decisions: "network", "unreachable" (no
    connection could be made: no DNS answer, a refused port), "clock", "auth",
    "rejected" (an order refused), "not_found", "no_change" (already set: success for a set-up
    step), "bad_symbol", "unsupported" or "other". `code` is the exchange's own, when it gave one.
    """

    def __init__(
        self, message: str, *, temporary: bool = False, kind: str = "other", code: int | None = None
    ) -> None:
        super().__init__(message)
        self.temporary = temporary
        self.kind = kind
        self.code = code


@runtime_checkable
class MarketData(Protocol):
    """Read-only market data for one venue."""

    name: str  # "simulated", "binance", ...
    simulated: bool  # True when prices are made up: shown as SIMULATED wherever they appear

    def now_ms(self) -> int:
        """The venue's clock. Engine code asks the venue, never the wall clock."""
        ...

    def markets(self) -> dict[str, Market]:
        """Every spot market and linear perpetual swap, keyed by unified symbol."""
        ...

    def funding_quotes(self) -> dict[str, FundingQuote]:
        """The predicted next funding of every perpetual, in one bulk call."""
        ...

    def funding_quote(self, symbol: str) -> FundingQuote:
        """One perpetual's predicted funding and mark price (KeyError if unknown)."""
        ...

    def tickers(self) -> dict[str, Ticker]:
        """Best bid/ask and 24h quote volume of every market, in one bulk call."""
        ...

    def order_book(self, symbol: str, limit: int = 50) -> OrderBook: ...

    def funding_history(self, symbol: str, since_ms: int, until_ms: int) -> list[FundingSettlement]:
        """Settlements with since_ms < time_ms <= until_ms, oldest first."""
        ...

    def recent_settlements(self, since_ms: int) -> list[FundingSettlement] | None:
        """Every perpetual's settlements after `since_ms` up to now, oldest first, in as few
        requests as the venue allows; None where the venue has no call for all perpetuals at
        once (then `funding_history` per symbol). `mark_price` is 0 where the answer has none."""
        ...


class Wallets(NamedTuple):
    """Free USDT of the account's two wallets. A venue with one pool reports it as futures."""

    spot: Decimal  # can reach the futures wallet by a transfer
    futures: Decimal  # can be added to a short's isolated margin now


class MoneyMove(NamedTuple):
    """A transfer or a margin addition as the venue's history shows it."""

    ref: str  # the venue's id for it (Binance's tranId), or one made of its time and amount
    amount: Decimal
    time_ms: int


class Untracked(NamedTuple):
    """Something the account holds that fra's books do not explain: a short on a perpetual, or
    the coins of the spot market that would hedge it."""

    symbol: str  # the market: perpetual for a short, spot for coins
    kind: str  # "short" | "spot"
    amount: Decimal  # coins beyond what the books hold
    perp_symbol: str  # the pair it belongs to (= symbol for a short)


@runtime_checkable
class Executor(Protocol):
    """Places orders and reports what an account holds; paper and live implement it alike."""

    mode: str  # "paper" or "live"
    # How long after it was sent an order may still reach the venue: a look-up that finds
    # nothing sooner is not proof the order never arrived. 0 where orders cannot be in flight.
    in_flight_ms: int

    def submit(self, order: OrderRequest) -> OrderResult:
        """Send a market order (IOC). Idempotent per client order id: a repeat returns the
        original result instead of trading twice."""
        ...

    def lookup(self, client_order_id: str, symbol: str) -> OrderResult | None:
        """The order with this client id, or None if the venue never received it."""
        ...

    def free_quote(self) -> Decimal:
        """Quote currency available for new positions."""
        ...

    def perp_margin(self, symbol: str) -> PerpMargin | None:
        """Margin state of the account's short on `symbol`, None when it holds none."""
        ...

    def funding_payments(self, symbol: str, since_ms: int, until_ms: int) -> list[FundingPayment]:
        """Funding the account received (or paid) on `symbol` in (since_ms, until_ms]."""
        ...

    def venue_orders(self, symbol: str, since_ms: int) -> list[OrderResult]:
        """Orders the venue placed on the account by itself since `since_ms` (liquidations)."""
        ...

    def account_differences(
        self, held: dict[str, tuple[str, Decimal, Decimal]], order_prefix: str
    ) -> list[str]:
        """Where the account disagrees with fra's books, after cancelling any order of ours
        (client ids starting `order_prefix`) still open. `held`: perp symbol -> (spot symbol,
        spot held, perp short) summed over fra's positions. Paper's account is the books."""
        ...

    def untracked(self, held: dict[str, tuple[str, Decimal, Decimal]]) -> list[Untracked]:
        """Shorts the account holds beyond fra's books (`held` as for account_differences), and
        the spot coins of those pairs beyond the books: a state file emptied or restored from
        an old backup forgets positions that are still open. Paper's account is the books."""
        ...

    # -- margin management: moving USDT behind a short ----------------------------------------

    def wallets(self) -> Wallets:
        """Free USDT of the spot and futures wallets."""
        ...

    def transfer_to_futures(self, amount: Decimal) -> str:
        """Move `amount` USDT from the spot wallet to the futures wallet, once (never retried:
        after a failure the caller looks for it in `transfers_to_futures`); returns the venue's
        id of the transfer. A refusal is a permanent VenueError."""
        ...

    def transfers_to_futures(self, since_ms: int) -> list[MoneyMove]:
        """Spot -> futures transfers at or after `since_ms`, as the venue recorded them."""
        ...

    def add_margin(self, symbol: str, amount: Decimal) -> None:
        """Add `amount` USDT of isolated margin to the account's short on `symbol`, once.
        Venues give such a change no client id: `margin_additions` is how to find it again."""
        ...

    def margin_additions(self, symbol: str, since_ms: int) -> list[MoneyMove]:
        """Isolated margin added to `symbol` at or after `since_ms`, as the venue recorded it."""
        ...
