"""Perpetuals counted in units of 1000 coins (`1000PEPEUSDT`), hedged with the coin's own spot
pair (`PEPEUSDT`), end to end on the local Binance emulator: the real CLI, real ccxt.

One unit of the perpetual is 1000 PEPE and is priced per 1000 PEPE. fra counts coins and prices
per coin everywhere, so every figure the exchange answers about the perpetual is converted at
the venue boundary. Each check below compares fra's books with what the exchange itself holds
or says, in its units: a factor-1000 slip anywhere (sizing, the delta check, prices and P&L,
funding, the margin ratio, a top-up, reconcile, history) breaks one of them by orders of
magnitude.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from conftest import T0, Fra, iso, legs

from fra.core.models import Market, MarketType, Ticker
from fra.core.scan import snapshot_rows
from fra.core.units import ONE, Hedge, hedge_for, unit_prefix
from fra.emulator import DEFAULT_API_KEY, DEFAULT_SECRET, BinanceEmulator
from fra.emulator.clock import EmulatorClock
from fra.engine.backtest import load
from fra.errors import ExitCode
from fra.store.db import Store
from fra.store.history import HistoryStore
from fra.venues.ccxt_market import CcxtMarket
from fra.venues.exchange import Caller, build_exchange
from fra.venues.simulated import parse_shock

PEPE = "1000PEPE/USDT:USDT"
PEPE_SPOT = "PEPE/USDT"
PEPE_ID = "1000PEPEUSDT"
UNIT = Decimal(1000)
HOUR_MS = 3_600_000
RALLY_AT = T0 + timedelta(hours=1)


def ms(offset: timedelta) -> int:
    return int((T0 + offset).timestamp() * 1000)


def make_emulator(*shocks: str) -> BinanceEmulator:
    clock = EmulatorClock.running_from(ms(timedelta(0)))
    hot = f"{PEPE}@{iso(T0)}:funding=0.0008:hours=72"
    return BinanceEmulator(clock=clock, shocks=[parse_shock(s) for s in (hot, *shocks)])


@pytest.fixture
def emulator() -> Iterator[BinanceEmulator]:
    with make_emulator() as emu:
        yield emu


@pytest.fixture
def frozen() -> Iterator[BinanceEmulator]:
    """Public data only: a clock that stands still, so fra and the test read the same book."""
    with BinanceEmulator(clock=EmulatorClock.frozen(ms(timedelta(0)))) as emu:
        yield emu


def on(fra: Fra, emu: BinanceEmulator, symbol: str = PEPE) -> Fra:
    # One position of about 1,000 USDT on the pair, whatever share of the equity that is.
    return fra.set(
        FRA_VENUE="binance",
        FRA_VENUE_URL=emu.url,
        FRA_VENUE_RETRIES="1",
        FRA_VENUE_TIMEOUT_SECONDS="5",
        FRA_STRATEGY__SYMBOLS=[symbol],
        FRA_RISK__MAX_POSITION_USD="1000",
        FRA_RISK__MAX_POSITION_FRACTION="1",
    )


def live(fra: Fra, emu: BinanceEmulator) -> Fra:
    return on(fra, emu).set(
        FRA_MODE="live",
        FRA_LIVE__CONFIRM="true",
        FRA_API_KEY=DEFAULT_API_KEY,
        FRA_API_SECRET=DEFAULT_SECRET,
    )


def fills(fra: Fra, leg: str, purpose: str) -> tuple[Decimal, Decimal]:
    """(coins, average price per coin) of one leg's fills for one purpose."""
    rows = fra.query(
        "SELECT filled, average_price FROM orders WHERE leg = ? AND purpose = ? AND filled != '0'",
        (leg, purpose),
    )
    coins = sum((Decimal(f) for f, _ in rows), Decimal(0))
    cost = sum((Decimal(f) * Decimal(p) for f, p in rows), Decimal(0))
    return coins, cost / coins


def unit_mark(emu: BinanceEmulator) -> Decimal:
    """The exchange's mark price of the perpetual, per unit of 1000 coins."""
    return emu.market.funding_quote(PEPE).mark_price


def exchange_short(emu: BinanceEmulator) -> Any:
    """The exchange's own position record, in units (negative: short)."""
    return emu.account.position(emu.catalog.listing("futures", PEPE_ID))


