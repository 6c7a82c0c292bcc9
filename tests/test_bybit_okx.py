"""Bybit and OKX through ccxt's unified API: fra's market data, scan and paper trading against
responses in the exchanges' own shapes (tests/recorded/), served on 127.0.0.1.

The recorded exchange's clock reads 2026-03-01 07:55 UTC; the next funding settles at 08:00.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

import pytest
from conftest import Fra
from recorded_server import RECORDED, Recorded, serve

from fra.core.models import HOUR_MS, MarketType, OrderRequest, OrderStatus, Side
from fra.core.scan import snapshot_rows
from fra.store.db import Store
from fra.venues.base import VenueError
from fra.venues.ccxt_market import CcxtMarket
from fra.venues.exchange import Caller, build_exchange
from fra.venues.paper import PaperExecutor

NEXT_FUNDING = 1772352000000  # 2026-03-01T08:00:00Z
MIDNIGHT = 1772323200000  # 2026-03-01T00:00:00Z
BTC_PERP, BTC_SPOT = "BTC/USDT:USDT", "BTC/USDT"


def d(text: str) -> Decimal:
    return Decimal(text)


class Rules(NamedTuple):
    amount_step: str
    min_amount: str
    price_step: str
    taker_fee: str
    min_notional: str = "0"


class Quote(NamedTuple):
    rate: str
    hours: int
    mark: str


class Touch(NamedTuple):
    bid: str
    ask: str
    quote_volume: Decimal


class Venue(NamedTuple):
    """What the recorded responses of one exchange say, in fra's terms."""

    perps: frozenset[str]
    spots: frozenset[str]
    dropped: frozenset[str]  # listed by the exchange, never fra's business
    no_spot: str | None  # a perpetual whose coin has no USDT spot market
    rules: dict[str, Rules]
    max_leverage: int
    quotes: dict[str, Quote]
    index_price: str | None  # BTC perp's index price, where the exchange gives one
    tickers: dict[str, Touch]
    # BTC perp book, best levels, amounts in BTC: (price, amount)
    perp_bids: tuple[tuple[str, str], ...]
    perp_asks: tuple[tuple[str, str], ...]
    book_ms: int
    paths: dict[str, str]  # what each call asks the exchange for
    history: tuple[tuple[int, str], ...]  # BTC perp settlements in (MIDNIGHT - 24h, MIDNIGHT]
    four_hour_history: str  # the 4h perpetual, for its settlements' interval
    spot_buy_price: str  # average price of buying 0.05 BTC through the recorded spot asks
    perp_sell_price: str  # average price of selling 0.05 BTC through the recorded perp bids
    # A perpetual counted in units of many coins: (perpetual, its coin's spot pair, coins/unit)
    in_units: tuple[str, str, int] | None = None


