"""Markets the emulator lists beyond the simulated venue's, priced off one of its markets.

A real exchange lists hundreds of markets the simulation has no notion of: other coins, the
same coin in other quotes (ETH/BTC, BTC/TRY), a coin counted in units of a thousand. Each
derived market follows one simulated market (its `source`) at a fixed price factor, with
trading rules, a volume and a book depth of its own, so that a client reads it like any other
market. `ListedMarket` answers for both kinds behind the simulated market's own calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import NamedTuple

from fra.core.history import Bar
from fra.core.models import (
    FundingQuote,
    FundingSettlement,
    Market,
    MarketType,
    OrderBook,
    Ticker,
)
from fra.venues.simulated import BAR_MS, SimulatedMarket

VOLUME_STEP = Decimal("0.00000001")  # a quote volume in BTC is a few BTC: not whole units


class Derived(NamedTuple):
    market: Market  # its trading rules, in its own units and quote
    source: str  # the simulated market whose prices it follows
    price_factor: Decimal  # its price = the source's x this
    # Its 24h quote volume and book depth = the source's x this (in its own quote currency).
    volume_factor: Decimal


def on_step(value: Decimal, step: Decimal, rounding: str = ROUND_HALF_UP) -> Decimal:
    return (value / step).to_integral_value(rounding=rounding) * step


class ListedMarket:
    """The simulated market and the derived markets, with the calls the emulator makes."""

    def __init__(self, sim: SimulatedMarket, derived: Mapping[str, Derived]) -> None:
        self.sim = sim
        self.derived = dict(derived)
        self._markets = {**sim.markets(), **{s: d.market for s, d in self.derived.items()}}

    def now_ms(self) -> int:
        return self.sim.now_ms()

    def markets(self) -> dict[str, Market]:
        return dict(self._markets)

    def funding_cap(self, symbol: str) -> Decimal:
        d = self.derived.get(symbol)
        return self.sim.funding_cap(d.source if d else symbol)

    def funding_quotes(self) -> dict[str, FundingQuote]:
        quotes = self.sim.funding_quotes()
        for symbol, d in self.derived.items():
            if d.market.type is MarketType.PERP and d.source in quotes:
                quotes[symbol] = self._quote(symbol, d, quotes[d.source])
        return quotes

    def funding_quote(self, symbol: str) -> FundingQuote:
        d = self.derived.get(symbol)
        if d is None:
            return self.sim.funding_quote(symbol)
        return self._quote(symbol, d, self.sim.funding_quote(self._perpetual(symbol, d)))

    def _quote(self, symbol: str, d: Derived, q: FundingQuote) -> FundingQuote:
        step = d.market.price_step
        return q._replace(
            symbol=symbol,
            mark_price=on_step(q.mark_price * d.price_factor, step),
            index_price=on_step(q.index_price * d.price_factor, step),
        )

    def funding_history(self, symbol: str, since_ms: int, until_ms: int) -> list[FundingSettlement]:
        d = self.derived.get(symbol)
        if d is None:
            return self.sim.funding_history(symbol, since_ms, until_ms)
        step = d.market.price_step
        return [
            s._replace(symbol=symbol, mark_price=on_step(s.mark_price * d.price_factor, step))
            for s in self.sim.funding_history(self._perpetual(symbol, d), since_ms, until_ms)
        ]

    @staticmethod
    def _perpetual(symbol: str, d: Derived) -> str:
        """The source whose funding a derived perpetual pays; KeyError for a spot market (BONK's
        follows a perpetual's prices, but pays no funding)."""
        if d.market.type is not MarketType.PERP:
            raise KeyError(f"{symbol} is not a perpetual")
        return d.source

    def tickers(self) -> dict[str, Ticker]:
        tickers = self.sim.tickers()
        for symbol, d in self.derived.items():
            t = tickers[d.source]
            bid, ask = self._touch(d, t.bid, t.ask)
            tickers[symbol] = Ticker(
                symbol=symbol,
                bid=bid,
                ask=ask,
                last=bid if t.last == t.bid else ask,
                quote_volume_24h=on_step(t.quote_volume_24h * d.volume_factor, VOLUME_STEP),
            )
        return tickers

    @staticmethod
    def _touch(d: Derived, bid: Decimal, ask: Decimal) -> tuple[Decimal, Decimal]:
        """The best bid and ask on the market's own tick: never crossed or touching."""
        step = d.market.price_step
        low = max(on_step(bid * d.price_factor, step, ROUND_FLOOR), step)
        high = max(on_step(ask * d.price_factor, step, ROUND_CEILING), low + step)
        return low, high

    def order_book(self, symbol: str, limit: int = 50) -> OrderBook:
        d = self.derived.get(symbol)
        if d is None:
            return self.sim.order_book(symbol, limit)
        book = self.sim.order_book(d.source, limit)
        step, lot = d.market.price_step, d.market.amount_step
        # Same depth in value, times the market's share of its source's volume.
        scale = d.volume_factor / d.price_factor

        def side(levels: tuple[tuple[Decimal, Decimal], ...], rounding: str) -> list:
            merged: dict[Decimal, Decimal] = {}
            for price, amount in levels:
                at = max(on_step(price * d.price_factor, step, rounding), step)
                merged[at] = merged.get(at, Decimal(0)) + amount * scale
            return [(p, max(on_step(a, lot, ROUND_DOWN), lot)) for p, a in merged.items()]

        bids = side(book.bids, ROUND_FLOOR)
        asks = side(book.asks, ROUND_CEILING)
        if asks[0][0] <= bids[0][0]:  # a spread narrower than the tick: one tick apart
            asks = [(p, a) for p, a in asks if p > bids[0][0]] or [(bids[0][0] + step, lot)]
        return OrderBook(symbol, book.timestamp_ms, tuple(bids), tuple(asks))

    def bars(
        self,
        symbol: str,
        since_ms: int,
        until_ms: int,
        bar_ms: int = BAR_MS,
        *,
        now_ms: int | None = None,
    ) -> list[Bar]:
        d = self.derived.get(symbol)
        if d is None:
            return self.sim.bars(symbol, since_ms, until_ms, bar_ms, now_ms=now_ms)
        step, lot = d.market.price_step, d.market.amount_step
        f = d.price_factor
        return [
            Bar(
                exchange=b.exchange,
                symbol=symbol,
                open_time_ms=b.open_time_ms,
                open=max(on_step(b.open * f, step), step),
                high=max(on_step(b.high * f, step), step),
                low=max(on_step(b.low * f, step), step),
                close=max(on_step(b.close * f, step), step),
                volume=on_step(b.volume * d.volume_factor / f, lot, ROUND_DOWN),
            )
            for b in self.sim.bars(d.source, since_ms, until_ms, bar_ms, now_ms=now_ms)
        ]