def exchange_coins(emu: BinanceEmulator, coin: str = "PEPE") -> Decimal:
    return next((f for asset, f, _ in emu.account.spot_balances() if asset == coin), Decimal(0))


def near(a: Decimal, b: Decimal, tolerance: str = "0.01") -> bool:
    return abs(a - b) <= abs(b) * Decimal(tolerance)


# -- which spot pair hedges which perpetual ---------------------------------------------------


def test_unit_prefixes_and_the_spot_pair_that_hedges() -> None:
    assert unit_prefix("1000PEPE") == ("PEPE", Decimal(1000))
    assert unit_prefix("1000000MOG") == ("MOG", Decimal(1_000_000))
    assert unit_prefix("1MBABYDOGE") == ("BABYDOGE", Decimal(1_000_000))
    for not_a_unit in ("1INCH", "BTC", "1000", "100PEPE", "1000pepe", "10001X"):
        assert unit_prefix(not_a_unit) is None, not_a_unit
    spots = {"PEPE/USDT", "1000SATS/USDT", "SATS/USDT", "BABYDOGE/USDT", "1INCH/USDT"}
    assert hedge_for("1000PEPE", "USDT", spots) == Hedge("PEPE/USDT", UNIT)
    # Where the venue lists the prefixed coin as a spot pair, it hedges itself.
    assert hedge_for("1000SATS", "USDT", spots) == Hedge("1000SATS/USDT", ONE)
    assert hedge_for("1MBABYDOGE", "USDT", spots) == Hedge("BABYDOGE/USDT", Decimal(1_000_000))
    assert hedge_for("1INCH", "USDT", spots) == Hedge("1INCH/USDT", ONE)
    # Neither listed: its own name, which the scan then reports as without a spot market.
    assert hedge_for("1000RATS", "USDT", spots) == Hedge("1000RATS/USDT", ONE)


def test_a_perpetual_whose_price_per_coin_is_off_is_not_taken_for_a_hedge() -> None:
    """The scan's guard against a unit misread or a coin of another name: per coin, the two
    prices must agree within a factor of two."""
    d = Decimal
    perp = Market(
        PEPE, MarketType.PERP, "1000PEPE", "USDT", d(100_000), d(100_000), d(5), d("1E-10"),
        d("0.0005"), d("0.0002"), hedge_symbol=PEPE_SPOT, coins_per_unit=UNIT,
    )  # fmt: skip
    spot = Market(
        PEPE_SPOT, MarketType.SPOT, "PEPE", "USDT", d(1), d(1), d(5), d("1E-8"), d("0.001"),
        d("0.001"),
    )  # fmt: skip
    from fra.core.models import FundingQuote

    quote = FundingQuote(PEPE, d("0.0001"), 8, 0, d("0.0000045"), d("0.0000045"))
    spot_t = Ticker(PEPE_SPOT, d("0.0000045"), d("0.0000046"), d("0.0000045"), d(10**8))
    per_coin = Ticker(PEPE, d("0.0000045"), d("0.0000046"), d("0.0000045"), d(10**8))
    per_unit = Ticker(PEPE, d("0.0045"), d("0.0046"), d("0.0045"), d(10**8))
    markets = {PEPE: perp, PEPE_SPOT: spot}
    tickers = {PEPE_SPOT: spot_t}
    [row] = snapshot_rows(markets, {PEPE: quote}, {**tickers, PEPE: per_coin})
    assert row.spot_symbol == PEPE_SPOT
    [row] = snapshot_rows(markets, {PEPE: quote}, {**tickers, PEPE: per_unit})
    assert row.spot_symbol is None and row.spot_bid is None