VENUES = {
    "bybit": Venue(
        perps=frozenset({BTC_PERP, "ETH/USDT:USDT", "SOL/USDT:USDT", "1000PEPE/USDT:USDT"}),
        # PEPE/USDT hedges 1000PEPE, whose unit is 1000 coins: every figure of it below is
        # per coin (the recorded answers' divided by 1000, or times 1000 for amounts).
        spots=frozenset({BTC_SPOT, "ETH/USDT", "SOL/USDT", "PEPE/USDT"}),
        dropped=frozenset(
            {
                "BTC/USDT:USDT-260327",  # dated USDT future
                "BTC/USD:BTC",  # inverse perpetual
                "BTC/USDC:USDC",  # USDC perpetual
                "BTC/USDC:USDC-260327-90000-C",  # option
                "ETH/BTC",  # not quoted in USDT
            }
        ),
        no_spot=None,  # every coin of these has a spot pair
        rules={
            BTC_PERP: Rules("0.001", "0.001", "0.1", "0.0006", "5"),
            "1000PEPE/USDT:USDT": Rules("100000", "100000", "0.000000001", "0.0006", "5"),
            BTC_SPOT: Rules("0.000001", "0.000048", "0.01", "0.001", "1"),
        },
        max_leverage=100,
        quotes={
            BTC_PERP: Quote("0.0001", 8, "84281.35"),
            "ETH/USDT:USDT": Quote("0.000085", 8, "2216.10"),
            "SOL/USDT:USDT": Quote("0.000253", 8, "142.37"),
            "1000PEPE/USDT:USDT": Quote("0.000312", 4, "0.0000071262"),  # fundingInterval 240
        },
        index_price="84262.11",
        tickers={
            BTC_SPOT: Touch("84249.90", "84250.00", d("1101021570.3533")),
            BTC_PERP: Touch("84281.20", "84281.30", d("6234567890.1266")),
            "1000PEPE/USDT:USDT": Touch("0.000007124", "0.000007125", d("187654321.0922")),
        },
        perp_bids=(("84281.20", "0.031"), ("84281.10", "0.4")),
        perp_asks=(("84281.30", "1.204"), ("84281.40", "0.51")),
        book_ms=1772351699741,
        paths={
            "time": "/v5/market/time",
            "markets": "/v5/market/instruments-info",
            "funding": "/v5/market/tickers",
            "tickers": "/v5/market/tickers",
            "book": "/v5/market/orderbook",
            "history": "/v5/market/funding/history",
        },
        history=(
            (MIDNIGHT - 16 * HOUR_MS, "0.0001"),
            (MIDNIGHT - 8 * HOUR_MS, "0.000092"),
            (MIDNIGHT, "0.0001"),
        ),
        four_hour_history="1000PEPE/USDT:USDT",
        spot_buy_price="84250.36",  # 0.02 @ 84250.00 + 0.03 @ 84250.60
        perp_sell_price="84281.162",  # 0.031 @ 84281.20 + 0.019 @ 84281.10
        in_units=("1000PEPE/USDT:USDT", "PEPE/USDT", 1000),
    ),
    "okx": Venue(
        perps=frozenset({BTC_PERP, "ETH/USDT:USDT", "SOL/USDT:USDT", "HMSTR/USDT:USDT"}),
        spots=frozenset({BTC_SPOT, "ETH/USDT", "SOL/USDT"}),
        dropped=frozenset(
            {
                "BTC/USDT:USDT-260327",  # dated USDT future
                "BTC/USD:BTC-260327",  # dated inverse future
                "BTC/USD:BTC",  # inverse perpetual
                "BTC/USD:BTC-260327-90000-C",  # option
                "ETH/BTC",  # not quoted in USDT
            }
        ),
        no_spot="HMSTR/USDT:USDT",
        rules={
            # OKX counts perpetuals in contracts: ctVal x lotSz / minSz, in coins.
            BTC_PERP: Rules("0.0001", "0.0001", "0.1", "0.0005"),  # 0.01 BTC x 0.01
            "ETH/USDT:USDT": Rules("0.001", "0.001", "0.01", "0.0005"),  # 0.1 ETH x 0.01
            "HMSTR/USDT:USDT": Rules("100", "100", "0.000001", "0.0005"),  # 100 HMSTR x 1
            BTC_SPOT: Rules("0.00000001", "0.00001", "0.1", "0.0015"),
        },
        max_leverage=100,
        quotes={
            # OKX's funding-rate answer carries no mark price: it is /public/mark-price's.
            BTC_PERP: Quote("0.0001", 8, "84283.45"),
            "ETH/USDT:USDT": Quote("0.0000712", 8, "2216.31"),
            "SOL/USDT:USDT": Quote("0.00018", 8, "142.39"),
            "HMSTR/USDT:USDT": Quote("0.00041", 4, "0.0023135"),  # next funding 4h after
        },
        index_price=None,
        tickers={
            BTC_SPOT: Touch("84251.9", "84252", d("437651234.8712")),  # volCcy24h: USDT
            # Perpetuals: volCcy24h is in coins (vol24h counts contracts).
            BTC_PERP: Touch("84283.4", "84283.5", d("23456.78") * d("84283.5")),
            "ETH/USDT:USDT": Touch("2216.26", "2216.27", d("310020.05") * d("2216.26")),
        },
        perp_bids=(("84283.4", "0.031"), ("84283.3", "0.4")),  # 3.1 and 40 contracts
        perp_asks=(("84283.5", "1.204"), ("84283.6", "0.51")),
        book_ms=1772351699770,
        paths={
            "time": "/api/v5/public/time",
            "markets": "/api/v5/public/instruments",
            "funding": "/api/v5/public/funding-rate",
            "tickers": "/api/v5/market/tickers",
            "book": "/api/v5/market/books",
            "history": "/api/v5/public/funding-rate-history",
        },
        history=(
            (MIDNIGHT - 16 * HOUR_MS, "0.0001"),
            (MIDNIGHT - 8 * HOUR_MS, "0.0000921"),
            (MIDNIGHT, "0.0001"),
        ),  # realizedRate
        four_hour_history="HMSTR/USDT:USDT",
        spot_buy_price="84252.36",  # 0.02 @ 84252 + 0.03 @ 84252.6
        perp_sell_price="84283.362",  # 0.031 @ 84283.4 + 0.019 @ 84283.3
    ),
}


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, Recorded]]:
    with serve("bybit") as bybit, serve("okx") as okx:
        yield {"bybit": bybit, "okx": okx}


