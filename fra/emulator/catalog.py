"""What the emulated exchange lists: spot pairs and USDⓈ-M contracts, with Binance ids.

Every market of the simulated venue is listed, and the extra markets of fra.emulator.listings
(unified `BTC/USDT` and `BTC/USDT:USDT` both become Binance's `BTCUSDT`, on the spot and the
futures API respectively), with their statuses. The dated quarterly BTC and ETH futures are
added here, quoted off their perpetuals: their delivery dates follow the clock.
"""

from __future__ import annotations

import calendar
import threading
from datetime import UTC, datetime
from typing import Literal, NamedTuple

from fra.core.models import HOUR_MS, Market, MarketType
from fra.emulator.brackets import Bracket, brackets_for
from fra.emulator.derived import ListedMarket
from fra.emulator.errors import invalid_symbol, mandatory
from fra.emulator.listings import PENDING_TRADING, TRADING, statuses

Venue = Literal["spot", "futures"]

# Binance's deliveryDate for perpetuals: 2100-12-25 08:00 UTC.
PERPETUAL_DELIVERY_MS = 4_133_404_800_000
ONBOARD_MS = 1_569_398_400_000  # 2019-09-25, when Binance listed its first USDT perpetual
DATED = ("BTC", "ETH")  # the coins with quarterly contracts, quoted off their perpetuals
LAUNCH_IN_MS = 72 * HOUR_MS  # a PENDING_TRADING listing starts trading this long after start


class Listing(NamedTuple):
    id: str  # Binance's symbol: BTCUSDT, BTCUSDT_261225
    symbol: str  # ccxt's unified symbol
    venue: Venue
    market: Market  # trading rules
    source: str  # the simulated market whose prices, book and funding it shows
    contract_type: str = ""  # futures only: PERPETUAL, CURRENT_QUARTER, NEXT_QUARTER
    margin_asset: str = ""
    delivery_ms: int = PERPETUAL_DELIVERY_MS
    status: str = TRADING  # as listed; a test may delist it later (`Catalog.delist`)
    onboard_ms: int = ONBOARD_MS

    @property
    def perpetual(self) -> bool:
        return self.contract_type == "PERPETUAL"


def quarter_end_after(now_ms: int) -> int:
    """Delivery of Binance's current-quarter contract: the last Friday of the quarter's last
    month, 08:00 UTC, the first one after `now_ms`."""
    day = datetime.fromtimestamp(now_ms / 1000, UTC)
    year, month = day.year, (day.month - 1) // 3 * 3 + 3
    while True:
        last = calendar.monthrange(year, month)[1]
        friday = last - (calendar.weekday(year, month, last) - calendar.FRIDAY) % 7
        delivery = datetime(year, month, friday, 8, tzinfo=UTC)
        delivery_ms = int(delivery.timestamp() * 1000)
        if delivery_ms > now_ms:
            return delivery_ms
        year, month = (year + 1, 3) if month == 12 else (year, month + 3)


class Catalog:
    """The listings, their statuses and their leverage brackets. Thread-safe."""

    def __init__(self, market: ListedMarket) -> None:
        self._lock = threading.Lock()
        self._by_venue: dict[Venue, dict[str, Listing]] = {"spot": {}, "futures": {}}
        now = market.now_ms()
        not_trading = statuses()
        markets = market.markets()
        for m in markets.values():
            spot = m.type is MarketType.SPOT
            status = not_trading.get(m.symbol, TRADING)
            self._add(
                Listing(
                    id=m.base + m.quote,
                    symbol=m.symbol,
                    venue="spot" if spot else "futures",
                    market=m,
                    source=m.symbol,
                    contract_type="" if spot else "PERPETUAL",
                    margin_asset="" if spot else m.quote,
                    status=status,
                    onboard_ms=now + LAUNCH_IN_MS if status == PENDING_TRADING else ONBOARD_MS,
                )
            )
        current = quarter_end_after(now)
        for coin in DATED:
            perp = markets[f"{coin}/USDT:USDT"]
            for contract_type, delivery in (
                ("CURRENT_QUARTER", current),
                ("NEXT_QUARTER", quarter_end_after(current)),
            ):
                yymmdd = datetime.fromtimestamp(delivery / 1000, UTC).strftime("%y%m%d")
                dated = f"{perp.symbol}-{yymmdd}"
                self._add(
                    Listing(
                        id=f"{coin}USDT_{yymmdd}",
                        symbol=dated,
                        venue="futures",
                        market=perp._replace(symbol=dated),
                        source=perp.symbol,
                        contract_type=contract_type,
                        margin_asset="USDT",
                        delivery_ms=delivery,
                    )
                )
        self._status: dict[tuple[Venue, str], str] = {}
        self._removed: set[tuple[Venue, str]] = set()
        self._brackets = {
            listing.id: brackets_for(listing.market)
            for listing in self._by_venue["futures"].values()
        }

    def _add(self, listing: Listing) -> None:
        self._by_venue[listing.venue][listing.id] = listing

    def listing(self, venue: Venue, binance_id: str | None) -> Listing:
        """The listing a request names; Binance's -1121 when there is none."""
        if not binance_id:
            raise mandatory("symbol")
        listing = self._by_venue[venue].get(binance_id)
        with self._lock:
            if listing is None or (venue, binance_id) in self._removed:
                raise invalid_symbol()
        return listing

    def listings(self, venue: Venue) -> list[Listing]:
        with self._lock:
            return [
                listing
                for listing in self._by_venue[venue].values()
                if (venue, listing.id) not in self._removed
            ]

    def by_symbol(self, symbol: str) -> Listing:
        for venue in ("spot", "futures"):
            for listing in self._by_venue[venue].values():
                if listing.symbol == symbol:
                    return listing
        raise KeyError(f"no listing for {symbol!r}")

    def status(self, listing: Listing) -> str:
        with self._lock:
            return self._status.get((listing.venue, listing.id), listing.status)

    def delist(self, symbol: str, status: str, *, remove: bool) -> None:
        listing = self.by_symbol(symbol)
        key = (listing.venue, listing.id)
        with self._lock:
            self._status[key] = status
            if remove:
                self._removed.add(key)

    def brackets(self, listing: Listing) -> tuple[Bracket, ...]:
        """The contract's brackets as Binance publishes them (an account may have its own:
        `Account.brackets`)."""
        return self._brackets[listing.id]