def test_scan_pairs_each_perpetual_as_binance_lists_its_spot(
    fra: Fra, frozen: BinanceEmulator
) -> None:
    rows = {r["symbol"]: r for r in on(fra, frozen).json("scan")["rows"]}
    pairs = {
        PEPE: PEPE_SPOT,
        "1000SHIB/USDT:USDT": "SHIB/USDT",
        "1000BONK/USDT:USDT": "BONK/USDT",
        "1000FLOKI/USDT:USDT": "FLOKI/USDT",
        "1000LUNC/USDT:USDT": "LUNC/USDT",
        "1000XEC/USDT:USDT": "XEC/USDT",
        # Binance's spot coin is 1000SATS (1MBABYDOGE) itself: no unit to convert.
        "1000SATS/USDT:USDT": "1000SATS/USDT",
        "1MBABYDOGE/USDT:USDT": "1MBABYDOGE/USDT",
        "1INCH/USDT:USDT": "1INCH/USDT",
        "1000RATS/USDT:USDT": None,  # no spot pair of either name
        "BSW/USDT:USDT": None,  # its spot pair is in BREAK
    }
    assert {s: rows[s]["spot_symbol"] for s in pairs} == pairs
    for perp, spot in pairs.items():
        if spot is None:
            continue
        row = rows[perp]
        # Per coin on both legs: the touch and the mark agree with the spot's within a percent.
        for price in (row["perp_bid"], row["perp_ask"], row["mark_price"]):
            assert near(Decimal(price), Decimal(row["spot_bid"])), (perp, row)
    # The book, level by level: the exchange's units as coins, its prices per coin.
    store = Store.open(fra.workdir / "book.db")
    try:
        exchange = build_exchange("binance", url=frozen.url)
        market = CcxtMarket(Caller(exchange, retries=0), store, cache_key="b", markets_ttl_ms=1)
        book = market.order_book(PEPE, 5)
        units = frozen.market.order_book(PEPE, 5)
    finally:
        store.close()
    for got, sent in ((book.bids, units.bids), (book.asks, units.asks)):
        assert got == tuple((price / UNIT, amount * UNIT) for price, amount in sent)
    # What fra must leave alone: symbols that do not trade, other margins, dated contracts.
    for absent in ("ALPACA/USDT:USDT", "NIGHT/USDT:USDT", "BTC/USDC:USDC", "1000PEPE/USDC:USDC"):
        assert absent not in rows
    assert all(s.endswith("/USDT:USDT") for s in rows)


# -- paper: open, funding, margin, close ------------------------------------------------------


def test_paper_opens_earns_funding_and_closes_the_1000_unit_perpetual_hedged(
    fra: Fra, emulator: BinanceEmulator
) -> None:
    paper = on(fra, emulator)
    paper("run-cycle")
    [position] = paper.json("status")["positions"]
    assert (position["symbol"], position["spot_symbol"]) == (PEPE, PEPE_SPOT)

    # Sizing and the delta check, in coins: hundreds of millions of PEPE on both legs, the
    # short a whole number of the exchange's 100-unit steps, and worth about 1,000 USDT.
    spot, short = legs(paper)
    assert short % (100 * UNIT) == 0 and short > 100_000_000
    assert spot >= short and (spot - short) / short <= Decimal("0.01")
    _, spot_price = fills(paper, "spot", "open")
    perp_coins, perp_price = fills(paper, "perp", "open")
    assert near(perp_price, spot_price) and near(perp_price, unit_mark(emulator) / UNIT)
    assert 900 < perp_coins * perp_price <= 1000
    # Shown with the digits a price per coin needs (0.0000045..., not 0.0000).
    assert f"{spot_price:.8f}" in paper("positions").stdout

    # The margin ratio: the mark per coin, and a ratio a 3x short has, not a liquidation.
    [leg] = paper.json("margin-check")["legs"]
    assert near(Decimal(leg["mark_price"]), spot_price)
    assert 0 < Decimal(leg["ratio"]) < Decimal("0.1")

    # Funding: each settlement pays the short coins x mark per coin x rate, which is the
    # exchange's units x mark per unit x rate.
    opened = ms(timedelta(0))
    emulator.clock.advance(9 * HOUR_MS)
    paper("run-cycle")
    settled = emulator.market.funding_history(PEPE, opened, emulator.clock.now_ms())
    assert settled
    paid = paper.query("SELECT time_ms, amount, mark_price, position_amount FROM funding_payments")
    assert [t for t, *_ in paid] == [s.time_ms for s in settled]
    for (_, amount, mark, held), s in zip(paid, settled, strict=True):
        assert Decimal(held) == short and Decimal(mark) == s.mark_price / UNIT
        assert Decimal(amount) == (short / UNIT) * s.mark_price * s.rate
    assert Decimal(paper.json("positions")[0]["funding"]) > 0

    # Closing: both legs back to nothing but spot dust, and P&L a few dollars, not millions.
    paper("close", "1")
    [closed] = paper.json("positions", "--state", "closed")
    assert closed["state"] == "closed"
    spot_left, short_left = legs(paper)
    assert short_left == 0 and 0 <= spot_left < 1  # below the spot step of 1 PEPE
    notional = perp_coins * perp_price
    assert abs(Decimal(closed["net_pnl"])) < notional * Decimal("0.02")
    assert abs(Decimal(closed["perp_pnl"]) + Decimal(closed["spot_pnl"])) < notional / 100