@pytest.fixture(params=sorted(VENUES))
def server(request: pytest.FixtureRequest, servers: dict[str, Recorded]) -> Recorded:
    recorded = servers[request.param]
    recorded.reset()
    return recorded


@pytest.fixture
def venue(server: Recorded) -> Venue:
    return VENUES[server.exchange]


class Connect:
    """CcxtMarkets on the recorded server, over state files in tmp_path; closes them after."""

    def __init__(self, server: Recorded, tmp_path: Path) -> None:
        self.server = server
        self.db = tmp_path / "state.db"
        self.stores: list[Store] = []

    def __call__(self, *, retries: int = 0) -> CcxtMarket:
        exchange = build_exchange(self.server.exchange, url=self.server.url)
        # ccxt paces requests by each endpoint's weight (100 ms each on both): nothing to
        # spare here, and it would make every test take seconds.
        exchange.enableRateLimit = False
        store = Store.open(self.db)
        self.stores.append(store)
        caller = Caller(exchange, retries=retries, sleep=lambda _: None)
        return CcxtMarket(caller, store, cache_key=self.server.exchange, markets_ttl_ms=3_600_000)

    def close(self) -> None:
        for store in self.stores:
            store.close()


@pytest.fixture
def connect(server: Recorded, tmp_path: Path) -> Iterator[Connect]:
    c = Connect(server, tmp_path)
    yield c
    c.close()


@pytest.fixture
def market(connect: Connect) -> CcxtMarket:
    return connect()


def error_body(server: Recorded, name: str) -> object:
    return json.loads((RECORDED / server.exchange / f"{name}.json").read_text())


# -- markets -------------------------------------------------------------------------------


def test_markets_are_usdt_perpetuals_and_their_spot_pairs(
    market: CcxtMarket, venue: Venue, server: Recorded
) -> None:
    markets = market.markets()
    perps = {s for s, m in markets.items() if m.type is MarketType.PERP}
    spots = {s for s, m in markets.items() if m.type is MarketType.SPOT}
    assert perps == venue.perps
    assert spots == venue.spots
    assert not venue.dropped & set(markets)
    if venue.no_spot is not None:
        assert venue.no_spot in perps and markets[venue.no_spot].spot_symbol not in spots
    if venue.in_units is not None:
        perp, spot, unit = venue.in_units
        assert (markets[perp].spot_symbol, markets[perp].coins_per_unit) == (spot, unit)
    for symbol, m in markets.items():
        assert m.quote == "USDT" and m.symbol == symbol
        assert m.amount_step > 0 and m.price_step > 0 and m.min_amount >= m.amount_step
    assert market.name == server.exchange and market.simulated is False
    # The exchange's clock is measured first, then the market list is read.
    assert server.paths()[0] == venue.paths["time"]
    assert server.count(venue.paths["markets"]) >= 2


