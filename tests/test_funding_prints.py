"""The settled funding prints kept in state.db: backfilled once per symbol, then brought up to
date by one bulk request per cycle, and the forecast computed from them exactly as from the
venue's own history."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import T0, Fra, iso

from fra.app import App, open_app
from fra.core.forecast import Print, forecast, rate_8h, track
from fra.core.models import HOUR_MS, MarketType
from fra.core.ranking import Signal
from fra.emulator import BinanceEmulator, Fault
from fra.emulator.clock import EmulatorClock
from fra.emulator.listings import listed_market
from fra.engine.market import scan
from fra.engine.signals import signals
from fra.errors import ExitCode
from fra.settings import load_settings
from fra.store.prints import FundingPrints
from fra.venues.base import VenueError
from fra.venues.simulated import SimulatedMarket

ETH, BTC, SOL = "ETH/USDT:USDT", "BTC/USDT:USDT", "SOL/USDT:USDT"
T0_MS = int(T0.timestamp() * 1000)
MINUTE_MS = 60_000
# A short half-life keeps the lookback (10 half-lives) and so the tests small: 10 days.
HALF_LIFE = 24
LOOKBACK_MS = 10 * HALF_LIFE * HOUR_MS
HISTORY = "/fapi/v1/fundingRate"


# -- helpers ------------------------------------------------------------------------------------


@contextmanager
def sim_app(tmp_path: Path, now: datetime, **strategy: Any) -> Iterator[App]:
    """The engine on the simulated market at a pinned time, over tmp_path's state.db."""
    settings = load_settings(
        db=tmp_path / "state.db",
        venue="simulated",
        sim={"now": iso(now)},
        strategy={"forecast_half_life_hours": HALF_LIFE, "min_volume_usd": "0", **strategy},
    )
    with open_app(settings) as app:
        yield app


def expected_signal(app: App, symbol: str) -> Signal:
    """The forecast as signals() computed it before prints were kept: the lookback read from
    the venue's history, then track() and forecast()."""
    s = app.settings.strategy
    params = s.forecast_params()
    now = app.now_ms()
    history = app.market.funding_history(symbol, now - params.lookback_ms(), now)
    tracker = track(
        (Print(h.time_ms, h.rate, h.interval_hours) for h in history),
        params.half_life_hours,
        s.stop_funding_rate,
    )
    quote = app.market.funding_quote(symbol)
    predicted = rate_8h(quote.rate, quote.interval_hours) if quote.rate is not None else None
    return Signal(forecast(tracker.mean, predicted, params), tracker.below_since_ms)


def stored(fra_db: Path, symbol: str) -> list[tuple[int, str]]:
    import sqlite3

    conn = sqlite3.connect(fra_db)
    try:
        return conn.execute(
            "SELECT time_ms, rate FROM funding_prints WHERE symbol = ? ORDER BY time_ms",
            (symbol,),
        ).fetchall()
    finally:
        conn.close()