# -- live: orders in units, books in coins -----------------------------------------------------


def test_live_orders_go_in_units_and_every_answer_comes_back_in_coins(fra: Fra) -> None:
    rally = f"{PEPE}@{iso(RALLY_AT)}:price=+40%:hours=24"
    with make_emulator(rally) as emu:
        trader = live(fra, emu)
        trader("run-cycle")

        # Sizing: the exchange holds the short in units, exactly fra's coins / 1000, and the
        # spot coins that cover it.
        spot, short = legs(trader)
        held = exchange_short(emu)
        assert held.amount == -short / UNIT
        assert exchange_coins(emu) == spot >= short
        sent = [r.query for r in emu.requests if r.path == "/fapi/v1/order" and r.method == "POST"]
        assert len(sent) == 1 and f"quantity={(short / UNIT).normalize():f}&" in sent[0] + "&"
        # Prices per coin: the fill, the entry price the exchange books per unit / 1000.
        perp_coins, perp_price = fills(trader, "perp", "open")
        assert perp_coins == short and perp_price == held.entry_price / UNIT

        # The margin ratio is the exchange's own, from its answer in units.
        [leg] = trader.json("margin-check")["legs"]
        view = emu.account.position_view(exchange_short(emu))
        assert near(Decimal(leg["margin_balance"]), view.isolated_margin, "0.001")
        assert near(Decimal(leg["maintenance_margin"]), view.maint_margin, "0.001")
        assert near(Decimal(leg["mark_price"]), view.mark_price / UNIT, "0.001")

        # Reconcile: the exchange's short and coins agree with the books, nothing to report.
        emu.clock.set(ms(timedelta(hours=2, minutes=50)))  # in the rally
        report = trader.json("run-cycle", code=None)
        assert report["reconciled"] == [], report["reconciled"]

        # Top-up: the rally raised the ratio past the trigger; fra added margin on the
        # exchange, sized from its ratio, and the exchange's ratio is back in the band.
        done = report["margin_actions"]
        assert done and all(a["kind"] == "add_margin" and a["state"] == "done" for a in done)
        added = sum(Decimal(a["amount"]) for a in done)
        assert 0 < added < perp_coins * perp_price  # a top-up, not a thousandfold one
        view = emu.account.position_view(exchange_short(emu))
        assert view.maint_margin / view.isolated_margin < Decimal("0.08")
        assert report["exit_code"] == ExitCode.OK

        # Funding as the exchange booked it, and the position it was paid on, in coins.
        emu.clock.set(ms(timedelta(hours=9)))  # past the 08:00 settlement
        assert trader.json("run-cycle", code=None)["reconciled"] == []
        incomes = [i for i in emu.account.incomes() if i.income_type == "FUNDING_FEE"]
        assert incomes
        paid = trader.query("SELECT amount, position_amount FROM funding_payments")
        assert sorted(Decimal(a) for a, _ in paid) == sorted(i.amount for i in incomes)
        for _, amount in paid:
            assert near(Decimal(amount), short, "0.001")

        # Closing buys the units back and sells the coins: nothing left on the exchange.
        trader("close", "--all")
        assert exchange_short(emu).amount == 0
        assert exchange_coins(emu) < 1
        [closed] = trader.json("positions", "--state", "closed")
        assert abs(Decimal(closed["spot_pnl"]) + Decimal(closed["perp_pnl"])) < Decimal(20)


# -- history: a perpetual's bars are compared with its coin's, per coin -----------------------