def test_market_rules_are_in_coins(market: CcxtMarket, venue: Venue) -> None:
    markets = market.markets()
    for symbol, rules in venue.rules.items():
        m = markets[symbol]
        got = Rules(
            str(m.amount_step),
            str(m.min_amount),
            str(m.price_step),
            str(m.taker_fee),
            str(m.min_notional),
        )
        assert tuple(d(x) for x in got) == tuple(d(x) for x in rules), symbol
    btc = markets[BTC_PERP]
    assert btc.max_leverage == venue.max_leverage
    assert btc.maintenance_margin_rate == Decimal("0.5") / venue.max_leverage
    assert markets[BTC_SPOT].max_leverage == 1 and markets[BTC_SPOT].maintenance_margin_rate == 0


# -- funding -------------------------------------------------------------------------------


def test_funding_quotes_of_every_perpetual(market: CcxtMarket, venue: Venue) -> None:
    quotes = market.funding_quotes()
    assert set(quotes) == venue.perps  # the perpetual without a spot market included
    for symbol, want in venue.quotes.items():
        q = quotes[symbol]
        assert (q.symbol, q.rate, q.interval_hours, q.next_funding_ms, q.mark_price) == (
            symbol,
            d(want.rate),
            want.hours,
            NEXT_FUNDING,
            d(want.mark),
        ), symbol
    btc = quotes[BTC_PERP]
    assert btc.index_price == d(venue.index_price or venue.quotes[BTC_PERP].mark)


def test_funding_quote_of_one_perpetual(market: CcxtMarket, venue: Venue) -> None:
    q = market.funding_quote(BTC_PERP)
    want = venue.quotes[BTC_PERP]
    assert (q.rate, q.interval_hours, q.next_funding_ms, q.mark_price) == (
        d(want.rate),
        want.hours,
        NEXT_FUNDING,
        d(want.mark),
    )
    four_hours = market.funding_quote(venue.four_hour_history)
    assert four_hours.interval_hours == 4


def test_funding_history_is_settlements_in_the_window_oldest_first(
    market: CcxtMarket, venue: Venue, server: Recorded
) -> None:
    since, until = MIDNIGHT - 24 * HOUR_MS, MIDNIGHT
    history = market.funding_history(BTC_PERP, since, until)
    # The recorded answer also holds the settlement at `since` and one before it.
    assert [(s.time_ms, s.rate) for s in history] == [(t, d(r)) for t, r in venue.history]
    assert all(s.symbol == BTC_PERP and s.interval_hours == 8 for s in history)
    # Neither exchange's history carries a mark price: the current one stands in.
    assert {s.mark_price for s in history} == {d(venue.quotes[BTC_PERP].mark)}
    assert server.count(venue.paths["history"]) == 1
    assert market.funding_history(BTC_PERP, until, until + HOUR_MS) == []


def test_funding_history_carries_the_symbols_interval(market: CcxtMarket, venue: Venue) -> None:
    symbol = venue.four_hour_history
    history = market.funding_history(symbol, MIDNIGHT - 12 * HOUR_MS, MIDNIGHT + 4 * HOUR_MS)
    assert [s.time_ms for s in history] == [MIDNIGHT + h * HOUR_MS for h in (-8, -4, 0, 4)]
    assert {s.interval_hours for s in history} == {4}


# -- prices --------------------------------------------------------------------------------


