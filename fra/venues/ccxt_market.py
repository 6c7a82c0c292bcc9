"""Market data from a real exchange through ccxt: bulk calls, markets cached in state.db.

Amounts are in the base coin everywhere in fra; exchanges that count perpetuals in contracts
(OKX) or in units of many coins (Binance's and Bybit's `1000PEPE`, hedged with `PEPE/USDT`) are
converted here, at the boundary: such a perpetual's amounts are coins and its prices are per
coin in every record this module returns.
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from decimal import Decimal
from typing import Any

from fra.core.brackets import Ladder, flat
from fra.core.models import FundingQuote, FundingSettlement, Market, MarketType, OrderBook, Ticker
from fra.core.units import hedge_for, spot_bases
from fra.store.db import Store
from fra.venues import bracket_sources
from fra.venues.base import VenueError
from fra.venues.exchange import Caller

log = logging.getLogger("fra.venue")

QUOTE = "USDT"  # fra's accounts hold USDT; perpetuals settled in anything else are skipped
ZERO = Decimal(0)
# The most funding-history rows one request may ask for (Binance 1000, Bybit 200, OKX 100).
_HISTORY_PAGE = {"bybit": 200, "okx": 100}


def dec(value: Any) -> Decimal | None:
    """A ccxt number (float, int or numeric string) as a Decimal, exactly as printed."""
    if value is None or value == "":
        return None
    return Decimal(str(value))


def relevant_markets(markets: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Active linear perpetual swaps settled in USDT, and the USDT spot markets of their coins
    (for `1000PEPE` both `1000PEPE/USDT` and `PEPE/USDT`: see fra.core.units).

    Dated futures, inverse contracts and other quotes are dropped before caching: they are most
    of Binance's list and fra never trades them.
    """
    perps = [
        m
        for m in markets.values()
        if m.get("swap")
        and m.get("linear")
        and m.get("active") is not False
        and m.get("quote") == QUOTE
        and m.get("settle") == QUOTE
    ]
    bases = {coin for m in perps for coin in spot_bases(m["base"])}
    spots = [
        m
        for m in markets.values()
        if m.get("spot")
        and m.get("active") is not False
        and m.get("quote") == QUOTE
        and m.get("base") in bases
    ]
    return perps + spots


def interval_hours(text: Any) -> int | None:
    """ccxt's funding `interval` ("8h", "60m") in whole hours."""
    if not isinstance(text, str) or len(text) < 2:
        return None
    number, unit = text[:-1], text[-1]
    if not number.isdigit():
        return None
    if unit == "h":
        return int(number)
    if unit == "m" and int(number) % 60 == 0:
        return int(number) // 60
    return None