def test_history_pairs_the_1000_unit_perpetual_with_its_coins_bars(
    fra: Fra, emulator: BinanceEmulator
) -> None:
    emulator.clock.set(ms(timedelta(days=30)))
    paper = on(fra, emulator)
    fetched = paper.json(
        "history", "fetch", "--exchange", "binance", "--since", "2026-03-02", "--symbols",
        PEPE_ID,
    )  # fmt: skip
    assert fetched["symbols"] == [PEPE]
    listed = {(s["symbol"], s["kind"]) for s in paper.json("history", "list")}
    # Stored as the exchange serves them: the perpetual's bars per unit, PEPE's per coin.
    assert {(PEPE, "funding"), (PEPE, "bars"), (PEPE_SPOT, "bars")} <= listed

    store = HistoryStore.open(fra.workdir / "history.db")
    try:
        since, until = ms(timedelta(days=2)), ms(timedelta(days=29))
        [series], _ = load(store, "binance", [PEPE], since, until)
    finally:
        store.close()
    assert series.spot_symbol == PEPE_SPOT
    spot_close = {b.open_time_ms: b.close for b in series.spot_bars}
    compared = [(b.close, spot_close[b.open_time_ms]) for b in series.perp_bars]
    assert len(compared) > 60
    assert all(near(perp, spot, "0.02") for perp, spot in compared)
    marks = [s.mark_price for s in series.settlements if s.mark_price]
    assert marks and all(m < Decimal("0.001") for m in marks)  # per coin, not per 1000

    report = paper.json(
        "backtest", "--exchange", "binance", "--symbols", PEPE, "--from", "2026-03-03",
        "--to", "2026-03-30",
    )  # fmt: skip
    assert not any("liquidat" in e for e in report["events"]), report["events"]


def test_paper_trades_a_prefixed_spot_pair_as_itself_and_a_derived_1000_unit_pair_per_coin(
    fra: Fra,
) -> None:
    """1000SATS is a spot coin of its own on Binance: its perpetual is hedged 1:1 with
    1000SATSUSDT, no conversion. 1000FLOKI (a market the emulator prices off DOGE's) is hedged
    with FLOKIUSDT, per coin like 1000PEPE."""
    hot = [f"{s}@{iso(T0)}:funding=0.0008:hours=72" for s in ("ORDI/USDT:USDT", "DOGE/USDT:USDT")]
    with make_emulator(*hot) as emu:
        paper = on(fra, emu).set(
            FRA_STRATEGY__SYMBOLS=["1000SATS/USDT:USDT", "1000FLOKI/USDT:USDT"],
            FRA_STRATEGY__MIN_VOLUME_USD="1000000",
        )
        for symbol in ("1000SATS/USDT:USDT", "1000FLOKI/USDT:USDT"):
            paper("open", symbol, "--size", "300")
        sats, floki = paper.json("positions")
        assert (sats["symbol"], sats["spot_symbol"]) == ("1000SATS/USDT:USDT", "1000SATS/USDT")
        assert (floki["symbol"], floki["spot_symbol"]) == ("1000FLOKI/USDT:USDT", "FLOKI/USDT")
        books = {
            symbol: emu.market.order_book(symbol, 1)
            for symbol in ("1000SATS/USDT:USDT", "1000FLOKI/USDT:USDT")
        }
        for position, unit in ((sats, ONE), (floki, UNIT)):
            spot, short = legs(paper, position["id"])
            assert spot >= short and (spot - short) / short <= Decimal("0.01")
            perp_price = Decimal(position["perp_entry_price"])
            assert near(perp_price, Decimal(position["spot_entry_price"]))
            # The exchange's book, per its own unit: 1000SATS's as is, 1000FLOKI's / 1000.
            touch = books[position["symbol"]].bids[0][0] / unit
            assert near(perp_price, touch), (position["symbol"], perp_price, touch)
            assert 250 < short * perp_price <= 300
        paper("close", "--all")
        for position in paper.json("positions", "--state", "closed"):
            notional = Decimal(position["perp_amount"]) * Decimal(position["perp_entry_price"])
            assert abs(Decimal(position["net_pnl"])) < notional * Decimal("0.02"), position