def test_tickers_of_spot_and_perpetuals(market: CcxtMarket, venue: Venue, server: Recorded) -> None:
    tickers = market.tickers()
    assert set(tickers) == venue.perps | venue.spots
    for symbol, want in venue.tickers.items():
        t = tickers[symbol]
        assert (t.bid, t.ask) == (d(want.bid), d(want.ask)), symbol
        assert t.quote_volume_24h == want.quote_volume, symbol
    for t in tickers.values():
        assert 0 < t.bid < t.ask and t.bid <= t.last <= t.ask * Decimal("1.001")
    # One bulk request per market type.
    assert server.count(venue.paths["tickers"]) == 2


def test_order_books_in_coins(market: CcxtMarket, venue: Venue) -> None:
    book = market.order_book(BTC_PERP)
    assert book.symbol == BTC_PERP and book.timestamp_ms == venue.book_ms
    assert book.bids[:2] == tuple((d(p), d(a)) for p, a in venue.perp_bids)
    assert book.asks[:2] == tuple((d(p), d(a)) for p, a in venue.perp_asks)
    assert len(book.bids) == len(book.asks) == 5
    assert all(a[0] > b[0] for a, b in zip(book.bids, book.bids[1:], strict=False))
    assert book.bids[0][0] < book.asks[0][0]
    spot = market.order_book(BTC_SPOT)
    assert spot.bids[0][0] < spot.asks[0][0] and spot.asks[0][1] == Decimal("0.02")


# -- scan ------------------------------------------------------------------------------------


def test_snapshot_rows(market: CcxtMarket, venue: Venue) -> None:
    rows = snapshot_rows(market.markets(), market.funding_quotes(), market.tickers())
    by_symbol = {r.perp_symbol: r for r in rows}
    assert set(by_symbol) == venue.perps
    if venue.no_spot is not None:
        lonely = by_symbol[venue.no_spot]
        assert lonely.spot_symbol is None and lonely.spot_bid is None
        assert lonely.spot_taker_fee is None
        assert lonely.interval_hours == venue.quotes[venue.no_spot].hours
    if venue.in_units is not None:
        perp, spot, _ = venue.in_units
        row = by_symbol[perp]
        # Both legs priced per coin: the perp's 1000-coin price divided by 1000.
        assert row.spot_symbol == spot and row.spot_bid is not None
        assert (row.perp_bid, row.perp_ask) == (
            d(venue.tickers[perp].bid),
            d(venue.tickers[perp].ask),
        )
        assert abs(row.perp_bid / row.spot_bid - 1) < Decimal("0.01")
    btc = by_symbol[BTC_PERP]
    assert btc.spot_symbol == BTC_SPOT
    assert (btc.spot_bid, btc.spot_ask) == (
        d(venue.tickers[BTC_SPOT].bid),
        d(venue.tickers[BTC_SPOT].ask),
    )
    assert (btc.perp_bid, btc.perp_ask) == (
        d(venue.tickers[BTC_PERP].bid),
        d(venue.tickers[BTC_PERP].ask),
    )
    assert btc.funding_rate == d(venue.quotes[BTC_PERP].rate)
    assert btc.quote_volume_24h == min(
        venue.tickers[BTC_SPOT].quote_volume, venue.tickers[BTC_PERP].quote_volume
    )
    assert btc.perp_taker_fee == d(venue.rules[BTC_PERP].taker_fee)
    assert btc.spot_taker_fee == d(venue.rules[BTC_SPOT].taker_fee)


# -- paper trading ---------------------------------------------------------------------------