class ListedMarket(SimulatedMarket):
    """The simulated market where some perpetuals were listed lately: nothing settled before."""

    def __init__(self, listed: dict[str, int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.listed = listed
        self.history_calls: list[str] = []

    def funding_history(self, symbol: str, since_ms: int, until_ms: int) -> list[Any]:
        self.history_calls.append(symbol)
        out = super().funding_history(symbol, since_ms, until_ms)
        return [s for s in out if s.time_ms >= self.listed.get(symbol, 0)]

    def recent_settlements(self, since_ms: int) -> list[Any] | None:
        calls = list(self.history_calls)
        out = super().recent_settlements(since_ms)  # through funding_history: listed only
        self.history_calls = calls  # which counts the per-symbol reads alone
        return out


class NoBulkMarket(ListedMarket):
    """...with no call for every perpetual's history at once, as Bybit and OKX."""

    def recent_settlements(self, since_ms: int) -> list[Any] | None:
        return None


class FailingMarket(ListedMarket):
    """...whose funding history times out after `answers` answers."""

    def __init__(self, answers: int, **kwargs: Any) -> None:
        super().__init__({}, **kwargs)
        self.answers = answers

    def funding_history(self, symbol: str, since_ms: int, until_ms: int) -> list[Any]:
        if len(self.history_calls) >= self.answers:
            raise VenueError(f"{symbol}: timed out", temporary=True, kind="network")
        return super().funding_history(symbol, since_ms, until_ms)


@pytest.fixture
def emulator() -> Iterator[BinanceEmulator]:
    with BinanceEmulator(clock=EmulatorClock.frozen(T0_MS + 30 * MINUTE_MS)) as emu:
        yield emu


@pytest.fixture
def paper(fra: Fra, emulator: BinanceEmulator) -> Fra:
    # No position is opened, so the paper account's own funding reads stay out of the counts.
    return fra.set(
        FRA_VENUE="binance",
        FRA_VENUE_URL=emulator.url,
        FRA_VENUE_RETRIES="1",
        FRA_VENUE_TIMEOUT_SECONDS="2",
        FRA_STRATEGY__SYMBOLS=[ETH, BTC],
        FRA_STRATEGY__FORECAST_HALF_LIFE_HOURS=str(HALF_LIFE),
        FRA_RISK__MAX_POSITIONS="0",
    )


def history_requests(emu: BinanceEmulator, since: int) -> tuple[list[str], list[str]]:
    """(bulk, per-symbol) funding-history requests since request number `since`."""
    new = [r for r in emu.requests[since:] if r.path == HISTORY]
    return (
        [r.query for r in new if "symbol=" not in r.query],
        [r.query for r in new if "symbol=" in r.query],
    )


# -- a cycle's requests -------------------------------------------------------------------------


def test_first_cycle_backfills_then_a_cycle_makes_one_bulk_request(
    paper: Fra, emulator: BinanceEmulator
) -> None:
    first = len(emulator.requests)
    paper("run-cycle")
    bulk, per_symbol = history_requests(emulator, first)
    assert bulk == [] and len(per_symbol) == 2, per_symbol
    eth = stored(paper.db, ETH)
    assert len(eth) == LOOKBACK_MS // (8 * HOUR_MS)  # every 8h print of the lookback
    assert len(stored(paper.db, BTC)) == len(eth)

    emulator.clock.advance(5 * MINUTE_MS)  # the next cron cycle
    second = len(emulator.requests)
    paper("run-cycle")
    bulk, per_symbol = history_requests(emulator, second)
    assert len(bulk) == 1 and per_symbol == [], (bulk, per_symbol)
    assert stored(paper.db, ETH) == eth

    emulator.clock.set(T0_MS + 8 * HOUR_MS + MINUTE_MS)  # a minute after the next settlement
    third = len(emulator.requests)
    paper("run-cycle")
    bulk, per_symbol = history_requests(emulator, third)
    assert len(bulk) == 1 and per_symbol == []
    after = stored(paper.db, ETH)
    assert after[:-1] == eth and after[-1][0] == T0_MS + 8 * HOUR_MS
    # Read so soon after it, that settlement is read again next time: it is stored once.
    emulator.clock.advance(5 * MINUTE_MS)
    fourth = len(emulator.requests)
    paper("run-cycle")
    [again] = history_requests(emulator, fourth)[0]
    assert int(again.split("startTime=")[1].split("&")[0]) <= T0_MS + 8 * HOUR_MS
    assert stored(paper.db, ETH) == after
    # The bulk answer holds every perpetual; only those fra reads are kept.
    assert paper.query("SELECT DISTINCT symbol FROM funding_prints ORDER BY symbol") == [
        (BTC,),
        (ETH,),
    ]


def test_binance_without_a_symbol_answers_every_perpetual_paged_by_start_time(
    emulator: BinanceEmulator, tmp_path: Path
) -> None:
    def get(query: str) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{emulator.url}{HISTORY}?{query}") as answer:
            return json.load(answer)

    # The last settlement, T0, of every perpetual trading (the USDC-margined ones too, not the
    # dated futures), by symbol; the latest `limit` without startTime, oldest first.
    at_t0 = get(f"startTime={T0_MS}&limit=1000")
    ids = [r["symbol"] for r in at_t0]
    assert {r["fundingTime"] for r in at_t0} == {T0_MS} and ids == sorted(ids)
    catalog = emulator.catalog
    trading = {
        one.id
        for one in catalog.listings("futures")
        if one.perpetual and catalog.status(one) == "TRADING"
    }
    assert "BTCUSDC" in ids and set(ids) == trading and not any("_" in i for i in ids)
    assert get("limit=5") == at_t0[-5:]

    from fra.store.db import Store
    from fra.venues.ccxt_market import CcxtMarket
    from fra.venues.exchange import Caller, build_exchange

    call = Caller(build_exchange("binance", url=emulator.url), retries=0)
    market = CcxtMarket(call, Store.open(tmp_path / "s.db"), cache_key="b", markets_ttl_ms=10**9)
    market.funding_quotes()
    since = T0_MS - 20 * 24 * HOUR_MS  # thousands of rows: pages that end mid-settlement
    before = len(emulator.requests)
    got = market.recent_settlements(since)
    pages = [r for r in emulator.requests[before:] if r.path == HISTORY]
    assert got is not None and len(pages) >= 3, len(pages)
    # fra's perpetuals, as the emulator prices them (its extra markets off the simulated ones).
    listed = listed_market(SimulatedMarket(7, clock=emulator.clock.now_ms))
    hours = {s: q.interval_hours for s, q in listed.funding_quotes().items()}
    perps = [s for s, m in market.markets().items() if m.type is MarketType.PERP]
    now = emulator.clock.now_ms()
    want = sorted(
        (s for perp in perps for s in listed.funding_history(perp, since, now)),
        key=lambda s: (s.time_ms, s.symbol),
    )
    assert [(s.symbol, s.time_ms, s.rate, s.interval_hours) for s in got] == [
        (s.symbol, s.time_ms, s.rate, hours[s.symbol]) for s in want
    ]


# -- one decision code --------------------------------------------------------------------------


def test_the_forecast_from_stored_prints_is_the_forecast_from_the_venues_history(
    tmp_path: Path,
) -> None:
    strategy = {"stop_funding_rate": "-0.0001", "predicted_weight": "0.2"}
    for at in (T0, T0 + timedelta(minutes=5), T0 + timedelta(hours=13), T0 + timedelta(days=4)):
        with sim_app(tmp_path, at, **strategy) as app:
            rows = scan(app).rows
            found = signals(app, rows)
            assert len(found) > 10 and any(f.below_stop_since_ms for f in found.values())
            for symbol, signal in found.items():
                assert signal == expected_signal(app, symbol), (at, symbol)


def test_the_forecast_through_binance_is_the_forecast_from_its_history(
    emulator: BinanceEmulator, tmp_path: Path
) -> None:
    settings = load_settings(
        db=tmp_path / "state.db",
        venue="binance",
        venue_url=emulator.url,
        strategy={"forecast_half_life_hours": HALF_LIFE, "symbols": [ETH, BTC, SOL]},
    )
    for _ in range(2):  # backfilled, then brought up to date by the bulk call
        with open_app(settings) as app:
            found = signals(app, scan(app).rows)
            assert set(found) == {ETH, BTC, SOL}
            for symbol, signal in found.items():
                assert signal == expected_signal(app, symbol)
        emulator.clock.advance(9 * HOUR_MS)


def test_without_a_bulk_call_a_symbol_is_read_again_once_it_settled(tmp_path: Path) -> None:
    symbols = [ETH, BTC]
    for at, reads in (
        (T0, symbols),  # backfilled
        (T0 + timedelta(minutes=5), []),  # nothing settled since
        (T0 + timedelta(hours=8, minutes=1), symbols),  # each settled once more
        (T0 + timedelta(hours=8, minutes=6), []),
    ):
        with sim_app(tmp_path, at, symbols=symbols) as app:
            app.market = market = NoBulkMarket({}, clock=app.clock)
            found = signals(app, scan(app).rows)
            assert sorted(market.history_calls) == sorted(reads), at
            for symbol in symbols:
                assert found[symbol] == expected_signal(app, symbol)


# -- pruning, new listings, venue errors --------------------------------------------------------


def test_prints_older_than_the_lookback_are_dropped(tmp_path: Path) -> None:
    with sim_app(tmp_path, T0, symbols=[ETH]) as app:
        signals(app, scan(app).rows)
    later = T0 + timedelta(days=20)
    with sim_app(tmp_path, later, symbols=[ETH]) as app:
        assert ETH in signals(app, scan(app).rows)
        prints = FundingPrints(app.store).prints([ETH], 0, app.now_ms())[ETH]
    # What T0's call stored is gone; the bulk read started at the lookback, not before.
    assert prints[0].time_ms > int(later.timestamp() * 1000) - LOOKBACK_MS
    assert len(prints) == LOOKBACK_MS // (8 * HOUR_MS)


def test_a_new_listing_waits_for_its_history_and_is_not_read_again(fra: Fra) -> None:
    listed = T0_MS - 10 * HOUR_MS  # two prints by T0: fewer than a forecast needs
    fra.set(
        FRA_STRATEGY__SYMBOLS=[ETH, SOL],
        FRA_STRATEGY__FORECAST_HALF_LIFE_HOURS=str(HALF_LIFE),
        FRA_STRATEGY__MIN_VOLUME_USD="0",
    )
    settings = load_settings(
        db=fra.db,
        venue="simulated",
        sim={"now": iso(T0)},
        strategy={"symbols": [ETH, SOL], "forecast_half_life_hours": HALF_LIFE},
    )
    with open_app(settings) as app:
        app.market = market = ListedMarket({SOL: listed}, clock=app.clock)
        assert set(signals(app, scan(app).rows)) == {ETH, SOL}
        assert signals(app, scan(app).rows)[SOL].forecast is None
        assert market.history_calls.count(SOL) == 1, "read once, not every cycle"
    assert len(stored(fra.db, SOL)) == 2
    # Ranked on what state.db holds: still too short a history, not read again.
    rows = {r["symbol"]: r for r in fra.json("rank")["rows"]}
    assert "short_history" in rows[SOL]["reasons"]
    assert "short_history" not in rows[ETH]["reasons"]
    assert len(stored(fra.db, SOL)) == 2


def test_a_venue_error_while_backfilling_keeps_what_was_stored(tmp_path: Path) -> None:
    symbols = [ETH, BTC, SOL]
    with sim_app(tmp_path, T0, symbols=symbols) as app:
        rows = scan(app).rows
        app.market = market = FailingMarket(1, clock=app.clock)
        with pytest.raises(VenueError):
            signals(app, rows)  # strict: run-cycle exits 5
        [(first, span)] = FundingPrints(app.store).spans().items()
        assert first == market.history_calls[0] and span.since_ms == app.now_ms() - LOOKBACK_MS
        book = FundingPrints(app.store).prints(symbols, 0, app.now_ms())
        assert [(p.time_ms, p.rate) for p in book[first]] == [
            (h.time_ms, h.rate)
            for h in SimulatedMarket(7, clock=app.clock).funding_history(
                first, span.since_ms, app.now_ms()
            )
        ]
        assert sum(map(len, book.values())) == len(book[first]), "nothing of the failed one"
        # `fra rank`: the error is logged, the forecasts come from what is stored.
        assert set(signals(app, rows, strict=False)) == {first}
        app.market = FailingMarket(99, clock=app.clock)
        assert set(signals(app, rows)) == set(symbols), "the next call finishes the backfill"


def test_run_cycle_exits_5_and_rank_still_ranks_when_the_history_fails(
    paper: Fra, emulator: BinanceEmulator
) -> None:
    paper("run-cycle", FRA_STRATEGY__SYMBOLS=json.dumps([ETH]))
    eth = stored(paper.db, ETH)
    emulator.clock.advance(5 * MINUTE_MS)
    # Two attempts (one retry) per call: the cycle's bulk read, then rank's.
    emulator.inject(Fault(HISTORY, "GET", "http_5xx", times=4))
    result = paper("run-cycle", code=ExitCode.VENUE)
    assert "did not answer" in result.stderr
    assert stored(paper.db, ETH) == eth and stored(paper.db, BTC) == []
    rows = {r["symbol"]: r for r in paper.json("rank")["rows"]}
    assert "short_history" in rows[BTC]["reasons"]
    assert "short_history" not in rows[ETH]["reasons"]
    paper("run-cycle")  # the venue is back: BTC is read
    assert len(stored(paper.db, BTC)) == len(eth) and stored(paper.db, ETH) == eth


class BulkFailingMarket(SimulatedMarket):
    """The simulated market whose every-perpetual history times out (one symbol's works)."""

    def recent_settlements(self, since_ms: int) -> list[Any] | None:
        raise VenueError("funding history: timed out", temporary=True, kind="network")


def test_exits_are_judged_on_stored_prints_when_the_history_fails(tmp_path: Path) -> None:
    """A venue failing to update the funding history stops the opens, not the exits: the
    cycle closes on what state.db holds, then exits 5."""
    from fra.engine.cycle import run_cycle
    from fra.errors import FraError

    # A long horizon and the venue's rate make ETH worth opening at once.
    with sim_app(
        tmp_path, T0, symbols=[ETH], min_funding_rate="0", exit_funding_rate="0",
        min_holding_periods=1000, predicted_weight="1",
    ) as app:  # fmt: skip
        assert run_cycle(app).opened == [f"1 {ETH} open"]
        app.market = BulkFailingMarket(7, clock=app.clock)
        strategy = app.settings.strategy.model_copy(
            update={"min_funding_rate": Decimal("0.01"), "exit_funding_rate": Decimal("0.01")}
        )
        app.settings = app.settings.model_copy(update={"strategy": strategy})
        with pytest.raises(FraError) as failed:
            run_cycle(app)
        assert failed.value.exit_code == ExitCode.VENUE
        [position] = app.store.positions()
        assert position.state.value == "closed" and "exit bar" in position.close_reason
