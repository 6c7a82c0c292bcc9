"""`fra history fetch`: funding settlements and price bars from an exchange (through ccxt) or
the simulated market into history.db, page by page, resumable."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, NamedTuple, Protocol

from fra.core.history import HOUR_MS, SECOND_MS, Bar, FundingRecord, HistoryError, unify
from fra.core.models import MarketType
from fra.core.units import hedge_for
from fra.engine.history import bad_history
from fra.engine.interrupts import StopFlag
from fra.errors import BadInput, Interrupted
from fra.store.history import Added, HistoryStore
from fra.venues.simulated import SIM_EXCHANGE as SIM

if TYPE_CHECKING:
    from fra.venues.exchange import Caller, RequestBudget
    from fra.venues.simulated import SimulatedMarket

BAR_MS = 8 * HOUR_MS  # the bars fetched: 8h, or the longest that divides 8h (Bybit, OKX: 4h)
_TIMEFRAMES = (("8h", BAR_MS), ("4h", 4 * HOUR_MS), ("2h", 2 * HOUR_MS), ("1h", HOUR_MS))
DEFAULT_TOP = 20
EARLIEST_MS = 1_451_606_400_000  # 2016-01-01: BitMEX's perpetual swap, the first, is of 2016
RESUME_FIX = "run the same command again: it continues where this one stopped"
# Rows per request, no more than each exchange gives (funding: Binance 1000, Bybit 200, OKX 100;
# candles: Binance 1000 spot / 1500 futures, Bybit 1000, OKX 100). Others get 100, which every
# exchange ccxt knows serves: a short page is how a series' end is recognised.
_FUNDING_PAGE = {"binance": 1000, "bybit": 200, "okx": 100}
_BARS_PAGE = {"binance": 1000, "bybit": 1000, "okx": 100}
_DEFAULT_PAGE = 100
_SIM_PAGE_MS = 90 * 24 * HOUR_MS  # the simulated market's "page": a quarter


class SeriesFetched(NamedTuple):
    symbol: str
    kind: str  # funding | bars
    new: int  # rows added by this fetch
    first_ms: int | None  # what history.db holds of the series afterwards
    last_ms: int | None


class Fetched(NamedTuple):
    exchange: str
    since_ms: int
    until_ms: int  # exclusive; the exchange's now when --until was not given
    symbols: tuple[str, ...]
    series: tuple[SeriesFetched, ...]
    requests: int

    @property
    def new_funding(self) -> int:
        return sum(s.new for s in self.series if s.kind == "funding")

    @property
    def new_bars(self) -> int:
        return sum(s.new for s in self.series if s.kind == "bars")


class HistorySource(Protocol):
    """Where fetched history comes from: an exchange through ccxt, or the simulated market."""

    exchange: str  # its name in history.db
    bar_ms: int  # the length of its bars

    @property
    def requests(self) -> int: ...

    def now_ms(self) -> int: ...

    def perpetuals(self) -> dict[str, str | None]:
        """USDT-settled perpetuals and the spot market of each one's coin (None: none)."""
        ...

    def volumes(self) -> dict[str, Decimal]:
        """24h quote volume of each perpetual."""
        ...

    def funding_pages(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[list]:
        """Settlements in [start, end), oldest first, one list of FundingRecord per request."""
        ...

    def bar_pages(self, starts: dict[str, int], end_ms: int) -> Iterator[list]:
        """Bars opening in [start, end) for each symbol, one list of Bar per request."""
        ...


class FetchProgress(Protocol):
    """What a fetch reports while it runs; the CLI draws it (a bar, or a line per symbol)."""

    def begin(self, exchange: str, symbols: Sequence[str]) -> None:
        """The symbols chosen, before the first request for their history."""

    def page(self, symbol: str, kind: str, up_to_ms: int) -> None:
        """A page of one series is stored; it now reaches `up_to_ms`."""

    def symbol_done(self, symbol: str, series: Sequence[SeriesFetched]) -> None:
        """Every series of one perpetual is up to date."""


class _Silent:
    def begin(self, exchange: str, symbols: Sequence[str]) -> None:
        pass

    def page(self, symbol: str, kind: str, up_to_ms: int) -> None:
        pass

    def symbol_done(self, symbol: str, series: Sequence[SeriesFetched]) -> None:
        pass


class FetchStop(StopFlag):
    """Ctrl-C stops a fetch after the page in flight is stored; a second one at once (the
    page being written is rolled back, so history.db stays consistent either way)."""

    def request(self, signum: int, frame: FrameType | None = None) -> None:
        if self.signum is not None:
            raise Interrupted("stopped at once by a second signal", RESUME_FIX)
        self.signum = signum

    def check(self) -> None:
        if self.signum is not None:
            name = signal.Signals(self.signum).name
            raise Interrupted(f"stopped by {name}; history.db keeps every page fetched", RESUME_FIX)


def exchange_name(text: str) -> str:
    """`--exchange` as stored: `sim` (or `simulated`) or one of ccxt's exchange ids."""
    from fra.settings import ccxt_exchange_ids

    name = text.strip().lower()
    if name in (SIM, "simulated"):
        return SIM
    if name not in ccxt_exchange_ids():
        raise BadInput(
            f"unknown exchange {text!r}",
            "use sim (the simulated market, offline) or a ccxt id: binance, bybit, okx, ...",
        )
    return name


def fetch_history(
    history_path: Path,
    source: HistorySource,
    *,
    since_ms: int,
    until_ms: int | None = None,
    symbols: Sequence[str] | None = None,
    top: int = DEFAULT_TOP,
    progress: FetchProgress | None = None,
    stop: StopFlag | None = None,
) -> Fetched:
    """Fetch each chosen perpetual's funding settlements, and price bars (8h, or the longest
    the exchange has up to 8h) of it and its coin's spot market, into history.db, from
    `since_ms` up to `until_ms` (exclusive; default: now). Only closed bars are stored.

    Resumable: each series continues after the last row history.db holds, so a second run only
    asks for what is new, and an interrupted run carries on. Each page goes in its own
    transaction (an interruption loses at most the page in flight). A series extended back
    before its stored start is written at once, so it never keeps a hole in the middle.
    Everything that can be refused (dates, exchange, symbols) is checked before history.db is
    opened: bad input leaves it as it was, not even created."""
    progress = progress or _Silent()
    if since_ms < EARLIEST_MS:
        raise BadInput(
            f"--since {_day(since_ms)} is before any exchange had perpetual swaps",
            f"give --since {_day(EARLIEST_MS)} or later",
        )
    if until_ms is not None and since_ms >= until_ms:
        raise BadInput(
            f"--since {_day(since_ms)} is not before --until {_day(until_ms)}",
            "give an earlier --since or a later --until",
        )
    with bad_history():
        wanted = [unify(source.exchange, s, perpetual=True) for s in symbols or ()]
    chosen = _choose(source, list(dict.fromkeys(wanted)), top)
    now = source.now_ms()
    if since_ms >= now:
        raise BadInput(f"--since {_day(since_ms)} is in the future", "give an earlier --since")
    until = now if until_ms is None else min(until_ms, now)
    progress.begin(source.exchange, [perp for perp, _ in chosen])
    funding_end = min(until, now + 1)  # a settlement is final once its time has come
    bars_end = min(until, now - source.bar_ms + 1)  # only closed bars: they never change
    store = HistoryStore.open(history_path)
    results: list[SeriesFetched] = []
    try:
        for perp, spot in chosen:
            done = [_fetch_funding(store, source, perp, since_ms, funding_end, progress, stop)]
            markets = [perp] if spot is None else [perp, spot]
            done += _fetch_bars(store, source, markets, since_ms, bars_end, progress, stop)
            results += done
            progress.symbol_done(perp, done)
    finally:
        store.close()
    return Fetched(
        source.exchange,
        since_ms,
        until,
        tuple(perp for perp, _ in chosen),
        tuple(results),
        source.requests,
    )


def _choose(source: HistorySource, wanted: list[str], top: int) -> list[tuple[str, str | None]]:
    """(perpetual, its spot market) pairs: the wanted symbols, or the `top` perpetuals with a
    spot market by 24h volume (all of them for top 0), the pairs a scan would rank."""
    perps = source.perpetuals()
    if wanted:
        unknown = [s for s in wanted if s not in perps]
        if unknown:
            raise BadInput(
                f"{source.exchange} has no USDT perpetual {', '.join(unknown)}",
                "give perpetuals it lists, e.g. BTC/USDT:USDT or BTCUSDT",
            )
        return [(s, perps[s]) for s in wanted]
    hedgeable = [s for s, spot in perps.items() if spot is not None]
    if top > 0:
        volumes = source.volumes()
        hedgeable = sorted(hedgeable, key=lambda s: volumes.get(s, Decimal(0)), reverse=True)
        hedgeable = hedgeable[:top]
    return [(s, perps[s]) for s in sorted(hedgeable)]


def _ranges(
    span: tuple[int, int] | None, since_ms: int, end_ms: int, step_ms: int, gap_ms: int
) -> list[tuple[int, int, bool]]:
    """(start, end, at_once) ranges still to fetch of a series stored over `span`: what comes
    `step_ms` after it and, when `since` is `gap_ms` or more before its start (a row is
    missing), what comes before it (written at once)."""
    if span is None:
        return [(since_ms, end_ms, False)]
    first, last = span
    ranges = []
    if first - since_ms >= gap_ms:
        ranges.append((since_ms, min(first, end_ms), True))
    ranges.append((max(since_ms, last + step_ms), end_ms, False))
    return [r for r in ranges if r[0] < r[1]]


def _fetch_funding(
    store: HistoryStore,
    source: HistorySource,
    perp: str,
    since_ms: int,
    end_ms: int,
    progress: FetchProgress,
    stop: StopFlag | None,
) -> SeriesFetched:
    new = 0
    # Settlement times are stored to the second; the exchange's may be a few ms later. No
    # interval is longer than 8h.
    span = store.span(source.exchange, perp, "funding")
    for start, end, at_once in _ranges(span, since_ms, end_ms, SECOND_MS, 8 * HOUR_MS):
        held: list[FundingRecord] = []
        for page in source.funding_pages(perp, start, end):
            if at_once:
                held += page
            elif page:
                new += _store(store.add_funding, page)
                progress.page(perp, "funding", page[-1].time_ms)
            if stop is not None:
                stop.check()
        if held:
            new += _store(store.add_funding, held)
            progress.page(perp, "funding", held[-1].time_ms)
    first, last = store.span(source.exchange, perp, "funding") or (None, None)
    return SeriesFetched(perp, "funding", new, first, last)


def _fetch_bars(
    store: HistoryStore,
    source: HistorySource,
    markets: list[str],
    since_ms: int,
    end_ms: int,
    progress: FetchProgress,
    stop: StopFlag | None,
) -> list[SeriesFetched]:
    new = dict.fromkeys(markets, 0)
    bar_ms = source.bar_ms
    plans = {
        m: _ranges(store.span(source.exchange, m, "bars"), since_ms, end_ms, bar_ms, bar_ms)
        for m in markets
    }
    # Heads (before the stored start) first, each written at once; then the tails together,
    # page by page: the simulated market computes a coin's spot and perp bars in one pass.
    for market, plan in plans.items():
        for start, end, at_once in plan:
            if at_once:
                held = [bar for page in source.bar_pages({market: start}, end) for bar in page]
                if held:
                    new[market] += _store(store.add_bars, held)
                    progress.page(market, "bars", held[-1].open_time_ms)
                if stop is not None:
                    stop.check()
    tails = {m: plan[-1][0] for m, plan in plans.items() if plan and not plan[-1][2]}
    if tails:
        for page in source.bar_pages(tails, end_ms):
            if page:
                new[page[0].symbol] += _store(store.add_bars, page)
                progress.page(page[0].symbol, "bars", page[-1].open_time_ms)
            if stop is not None:
                stop.check()
    out = []
    for m in markets:
        first, last = store.span(source.exchange, m, "bars") or (None, None)
        out.append(SeriesFetched(m, "bars", new[m], first, last))
    return out


def _store(add: Callable[[Sequence], Added], page: Sequence) -> int:
    try:
        return add(page).new
    except HistoryError as exc:
        raise BadInput(
            f"history.db disagrees with what the exchange serves now: {exc.problem}",
            "fetch into another file (FRA_HISTORY_DB), or move history.db aside",
        ) from None


def _day(ms: int | None) -> str:
    if ms is None:
        return "-"
    stamp = datetime.fromtimestamp(ms / 1000, UTC)
    return stamp.strftime("%Y-%m-%d" if not ms % (24 * HOUR_MS) else "%Y-%m-%d %H:%M")


# -- sources ----------------------------------------------------------------------------------


class SimSource:
    """The simulated market's history, computed on the spot: no network, exchange `sim`."""

    exchange = SIM
    bar_ms = BAR_MS
    requests = 0

    def __init__(self, market: SimulatedMarket) -> None:
        self.market = market

    def now_ms(self) -> int:
        return self.market.now_ms()

    def perpetuals(self) -> dict[str, str | None]:
        markets = self.market.markets()
        out: dict[str, str | None] = {}
        for symbol, m in markets.items():
            if m.type is MarketType.PERP:
                spot = f"{m.base}/{m.quote}"
                out[symbol] = spot if spot in markets else None
        return out

    def volumes(self) -> dict[str, Decimal]:
        return {s: t.quote_volume_24h for s, t in self.market.tickers().items()}

    def funding_pages(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[list]:
        for lo, hi in _windows(start_ms, end_ms, _SIM_PAGE_MS):
            yield [
                FundingRecord(SIM, symbol, s.time_ms, s.rate, s.interval_hours, s.mark_price)
                for s in self.market.funding_history(symbol, lo - 1, hi - 1)
            ]

    def bar_pages(self, starts: dict[str, int], end_ms: int) -> Iterator[list]:
        for lo, hi in _windows(min(starts.values()), end_ms, _SIM_PAGE_MS):
            got = self.market.bars_of(list(starts), lo, hi, BAR_MS)
            for symbol, bars in got.items():
                yield [b for b in bars if b.open_time_ms >= starts[symbol]]


def _windows(start_ms: int, end_ms: int, size_ms: int) -> Iterator[tuple[int, int]]:
    while start_ms < end_ms:
        yield start_ms, min(end_ms, start_ms + size_ms)
        start_ms += size_ms


# Limits of the funding-history endpoint apart from the request weight ccxt paces: Binance
# allows 500 requests per 5 minutes per IP for fundingRate and fundingInfo together. Fetching
# keeps 50 of them for a cron'd `fra run-cycle` on the same IP.
FUNDING_LIMITS = {"binance": (450, 300.0)}  # requests, per seconds


class CcxtSource:
    """An exchange's history through ccxt (fra's client: FRA_VENUE_URL, retries, pacing)."""

    def __init__(self, call: Caller, funding_budget: RequestBudget | None = None) -> None:
        self.call = call
        self.exchange: str = call.exchange.id
        if funding_budget is None and self.exchange in FUNDING_LIMITS:
            from fra.venues.exchange import RequestBudget

            count, seconds = FUNDING_LIMITS[self.exchange]
            funding_budget = RequestBudget(
                seconds * 1000 / count, burst_seconds=seconds, sleep=call.sleep
            )
        self.funding_budget = funding_budget
        timeframes = call.exchange.timeframes or {}
        self.timeframe, self.bar_ms = next(
            ((name, ms) for name, ms in _TIMEFRAMES if name in timeframes), _TIMEFRAMES[0]
        )

    @property
    def requests(self) -> int:
        return self.call.requests

    def now_ms(self) -> int:
        return self.call.now_ms()

    def perpetuals(self) -> dict[str, str | None]:
        from fra.venues.ccxt_market import relevant_markets

        client = self.call.exchange
        has = client.has
        if not (has.get("swap") and has.get("fetchFundingRateHistory") and has.get("fetchOHLCV")):
            raise BadInput(
                f"{self.exchange} has no perpetual swaps with funding history in ccxt",
                "choose an exchange with USDT perpetuals, e.g. binance, bybit, okx",
            )
        if self.timeframe not in (client.timeframes or {}):
            raise BadInput(f"{self.exchange} has no 1h to 8h candles", "choose another exchange")
        self.call("load_markets")
        relevant = relevant_markets(client.markets)
        spots = {m["symbol"] for m in relevant if m.get("spot")}
        # The spot pair a scan would hedge with: PEPE/USDT for 1000PEPE (fra.core.units). Bars
        # are stored as the exchange serves them; the backtest converts on loading.
        hedges = {
            m["symbol"]: hedge_for(m["base"], m["quote"], spots).spot_symbol
            for m in relevant
            if m.get("swap")
        }
        perps = {perp: spot if spot in spots else None for perp, spot in hedges.items()}
        if not perps:
            raise BadInput(f"{self.exchange} lists no USDT perpetuals", "choose another exchange")
        return perps

    def volumes(self) -> dict[str, Decimal]:
        from fra.venues.ccxt_market import dec

        answer = self.call("fetch_tickers", None, {"type": "swap"})
        return {s: dec(t.get("quoteVolume")) or Decimal(0) for s, t in answer.items()}

    def funding_pages(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[list]:
        from fra.venues.ccxt_market import dec

        limit = _FUNDING_PAGE.get(self.exchange, _DEFAULT_PAGE)
        while start_ms < end_ms:
            if self.funding_budget is not None:
                self.funding_budget()
            page = self.call(
                "fetch_funding_rate_history", symbol, start_ms, limit, {"until": end_ms - 1}
            )
            rows = sorted(
                (r for r in page if start_ms <= int(r["timestamp"]) < end_ms),
                key=lambda r: int(r["timestamp"]),
            )
            out = []
            for r in rows:
                info = r.get("info")
                info = info if isinstance(info, dict) else {}
                # The exchange's own text where it sent one: ccxt's float may round the rate.
                rate = dec(info.get("fundingRate"))
                out.append(
                    FundingRecord(
                        self.exchange,
                        symbol,
                        # Exchanges stamp settlements with ms jitter; the importer rounds too.
                        (int(r["timestamp"]) + SECOND_MS // 2) // SECOND_MS * SECOND_MS,
                        rate if rate is not None else dec(r["fundingRate"]) or Decimal(0),
                        None,  # derived from the spacing when the backtest loads it
                        dec(info.get("markPrice")) or None,
                    )
                )
            yield out
            if len(page) < limit or not rows:
                return
            start_ms = int(rows[-1]["timestamp"]) + 1

    def bar_pages(self, starts: dict[str, int], end_ms: int) -> Iterator[list]:
        from fra.venues.ccxt_market import dec

        limit = _BARS_PAGE.get(self.exchange, _DEFAULT_PAGE)
        for symbol, start_ms in starts.items():
            while start_ms < end_ms:
                page = self.call(
                    "fetch_ohlcv", symbol, self.timeframe, start_ms, limit, {"until": end_ms - 1}
                )
                rows = [r for r in page if start_ms <= int(r[0]) < end_ms and None not in r[1:5]]
                yield [
                    Bar(
                        self.exchange,
                        symbol,
                        int(r[0]),
                        *(dec(v) for v in r[1:5]),
                        dec(r[5]) or Decimal(0),
                    )
                    for r in rows
                ]
                if len(page) < limit or not rows:
                    break
                start_ms = int(rows[-1][0]) + 1