def test_paper_trade_fills_against_the_recorded_books(market: CcxtMarket, venue: Venue) -> None:
    paper = PaperExecutor(market, market.store, starting_balance=d("10000"), leverage=3)
    amount = d("0.05")
    buy = paper.submit(OrderRequest("t-spot", BTC_SPOT, MarketType.SPOT, Side.BUY, amount))
    sell = paper.submit(OrderRequest("t-perp", BTC_PERP, MarketType.PERP, Side.SELL, amount))

    assert (buy.status, buy.filled, buy.average_price) == (
        OrderStatus.FILLED,
        amount,
        d(venue.spot_buy_price),
    )
    spot_fee = d(venue.rules[BTC_SPOT].taker_fee)
    assert (buy.fee, buy.fee_currency) == (amount * spot_fee, "BTC")  # taken in the coin bought

    assert (sell.status, sell.filled, sell.average_price) == (
        OrderStatus.FILLED,
        amount,
        d(venue.perp_sell_price),
    )
    perp_fee = d(venue.rules[BTC_PERP].taker_fee)
    assert (sell.fee, sell.fee_currency) == (sell.cost * perp_fee, "USDT")
    # The book is the exchange's, the clock too: the recorded 07:55, give or take this test.
    assert abs(sell.timestamp_ms - (NEXT_FUNDING - 5 * 60_000)) < 60_000

    spent = buy.cost + sell.cost / 3 + sell.fee
    assert paper.free_quote() == d("10000") - spent
    assert paper.account.balance("BTC") == amount - buy.fee
    # Idempotent per client order id: the same order is not traded twice.
    again = paper.submit(OrderRequest("t-perp", BTC_PERP, MarketType.PERP, Side.SELL, amount))
    assert again == sell and paper.free_quote() == d("10000") - spent


def test_paper_short_margin_reads_the_mark_price(market: CcxtMarket, venue: Venue) -> None:
    paper = PaperExecutor(market, market.store, starting_balance=d("10000"), leverage=3)
    amount = d("0.05")
    sell = paper.submit(OrderRequest("t-perp", BTC_PERP, MarketType.PERP, Side.SELL, amount))
    margin = paper.perp_margin(BTC_PERP)
    assert margin is not None
    assert (margin.amount, margin.entry_price, margin.margin) == (
        amount,
        sell.average_price,
        sell.cost / 3,
    )
    assert margin.mark_price == d(venue.quotes[BTC_PERP].mark)
    assert 0 < margin.ratio < Decimal("0.1")


# -- the markets cache ------------------------------------------------------------------------


def test_markets_are_cached_in_the_state_file(
    connect: Connect, venue: Venue, server: Recorded
) -> None:
    first = connect().markets()
    loads = server.count(venue.paths["markets"])
    assert loads >= 2

    again = connect()  # another process, same state file
    assert again.markets() == first
    assert server.count(venue.paths["markets"]) == loads
    # ccxt translates symbols (and OKX contracts) through the cached list alone.
    book = again.order_book(BTC_PERP)
    assert book.bids[0] == (d(venue.perp_bids[0][0]), d(venue.perp_bids[0][1]))
    assert set(again.tickers()) == venue.perps | venue.spots
    assert server.count(venue.paths["markets"]) == loads


# -- errors -------------------------------------------------------------------------------------


def test_rate_limit_answer_is_a_temporary_venue_error(
    market: CcxtMarket, venue: Venue, server: Recorded
) -> None:
    market.markets()
    # Bybit answers HTTP 200 with retCode 10006; OKX HTTP 429 with code 50011.
    status = 200 if server.exchange == "bybit" else 429
    server.fail(venue.paths["book"], status, error_body(server, "error-rate-limit"))
    with pytest.raises(VenueError) as caught:
        market.order_book(BTC_PERP)
    assert caught.value.temporary is True and caught.value.kind == "network"


def test_rate_limit_is_retried(connect: Connect, venue: Venue, server: Recorded) -> None:
    market = connect(retries=2)
    market.markets()
    status = 200 if server.exchange == "bybit" else 429
    server.fail(venue.paths["book"], status, error_body(server, "error-rate-limit"))
    book = market.order_book(BTC_PERP)
    assert book.bids[0][0] == d(venue.perp_bids[0][0])
    assert server.count(venue.paths["book"]) == 2