class CcxtMarket:
    """`MarketData` of one exchange through ccxt."""

    simulated = False

    def __init__(self, call: Caller, store: Store, *, cache_key: str, markets_ttl_ms: int) -> None:
        self.call = call
        self.exchange = call.exchange
        self.name: str = self.exchange.id
        self.store = store
        self.cache_key = cache_key
        self.markets_ttl_ms = markets_ttl_ms
        self._markets: dict[str, Market] | None = None
        self._intervals: dict[str, int] | None = None
        has = self.exchange.has
        if not has.get("swap") or not (has.get("fetchFundingRates") or has.get("fetchFundingRate")):
            raise VenueError(
                f"{self.name} has no perpetual swaps with funding data in ccxt",
                kind="unsupported",
            )

    # -- markets, cached --------------------------------------------------------------------

    def now_ms(self) -> int:
        return self.call.now_ms()

    def markets(self) -> dict[str, Market]:
        if self._markets is None:
            raw = self._raw_markets()
            fees = self._account_fees()
            ladders = self._ladders(raw)
            self._markets = {m["symbol"]: self._market(m, fees, ladders) for m in raw}
            self._markets = per_coin(self._markets)
            if not any(m.type is MarketType.PERP for m in self._markets.values()):
                raise VenueError(
                    f"{self.name} lists no {QUOTE}-settled perpetual swaps", kind="unsupported"
                )
        return dict(self._markets)

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return self.call(method, *args)
        except VenueError as exc:
            if exc.kind == "bad_symbol":
                self.expire_markets()
            raise

    def expire_markets(self) -> None:
        """The exchange no longer knows a symbol we have cached: reload the list next time."""
        cached = self.store.cached(self.cache_key, "markets")
        if cached is not None:
            with self.store.tx():
                self.store.save_cached(self.cache_key, "markets", 0, cached[1])

    def _raw_markets(self) -> list[dict[str, Any]]:
        now = int(time.time() * 1000)
        cached = self.store.cached(self.cache_key, "markets")
        if cached is not None and now - cached[0] < self.markets_ttl_ms:
            raw = json.loads(zlib.decompress(cached[1]))
        else:
            self.call("load_markets", True)
            raw = relevant_markets(self.exchange.markets)
            body = zlib.compress(json.dumps(raw, separators=(",", ":")).encode(), 6)
            with self.store.tx():
                self.store.save_cached(self.cache_key, "markets", now, body)
        # ccxt needs its own market list to translate symbols; give it the cached one.
        self.exchange.set_markets(raw)
        return raw

    def _account_fees(self) -> dict[str, tuple[Decimal, Decimal]]:
        """The account's real (taker, maker) rates per symbol, when keys are configured."""
        if not (self.exchange.apiKey and self.exchange.has.get("fetchTradingFees")):
            return {}
        now = int(time.time() * 1000)
        cached = self.store.cached(self.cache_key, "fees")
        if cached is not None and now - cached[0] < self.markets_ttl_ms:
            return {k: (Decimal(t), Decimal(m)) for k, (t, m) in json.loads(cached[1]).items()}
        fees: dict[str, tuple[Decimal, Decimal]] = {}
        for kind in ("spot", "swap"):
            try:
                answer = self._call("fetch_trading_fees", {"type": kind})
            except VenueError as exc:
                if exc.kind == "auth":
                    raise
                log.warning("could not read the account's %s fees (%s); using defaults", kind, exc)
                continue
            for symbol, fee in answer.items():
                taker, maker = dec(fee.get("taker")), dec(fee.get("maker"))
                if taker is not None and maker is not None:
                    fees[symbol] = (taker, maker)
        body = json.dumps({k: [str(t), str(m)] for k, (t, m) in fees.items()}).encode()
        with self.store.tx():
            self.store.save_cached(self.cache_key, "fees", now, body)
        return fees

    def _ladders(self, raw: list[dict[str, Any]]) -> dict[str, Ladder]:
        """Each perpetual's leverage brackets: the account's own (stored, or fetched with
        keys), else on Binance the shipped table, or its fallback for a symbol listed since.
        Elsewhere a perpetual without them keeps one rate (see `_market`)."""
        account = bracket_sources.account_ladders(
            self.call, self.store, self.cache_key, self.markets_ttl_ms
        )
        shipped = bracket_sources.shipped() if self.name in bracket_sources.SHIPPED_FOR else None
        out: dict[str, Ladder] = {}
        counts = {"the account's": 0, "fra's table": 0, "the fallback": 0}
        for m in raw:
            symbol = m["symbol"]
            if not m.get("swap"):
                continue
            if symbol in account:
                out[symbol], kind = account[symbol], "the account's"
            elif shipped is not None:
                kind = "fra's table" if symbol in shipped.ladders else "the fallback"
                out[symbol] = shipped.of(symbol)
            else:
                continue
            counts[kind] += 1
        if out:
            log.info("leverage brackets: %s", ", ".join(f"{k} {n}" for k, n in counts.items()))
        return out

    def refresh_brackets(self) -> bracket_sources.Stored:
        """Fetch the account's leverage brackets now (needs keys) and store them: the market
        list is built from them from now on."""
        self._raw_markets()  # ccxt names the symbols of its answer from its market list
        stored = bracket_sources.refresh(self.call, self.store, self.cache_key)
        self._markets = None
        return stored

    def _step(self, value: Any) -> Decimal:
        from ccxt.base.decimal_to_precision import TICK_SIZE

        if value is None:
            return ZERO
        if self.exchange.precisionMode == TICK_SIZE:
            return Decimal(str(value))
        return Decimal(1).scaleb(-int(value))  # DECIMAL_PLACES

    def _market(
        self,
        m: dict[str, Any],
        fees: dict[str, tuple[Decimal, Decimal]],
        ladders: dict[str, Ladder],
    ) -> Market:
        perp = bool(m.get("swap"))
        size = (dec(m.get("contractSize")) or Decimal(1)) if perp else Decimal(1)
        step = self._step(m["precision"].get("amount")) * size
        limits = m.get("limits") or {}
        min_amount = (dec((limits.get("amount") or {}).get("min")) or ZERO) * size
        taker, maker = fees.get(m["symbol"], (dec(m.get("taker")), dec(m.get("maker"))))
        # Binance's maintMarginPercent/requiredMarginPercent are the same placeholders for
        # every symbol (2.5/5): never read. Without brackets, half the initial margin at the
        # maximum leverage, at every size: how Binance's and Bybit's first brackets are set.
        max_leverage = int(dec((limits.get("leverage") or {}).get("max")) or 0) or 20
        brackets = ladders.get(m["symbol"]) or flat(Decimal("0.5") / max_leverage, max_leverage)
        return Market(
            symbol=m["symbol"],
            type=MarketType.PERP if perp else MarketType.SPOT,
            base=m["base"],
            quote=m["quote"],
            amount_step=step,
            min_amount=max(min_amount, step),
            min_notional=dec((limits.get("cost") or {}).get("min")) or ZERO,
            price_step=self._step(m["precision"].get("price")),
            taker_fee=taker if taker is not None else Decimal("0.001"),
            maker_fee=maker if maker is not None else Decimal("0.001"),
            maintenance_margin_rate=brackets[0].rate if perp else ZERO,
            max_leverage=brackets[0].max_leverage if perp else 1,
            brackets=brackets if perp else (),
        )

    def _contract_size(self, symbol: str) -> Decimal:
        m = self.exchange.markets.get(symbol) or {}
        return (dec(m.get("contractSize")) or Decimal(1)) if m.get("swap") else Decimal(1)

    def coins_per_unit(self, symbol: str) -> Decimal:
        """Coins one unit of the exchange's amounts stands for (its prices are per unit)."""
        if self._markets is None:
            self.markets()
        assert self._markets is not None
        market = self._markets.get(symbol)
        return market.coins_per_unit if market is not None else Decimal(1)

    # -- funding -----------------------------------------------------------------------------

    def funding_quotes(self) -> dict[str, FundingQuote]:
        perps = [s for s, m in self.markets().items() if m.type is MarketType.PERP]
        if self.exchange.has.get("fetchFundingRates"):
            rates = self._call("fetch_funding_rates", None, {"type": "swap"})
        else:
            log.warning("%s has no bulk funding call: %d requests", self.name, len(perps))
            rates = {s: self._call("fetch_funding_rate", s) for s in perps}
        intervals = self._funding_intervals(refresh=True)
        rates = self._with_mark_prices(rates)
        out = {}
        for symbol in perps:
            quote = self._quote(symbol, rates.get(symbol), intervals)
            if quote is not None:
                out[symbol] = quote
        return out

    def funding_quote(self, symbol: str) -> FundingQuote:
        if symbol not in self.markets() or self.markets()[symbol].type is not MarketType.PERP:
            raise KeyError(f"{symbol} is not a perpetual on {self.name}")
        rate = self._call("fetch_funding_rate", symbol)
        rate = self._with_mark_prices({symbol: rate}, [symbol])[symbol]
        quote = self._quote(symbol, rate, self._funding_intervals())
        if quote is None:
            raise VenueError(f"{self.name} gave no usable funding quote for {symbol}")
        return quote

    def _with_mark_prices(
        self, rates: dict[str, dict[str, Any]], symbols: list[str] | None = None
    ) -> dict[str, dict[str, Any]]:
        """OKX's funding answer has no mark price: one bulk mark-price call fills it in."""
        if all(r.get("markPrice") for r in rates.values()):
            return rates
        if not self.exchange.has.get("fetchMarkPrices"):
            return rates
        marks = self._call("fetch_mark_prices", symbols, {"type": "swap"})
        return {
            symbol: rate
            if rate.get("markPrice")
            else {**rate, "markPrice": (marks.get(symbol) or {}).get("markPrice")}
            for symbol, rate in rates.items()
        }

    def _funding_intervals(self, refresh: bool = False) -> dict[str, int] | None:
        """Hours between settlements per symbol, from the exchange's interval list if it has one.

        Binance lists only the symbols whose interval was changed from 8h; it can change between
        cycles, so a scan reads it afresh.
        """
        if not self.exchange.has.get("fetchFundingIntervals"):
            return None
        if self._intervals is None or refresh:
            answer = self._call("fetch_funding_intervals")
            self._intervals = {
                s: h for s, r in answer.items() if (h := interval_hours(r.get("interval")))
            }
        return self._intervals

    def _quote(
        self, symbol: str, rate: dict[str, Any] | None, intervals: dict[str, int] | None
    ) -> FundingQuote | None:
        if rate is None:
            return None
        hours = interval_hours(rate.get("interval"))
        if hours is None and intervals is not None:
            hours = intervals.get(symbol, 8 if self.name == "binance" else None)
        mark = dec(rate.get("markPrice"))
        if hours is None or mark is None or not rate.get("fundingTimestamp"):
            # Never guessed: a symbol whose interval or price is unknown is left out of the scan.
            log.info("%s: no funding interval/mark price/next time from %s", symbol, self.name)
            return None
        unit = self.coins_per_unit(symbol)
        return FundingQuote(
            symbol=symbol,
            rate=dec(rate.get("fundingRate")),
            interval_hours=hours,
            next_funding_ms=int(rate["fundingTimestamp"]),
            mark_price=mark / unit,
            index_price=(dec(rate.get("indexPrice")) or mark) / unit,
        )

    def funding_history(self, symbol: str, since_ms: int, until_ms: int) -> list[FundingSettlement]:
        if symbol not in self.markets():
            raise KeyError(symbol)
        current: FundingQuote | None = None  # read once, and only if needed
        intervals = self._funding_intervals()
        hours = intervals.get(symbol, 8) if intervals is not None else None
        page_size = _HISTORY_PAGE.get(self.name, 1000)
        unit = self.coins_per_unit(symbol)
        out: list[FundingSettlement] = []
        start = since_ms + 1
        while start <= until_ms:
            page = self._call(
                "fetch_funding_rate_history", symbol, start, page_size, {"until": until_ms}
            )
            fresh = sorted(
                (r for r in page if since_ms < int(r["timestamp"]) <= until_ms),
                key=lambda r: int(r["timestamp"]),
            )
            for r in fresh:
                mark = dec((r.get("info") or {}).get("markPrice"))
                if (mark is None or hours is None) and current is None:
                    current = self.funding_quote(symbol)  # per coin already
                if mark is not None:
                    mark /= unit
                out.append(
                    FundingSettlement(
                        symbol=symbol,
                        time_ms=int(r["timestamp"]),
                        rate=dec(r["fundingRate"]) or ZERO,
                        mark_price=mark or (current.mark_price if current else ZERO),
                        interval_hours=hours or (current.interval_hours if current else 8),
                    )
                )
            if len(page) < page_size or not fresh:
                break
            start = int(fresh[-1]["timestamp"]) + 1
        out.sort(key=lambda s: s.time_ms)
        return out

    def recent_settlements(self, since_ms: int) -> list[FundingSettlement] | None:
        """Binance's funding history without a symbol: every perpetual's settlements (its
        USDC-margined ones too), ascending by time and, within one settlement, by symbol; from
        startTime (inclusive) the first `limit` rows, at most 1000. A request is one of the
        500 per 5 minutes per IP that fundingRate shares with fundingInfo, whatever it returns.
        Bybit and OKX want a symbol for their funding history: None."""
        if self.name != "binance":
            return None
        perps = {s for s, m in self.markets().items() if m.type is MarketType.PERP}
        intervals = self._funding_intervals() or {}
        page_size = 1000
        seen: set[tuple[str, int]] = set()
        out: list[FundingSettlement] = []
        start = since_ms + 1
        while True:
            page = self._call("fetch_funding_rate_history", None, start, page_size)
            times = [int(r["timestamp"]) for r in page]
            for r, time_ms in zip(page, times, strict=True):
                symbol = r.get("symbol")
                if symbol not in perps or time_ms <= since_ms or (symbol, time_ms) in seen:
                    continue
                seen.add((symbol, time_ms))
                out.append(
                    FundingSettlement(
                        symbol=symbol,
                        time_ms=time_ms,
                        rate=dec(r["fundingRate"]) or ZERO,
                        mark_price=(dec((r.get("info") or {}).get("markPrice")) or ZERO)
                        / self.coins_per_unit(symbol),
                        # As funding_history has it: the symbol's interval now.
                        interval_hours=intervals.get(symbol, 8),
                    )
                )
            if len(page) < page_size:
                break
            # Hundreds of perpetuals share one settlement time, and a page may end part-way
            # through them: the next page starts at that time again (repeats are skipped).
            if max(times) <= start:
                # More than a page of rows at one instant: paging by time cannot get past it.
                log.warning("%s: funding history too dense to page at %d", self.name, start)
                return None
            start = max(times)
        out.sort(key=lambda s: (s.time_ms, s.symbol))
        return out

    # -- prices ------------------------------------------------------------------------------

    def tickers(self) -> dict[str, Ticker]:
        markets = self.markets()
        out: dict[str, Ticker] = {}
        for kind in ("spot", "swap"):
            wanted = {
                s for s, m in markets.items() if (m.type is MarketType.PERP) == (kind == "swap")
            }
            raw = self._bulk_tickers(kind, wanted)
            missing_touch = [s for s in wanted if s in raw and not raw[s].get("bid")]
            if missing_touch and self.exchange.has.get("fetchBidsAsks"):
                # Binance's futures 24h tickers carry no bid/ask: one more bulk call for them.
                touch = self._call("fetch_bids_asks", None, {"type": kind})
                for s in missing_touch:
                    if s in touch:
                        raw[s] = {**raw[s], "bid": touch[s]["bid"], "ask": touch[s]["ask"]}
            for symbol in wanted:
                ticker = self._ticker(symbol, raw.get(symbol))
                if ticker is not None:
                    out[symbol] = ticker
        return out

    def _bulk_tickers(self, kind: str, wanted: set[str]) -> dict[str, dict[str, Any]]:
        if self.exchange.has.get("fetchTickers"):
            answer = self._call("fetch_tickers", None, {"type": kind})
            return {s: t for s, t in answer.items() if s in wanted}
        log.warning("%s has no bulk ticker call: %d requests", self.name, len(wanted))
        return {s: self._call("fetch_ticker", s) for s in sorted(wanted)}

    def _ticker(self, symbol: str, t: dict[str, Any] | None) -> Ticker | None:
        if t is None:
            return None
        bid, ask = dec(t.get("bid")), dec(t.get("ask"))
        if not bid or not ask:
            return None
        last = dec(t.get("last")) or (bid + ask) / 2
        volume = dec(t.get("quoteVolume"))
        if volume is None:
            # OKX counts a perpetual's volume in contracts.
            base_volume = (dec(t.get("baseVolume")) or ZERO) * self._contract_size(symbol)
            volume = base_volume * last
        unit = self.coins_per_unit(symbol)
        return Ticker(
            symbol=symbol, bid=bid / unit, ask=ask / unit, last=last / unit, quote_volume_24h=volume
        )

    def order_book(self, symbol: str, limit: int = 50) -> OrderBook:
        if symbol not in self.markets():
            raise KeyError(symbol)
        book = self._call("fetch_order_book", symbol, limit)
        unit = self.coins_per_unit(symbol)
        size = self._contract_size(symbol) * unit

        def side(levels: list[list[Any]]) -> tuple[tuple[Decimal, Decimal], ...]:
            return tuple((Decimal(str(p)) / unit, Decimal(str(a)) * size) for p, a, *_ in levels)

        return OrderBook(
            symbol=symbol,
            timestamp_ms=int(book.get("timestamp") or self.now_ms()),
            bids=side(book["bids"]),
            asks=side(book["asks"]),
        )


def per_coin(markets: dict[str, Market]) -> dict[str, Market]:
    """The markets with each perpetual counted in units of many coins restated per coin and
    given the spot market that hedges it (fra.core.units): its amount step and minimum times
    the unit, its price step divided by it. Minimum notionals are in USDT either way."""
    spots = {s for s, m in markets.items() if m.type is MarketType.SPOT}
    out = dict(markets)
    for symbol, m in markets.items():
        if m.type is not MarketType.PERP:
            continue
        hedge = hedge_for(m.base, m.quote, spots)
        unit = hedge.coins_per_unit
        if unit == 1:
            continue
        out[symbol] = m._replace(
            amount_step=m.amount_step * unit,
            min_amount=m.min_amount * unit,
            price_step=m.price_step / unit,
            hedge_symbol=hedge.spot_symbol,
            coins_per_unit=unit,
        )
    return out
