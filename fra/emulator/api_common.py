"""What the spot and futures APIs share: the request, the route, parameter parsing, tickers."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Literal, NamedTuple

from fra.core.models import HOUR_MS, Ticker
from fra.emulator.account import Account
from fra.emulator.auth import EmulatedKey
from fra.emulator.catalog import Catalog, Listing, Venue
from fra.emulator.clock import EmulatorClock
from fra.emulator.errors import BinanceError, bad_api_key, illegal, mandatory
from fra.emulator.faults import Fault
from fra.emulator.past_market import PastMarket
from fra.emulator.records import BUY, SELL, OrderParams
from fra.venues.simulated import SimulatedMarket

DAY_MS = 24 * HOUR_MS
MINUTE_MS = 60_000
# Binance's intervals of a fixed length. 3d and 1w are fixed too but aligned to Binance's own
# epochs (a Monday for 1w), and 1M is a calendar month: not emulated.
KLINE_INTERVALS = {
    **{f"{n}m": n * MINUTE_MS for n in (1, 3, 5, 15, 30)},
    **{f"{n}h": n * HOUR_MS for n in (1, 2, 4, 6, 8, 12)},
    "1d": DAY_MS,
}
_UNEMULATED_INTERVALS = ("3d", "1w", "1M")
_DECIMAL_FORMAT = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"

Json = dict[str, object] | list[object]


@dataclass(frozen=True)
class Exchange:
    """Everything a route handler reads or changes."""

    market: SimulatedMarket
    past: PastMarket
    catalog: Catalog
    account: Account
    clock: EmulatorClock


@dataclass(frozen=True)
class ApiRequest:
    params: dict[str, str] = field(default_factory=dict)
    key: EmulatedKey | None = None
    fault: Fault | None = None

    def text(self, name: str) -> str | None:
        return self.params.get(name) or None

    def required(self, name: str) -> str:
        value = self.text(name)
        if value is None:
            raise mandatory(name)
        return value

    def decimal(self, name: str) -> Decimal | None:
        raw = self.text(name)
        if raw is None:
            return None
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise illegal(name, _DECIMAL_FORMAT) from None
        if not value.is_finite():
            raise illegal(name, _DECIMAL_FORMAT)
        return value

    def integer(self, name: str) -> int | None:
        raw = self.text(name)
        if raw is None:
            return None
        if not raw.lstrip("-").isdigit():
            raise illegal(name, "0-9")
        return int(raw)

    def flag(self, name: str) -> bool:
        raw = (self.text(name) or "false").lower()
        if raw not in ("true", "false"):
            raise illegal(name, "true/false")
        return raw == "true"

    def limit(self, default: int, maximum: int) -> int:
        value = self.integer("limit")
        if value is None:
            return default
        if value < 1:
            raise illegal("limit", f"1-{maximum}")
        return min(value, maximum)

    @property
    def caller(self) -> EmulatedKey:
        """The key a signed request was made with."""
        if self.key is None:
            raise bad_api_key()
        return self.key

    @property
    def fill_fraction(self) -> Decimal | None:
        if self.fault is not None and self.fault.kind == "partial":
            return self.fault.fraction
        return None


class Route(NamedTuple):
    handler: Callable[[ApiRequest], Json]
    signed: bool = False
    permission: Literal["", "spot", "futures", "transfer"] = ""  # the key must have this right


def selected(ex: Exchange, venue: Venue, req: ApiRequest) -> list[Listing] | Listing:
    """`symbol` names one listing (answered as an object); `symbols` a JSON list; else all."""
    symbol = req.text("symbol")
    if symbol is not None:
        return ex.catalog.listing(venue, symbol)
    symbols = req.text("symbols")
    if symbols is not None:
        try:
            ids = json.loads(symbols)
        except ValueError:
            raise illegal("symbols", '["BTCUSDT","ETHUSDT"]') from None
        return [ex.catalog.listing(venue, i) for i in ids]
    return ex.catalog.listings(venue)


def parse_order(req: ApiRequest, listing: Listing) -> OrderParams:
    side = req.required("side").upper()
    if side not in (BUY, SELL):
        raise illegal("side", "BUY, SELL")
    kind = req.required("type").upper()
    if kind not in ("MARKET", "LIMIT"):
        raise BinanceError(-1116, "Invalid orderType.")
    if req.text("quoteOrderQty") is not None:
        raise BinanceError(-1, "emulator: quoteOrderQty orders are not supported")
    quantity = req.decimal("quantity")
    if quantity is None:
        raise mandatory("quantity")
    price = req.decimal("price")
    tif = (req.text("timeInForce") or "GTC").upper()
    if kind == "LIMIT":
        if price is None:
            raise mandatory("price")
        if req.text("timeInForce") is None:
            raise mandatory("timeInForce")
        if tif not in ("GTC", "IOC", "FOK"):
            raise BinanceError(-1115, "Invalid timeInForce.")
    elif price is not None:
        raise BinanceError(-1106, "Parameter 'price' sent when not required.")
    return OrderParams(
        listing=listing,
        side=side,
        type=kind,
        quantity=quantity,
        price=price,
        time_in_force=tif,
        # Binance makes one up when none is sent.
        client_order_id=req.text("newClientOrderId") or uuid.uuid4().hex[:22],
        reduce_only=req.flag("reduceOnly"),
        fill_fraction=req.fill_fraction,
    )


def order_ref(req: ApiRequest) -> tuple[int | None, str | None]:
    """(orderId, origClientOrderId) of an order query or cancel; one is required."""
    order_id = req.integer("orderId")
    client_id = req.text("origClientOrderId")
    if order_id is None and client_id is None:
        raise BinanceError(
            -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
        )
    return order_id, client_id


def day_stats(
    now: Ticker, then: Ticker, now_ms: int, fmt: Callable[[Decimal], str]
) -> dict[str, object]:
    """The 24h-ticker fields both APIs share. The simulation gives a price now and a day ago;
    high and low are the larger and smaller of the two, volume is the quote volume at their
    mean (the simulated markets keep no trade tape)."""
    open_, last = then.last, now.last
    average = (open_ + last) / 2
    change = last - open_
    trades = int(now.quote_volume_24h / 2000)
    return {
        "priceChange": fmt(change),
        "priceChangePercent": f"{change / open_ * 100:.3f}",
        "weightedAvgPrice": fmt(average),
        "lastPrice": fmt(last),
        "openPrice": fmt(open_),
        "highPrice": fmt(max(open_, last)),
        "lowPrice": fmt(min(open_, last)),
        "volume": f"{now.quote_volume_24h / average:.3f}",
        "quoteVolume": f"{now.quote_volume_24h:.2f}",
        "openTime": now_ms - DAY_MS,
        "closeTime": now_ms,
        "firstId": 1,
        "lastId": trades,
        "count": trades,
    }


def klines(
    ex: Exchange,
    listing: Listing,
    req: ApiRequest,
    *,
    maximum: int,
    price: Callable[[Decimal], str],
    qty: Callable[[Decimal], str],
    quote: Callable[[Decimal], str],
) -> Json:
    """Candles of a listing, oldest first, as both APIs send them. Without startTime: the
    latest `limit` up to endTime (or now); with it: the first `limit` opening at or after it.
    The bar running now is included with its values so far, as Binance does."""
    interval = req.required("interval")
    bar_ms = KLINE_INTERVALS.get(interval)
    if bar_ms is None:
        if interval in _UNEMULATED_INTERVALS:
            raise BinanceError(-1, f"emulator: interval {interval} is not supported")
        raise BinanceError(-1120, "Invalid interval.")
    limit = req.limit(500, maximum)
    start, end = req.integer("startTime"), req.integer("endTime")
    if start is not None and end is not None and start > end:
        raise BinanceError(-1023, "Start time is greater than end time.")
    now = ex.clock.now_ms()
    last = min(now if end is None else end, now)
    if start is None:
        first = (last // bar_ms - limit + 1) * bar_ms
    else:
        first = -(-start // bar_ms) * bar_ms
        last = min(last, first + (limit - 1) * bar_ms)
    if last < first:
        return []
    bars = ex.market.bars(listing.source, first, last + 1, bar_ms, now_ms=now)
    rows: list[object] = []
    for bar in bars:
        turnover = bar.volume * (bar.open + bar.close) / 2
        # No trade tape: takers lean to the side the bar moved, a trade per ~$2000.
        span = bar.high - bar.low
        buy_share = Decimal("0.5") + (bar.close - bar.open) / span / 10 if span else Decimal("0.5")
        rows.append(
            [
                bar.open_time_ms,
                price(bar.open),
                price(bar.high),
                price(bar.low),
                price(bar.close),
                qty(bar.volume),
                bar.open_time_ms + bar_ms - 1,
                quote(turnover),
                int(turnover / 2000),
                qty(bar.volume * buy_share),
                quote(turnover * buy_share),
                "0",
            ]
        )
    return rows