def test_exchange_refusing_a_symbol_is_a_lasting_error_and_expires_the_markets(
    connect: Connect, venue: Venue, server: Recorded
) -> None:
    market = connect()
    market.markets()
    loads = server.count(venue.paths["markets"])
    # Bybit: retCode 10001 "Not supported symbols"; OKX: HTTP 400, code 51001 "Instrument ID
    # does not exist". What either says of a symbol delisted since the list was cached.
    status = 200 if server.exchange == "bybit" else 400
    server.fail(venue.paths["book"], status, error_body(server, "error-bad-symbol"))
    with pytest.raises(VenueError) as caught:
        market.order_book(BTC_PERP)
    assert caught.value.temporary is False and caught.value.kind == "bad_symbol"
    assert server.count(venue.paths["book"]) == 1  # not retried
    # The cached list is stale: the next process reads it afresh.
    assert BTC_PERP in connect().markets()
    assert server.count(venue.paths["markets"]) == 2 * loads


def test_unknown_symbols_are_refused_without_asking(
    market: CcxtMarket, venue: Venue, server: Recorded
) -> None:
    market.markets()
    asked = len(server.requests)
    with pytest.raises(KeyError):
        market.order_book("XRP/USDT")
    with pytest.raises(KeyError):
        market.funding_quote("XRP/USDT:USDT")
    with pytest.raises(KeyError):
        market.funding_quote(BTC_SPOT)  # a spot market has no funding
    with pytest.raises(KeyError):
        market.funding_quote("BTC/USDT:USDT-260327")  # dated: not in fra's markets
    with pytest.raises(KeyError):
        market.funding_history("XRP/USDT:USDT", 0, MIDNIGHT)
    assert len(server.requests) == asked


def test_recorded_server_names_what_it_has_not_recorded(market: CcxtMarket, venue: Venue) -> None:
    market.markets()
    with pytest.raises(VenueError, match="not recorded"):
        market.call("fetch_order_book", "ETH/USDT:USDT", 50)


# -- the CLI ------------------------------------------------------------------------------------


def test_fra_scan_json(fra: Fra, server: Recorded, venue: Venue) -> None:
    fra.set(FRA_VENUE=server.exchange, FRA_VENUE_URL=server.url)
    out = fra.json("scan")
    assert out["venue"] == f"{server.exchange} paper via {server.url}"
    assert out["perpetuals"] == len(venue.perps)
    rows = {r["symbol"]: r for r in out["rows"]}
    assert set(rows) == venue.perps
    if venue.no_spot is not None:
        lonely = rows[venue.no_spot]
        assert lonely["spot_symbol"] is None and lonely["spot_bid"] is None
        assert lonely["interval_hours"] == venue.quotes[venue.no_spot].hours
    if venue.in_units is not None:
        assert rows[venue.in_units[0]]["spot_symbol"] == venue.in_units[1]
    btc = rows[BTC_PERP]
    assert btc["spot_symbol"] == BTC_SPOT
    assert btc["next_funding"] == "2026-03-01T08:00:00Z"
    assert d(btc["funding_rate"]) == d(venue.quotes[BTC_PERP].rate)
    assert d(btc["mark_price"]) == d(venue.quotes[BTC_PERP].mark)
    assert (d(btc["spot_bid"]), d(btc["spot_ask"])) == (
        d(venue.tickers[BTC_SPOT].bid),
        d(venue.tickers[BTC_SPOT].ask),
    )
    assert (d(btc["perp_bid"]), d(btc["perp_ask"])) == (
        d(venue.tickers[BTC_PERP].bid),
        d(venue.tickers[BTC_PERP].ask),
    )
    stored = fra.query("SELECT COUNT(*) FROM snapshots")[0][0]
    assert stored == 1

    # A second scan reads the market list from the state file.
    loads = server.count(venue.paths["markets"])
    assert fra.json("scan")["perpetuals"] == len(venue.perps)
    assert server.count(venue.paths["markets"]) == loads
