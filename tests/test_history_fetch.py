"""fra history fetch: from the Binance emulator through real ccxt, and from the simulated market;
resuming, interruptions, bad input; the emulator's klines; SimulatedMarket.bars."""

from __future__ import annotations

import hashlib
import json
import signal
import sqlite3
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from conftest import T0, Fra

from fra.core.history import Bar
from fra.emulator import BinanceEmulator, EmulatorClock, Fault
from fra.errors import ExitCode
from fra.venues.simulated import SimulatedMarket

HOUR_MS = 3_600_000
BAR_MS = 8 * HOUR_MS
NOW = T0 + timedelta(hours=5)  # inside the 00:00-08:00 bar: that bar is still open
NOW_MS = int(NOW.timestamp() * 1000)
SINCE = "2026-02-10"
SINCE_MS = int(datetime.fromisoformat(SINCE + "T00:00:00+00:00").timestamp() * 1000)
BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text + "T00:00:00+00:00").timestamp() * 1000)


def sim() -> SimulatedMarket:
    return SimulatedMarket(seed=7, clock=lambda: NOW_MS)


@pytest.fixture
def emulator() -> Iterator[BinanceEmulator]:
    with BinanceEmulator(clock=EmulatorClock.frozen(NOW_MS)) as emu:
        yield emu


@pytest.fixture
def binance(fra: Fra, emulator: BinanceEmulator) -> Fra:
    """`fra` pointed at the emulator the way a user would: FRA_VENUE_URL."""
    return fra.at(NOW).set(
        FRA_VENUE_URL=emulator.url, FRA_VENUE_RETRIES="1", FRA_VENUE_TIMEOUT_SECONDS="2"
    )


def fetch(fra: Fra, *args: str, code: int = 0) -> Any:
    return fra("history", "fetch", *args, code=code)


def fetch_json(fra: Fra, *args: str) -> Any:
    return fra.json("history", "fetch", *args)


def rows(fra: Fra, sql: str, params: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(fra.workdir / "history.db")
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def funding_rows(fra: Fra, exchange: str, symbol: str) -> list[tuple]:
    return [
        (t, Decimal(rate), hours, Decimal(mark) if mark else None)
        for t, rate, hours, mark in rows(
            fra,
            "SELECT time_ms, rate, interval_hours, mark_price FROM funding"
            " WHERE exchange = ? AND symbol = ? ORDER BY time_ms",
            (exchange, symbol),
        )
    ]


def bar_rows(fra: Fra, exchange: str, symbol: str) -> list[Bar]:
    return [
        Bar(exchange, symbol, t, *(Decimal(v) for v in values))
        for t, *values in rows(
            fra,
            "SELECT open_time_ms, open, high, low, close, volume FROM bars"
            " WHERE exchange = ? AND symbol = ? ORDER BY open_time_ms",
            (exchange, symbol),
        )
    ]


def history_hash(fra: Fra) -> str:
    digest = hashlib.sha256()
    for suffix in ("", "-wal"):
        path = Path(str(fra.workdir / "history.db") + suffix)
        if path.exists():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def served(emu: BinanceEmulator, since: int, path: str) -> list[dict[str, list[str]]]:
    """The query parameters of the requests to `path` from request number `since` on."""
    return [parse_qs(r.query) for r in emu.requests[since:] if r.path == path]


def expected_funding(symbol: str, since_ms: int, end_ms: int) -> list[tuple]:
    """The settlements in [since, end) as Binance's fundingRate endpoint carries them: no
    interval (history.db derives it from the spacing)."""
    return [
        (s.time_ms, s.rate, None, s.mark_price)
        for s in sim().funding_history(symbol, since_ms - 1, end_ms - 1)
    ]


def closed_bars(symbol: str, since_ms: int, exchange: str) -> list[Bar]:
    return [
        b._replace(exchange=exchange) for b in sim().bars(symbol, since_ms, NOW_MS - BAR_MS + 1)
    ]


# -- SimulatedMarket.bars ---------------------------------------------------------------------


def test_sim_bars_are_aligned_consecutive_and_contain_open_and_close() -> None:
    since, until = ms("2025-12-01") + 5, ms("2026-01-01")
    bars = sim().bars(BTC, since, until)
    assert bars == SimulatedMarket(seed=7, clock=lambda: 0).bars(BTC, since, until)
    assert bars[0].open_time_ms == ms("2025-12-01") + BAR_MS  # the first opening after since
    assert bars[-1].open_time_ms == until - BAR_MS
    assert all(b.open_time_ms - a.open_time_ms == BAR_MS for a, b in pairwise(bars))
    for b in bars:
        assert (b.exchange, b.symbol) == ("sim", BTC)
        assert b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high
        assert b.volume > 0 and b.open % Decimal("0.1") == 0  # on the perp's price step
    assert any(b.high > max(b.open, b.close) for b in bars), "highs come from inside the bar"
    # A coin's markets computed together equal each computed alone.
    together = sim().bars_of([BTC, "BTC/USDT", "PEPE/USDT"], since, until, 4 * HOUR_MS)
    for symbol, got in together.items():
        assert got == sim().bars(symbol, since, until, 4 * HOUR_MS)
    assert together["PEPE/USDT"][0].close < Decimal("0.0001")


def test_sim_bars_end_with_the_open_bar_cut_at_now() -> None:
    market = sim()
    full = market.bars(ETH, NOW_MS - 2 * BAR_MS, NOW_MS + BAR_MS)
    cut = market.bars(ETH, NOW_MS - 2 * BAR_MS, NOW_MS + BAR_MS, now_ms=NOW_MS)
    assert len(full) == len(cut) + 1 and full[:-2] == cut[:-1]
    running = cut[-1]
    assert running.open_time_ms == ms("2026-03-01") and running.open == full[-2].open
    # The close of the running bar is the mid now: what tickers quote around.
    ticker = market.tickers()[ETH]
    assert ticker.bid <= running.close <= ticker.ask
    assert running.volume < full[-2].volume
    with pytest.raises(KeyError):
        market.bars("NOPE/USDT", 0, 1)


# -- the emulator's klines and funding history ------------------------------------------------


def get(emu: BinanceEmulator, path: str, **params: object) -> Any:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    try:
        with urllib.request.urlopen(f"{emu.url}{path}?{query}", timeout=5) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_klines_are_binances_arrays_of_the_simulated_bars(emulator: BinanceEmulator) -> None:
    start = NOW_MS - 3 * BAR_MS
    futures = get(emulator, "/fapi/v1/klines", symbol="BTCUSDT", interval="8h", startTime=start)
    spot = get(emulator, "/api/v3/klines", symbol="BTCUSDT", interval="8h", startTime=start)
    for answer, symbol in ((futures, BTC), (spot, "BTC/USDT")):
        expected = sim().bars(symbol, start, NOW_MS + 1, now_ms=NOW_MS)
        assert [k[0] for k in answer] == [b.open_time_ms for b in expected]
        for k, bar in zip(answer, expected, strict=True):
            assert len(k) == 12 and k[11] == "0"
            assert [type(v) for v in k] == [int, *[str] * 5, int, str, int, str, str, str]
            assert k[6] == k[0] + BAR_MS - 1  # closeTime
            assert [Decimal(v) for v in k[1:6]] == [bar.open, bar.high, bar.low, bar.close,
                                                    bar.volume]  # fmt: skip
            assert Decimal(k[9]) <= Decimal(k[5]) and Decimal(k[10]) <= Decimal(k[7])
    # The futures API prints a price with its tick's places (0.1 for BTC), spot with 8.
    assert len(futures[0][1].split(".")[1]) == 1 and len(spot[0][1].split(".")[1]) == 8
    assert futures[-1][0] == ms("2026-03-01"), "the bar still open is included, as on Binance"


def test_klines_paging_and_errors(emulator: BinanceEmulator) -> None:
    path = "/fapi/v1/klines"
    latest = get(emulator, path, symbol="ETHUSDT", interval="1h")
    assert len(latest) == 500 and latest[-1][0] == NOW_MS  # the 05:00 bar, open now
    first = get(emulator, path, symbol="ETHUSDT", interval="4h", startTime=SINCE_MS + 1, limit=3)
    assert [k[0] for k in first] == [SINCE_MS + i * 4 * HOUR_MS for i in (1, 2, 3)]
    window = get(
        emulator, path, symbol="ETHUSDT", interval="1d", startTime=SINCE_MS,
        endTime=SINCE_MS + 2 * 24 * HOUR_MS,
    )  # fmt: skip
    assert [k[0] for k in window] == [SINCE_MS + i * 24 * HOUR_MS for i in range(3)]
    before = get(emulator, path, symbol="ETHUSDT", interval="8h", endTime=SINCE_MS, limit=2)
    assert [k[0] for k in before] == [SINCE_MS - BAR_MS, SINCE_MS]
    assert len(get(emulator, path, symbol="ETHUSDT", interval="1m", limit=5000)) == 1500
    assert len(get(emulator, "/api/v3/klines", symbol="ETHUSDT", interval="1m", limit=5000)) == 1000
    assert get(emulator, path, symbol="ETHUSDT", interval="1h", startTime=NOW_MS + 1) == []
    assert get(emulator, path, symbol="ETHUSDT", interval="7h") == (
        400, {"code": -1120, "msg": "Invalid interval."})  # fmt: skip
    assert get(emulator, path, symbol="ETHUSDT")[1]["code"] == -1102
    assert get(emulator, path, symbol="NOPEUSDT", interval="1h")[1]["code"] == -1121
    backwards = get(emulator, path, symbol="ETHUSDT", interval="1h", startTime=2, endTime=1)
    assert backwards[1]["code"] == -1023


def test_funding_rate_history_pages_like_binance(emulator: BinanceEmulator) -> None:
    path = "/fapi/v1/fundingRate"
    latest = get(emulator, path, symbol="BTCUSDT")
    assert len(latest) == 100 and latest[-1]["fundingTime"] == ms("2026-03-01")
    times = [r["fundingTime"] for r in latest]
    assert times == sorted(times) and times[0] == ms("2026-03-01") - 99 * BAR_MS
    page = get(emulator, path, symbol="BTCUSDT", startTime=SINCE_MS, limit=3)
    assert [r["fundingTime"] for r in page] == [SINCE_MS + i * BAR_MS for i in range(3)]
    assert page[0]["fundingRate"] == f"{expected_funding(BTC, SINCE_MS, SINCE_MS + 1)[0][1]:.8f}"
    hourly = get(emulator, path, symbol="INJUSDT", startTime=SINCE_MS, limit=5000)
    assert len(hourly) == 19 * 24 + 6  # INJ settles hourly: up to now, 05:00, inclusive
    capped = get(emulator, path, symbol="INJUSDT", startTime=ms("2025-06-01"), limit=5000)
    assert len(capped) == 1000  # INJ settles hourly: more than 1000 were there


# -- fetching from Binance (the emulator) through ccxt ----------------------------------------


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def test_funding_budget_lets_a_window_of_requests_go_then_spaces_them() -> None:
    from fra.engine.fetch import FUNDING_LIMITS
    from fra.venues.exchange import RequestBudget

    count, seconds = FUNDING_LIMITS["binance"]
    assert count < 500 and seconds == 300  # under Binance's 500 per 5 minutes per IP
    fake = FakeTime()
    budget = RequestBudget(
        seconds * 1000 / count, burst_seconds=seconds, clock=lambda: fake.now, sleep=fake.sleep
    )
    for _ in range(count):
        budget()
    assert fake.waits == []
    budget()
    assert fake.waits == [pytest.approx(seconds / count)]
    fake.now += seconds  # a quiet window refills it all
    for _ in range(count):
        budget()
    assert len(fake.waits) == 1


def test_binance_funding_history_is_paced_by_its_own_budget(emulator: BinanceEmulator) -> None:
    from fra.engine.fetch import CcxtSource
    from fra.venues.exchange import Caller, RequestBudget, build_exchange

    fake = FakeTime()
    call = Caller(build_exchange("binance", url=emulator.url, timeout_seconds=2), sleep=fake.sleep)
    assert CcxtSource(call).funding_budget is not None  # Binance gets one by default
    one_a_second = RequestBudget(1000, burst_seconds=1, clock=lambda: fake.now, sleep=fake.sleep)
    source = CcxtSource(call, funding_budget=one_a_second)
    for symbol in (BTC, ETH, "SOL/USDT:USDT"):
        pages = list(source.funding_pages(symbol, SINCE_MS, NOW_MS))
        assert len(pages) == 1 and pages[0]
    # The first request spends the one-request window; each next one waits for a refill.
    assert fake.waits == [pytest.approx(1.0), pytest.approx(1.0)]


def test_fetch_from_binance_stores_what_it_serves(binance: Fra, emulator: BinanceEmulator) -> None:
    result = fetch(binance, "--since", SINCE, "--symbols", f"{BTC},ETHUSDT")
    out = result.stdout.splitlines()
    assert out[0].startswith("BTC/USDT:USDT: funding +58 (to 2026-03-01 00:00), perp bars +57")
    assert out[-1].startswith("binance: 2 perpetuals, 116 new funding settlements and 228 new")
    for perp in (BTC, ETH):
        assert funding_rows(binance, "binance", perp) == expected_funding(perp, SINCE_MS, NOW_MS)
        for symbol in (perp, perp.split(":")[0]):
            assert bar_rows(binance, "binance", symbol) == closed_bars(symbol, SINCE_MS, "binance")
    listed = binance.json("history", "list")
    assert {(r["symbol"], r["kind"], r["rows"]) for r in listed} >= {
        (BTC, "funding", 58),
        ("ETH/USDT", "bars", 57),
    }


def test_a_second_fetch_asks_only_for_what_is_new_and_changes_no_byte(
    binance: Fra, emulator: BinanceEmulator
) -> None:
    fetch(binance, "--since", SINCE, "--symbols", "BTCUSDT")
    before, first = history_hash(binance), len(emulator.requests)
    again = fetch_json(binance, "--since", SINCE, "--symbols", "BTCUSDT")
    assert (again["new_funding"], again["new_bars"]) == (0, 0)
    assert history_hash(binance) == before
    # No bar can have closed since: no candle request at all; funding is asked from the last
    # settlement on (the next one's time is not known in advance).
    assert served(emulator, first, "/fapi/v1/klines") == []
    assert served(emulator, first, "/api/v3/klines") == []
    asked = served(emulator, first, "/fapi/v1/fundingRate")
    assert [int(q["startTime"][0]) for q in asked] == [ms("2026-03-01") + 1000]


def test_fetch_resumes_after_the_last_stored_row(binance: Fra, emulator: BinanceEmulator) -> None:
    part = fetch_json(binance, "--since", SINCE, "--until", "2026-02-20", "--symbols", "ETHUSDT")
    assert part["until"] == "2026-02-20T00:00:00Z"
    assert bar_rows(binance, "binance", ETH)[-1].open_time_ms == ms("2026-02-20") - BAR_MS
    first = len(emulator.requests)
    rest = fetch_json(binance, "--since", SINCE, "--symbols", "ETHUSDT")
    assert rest["new_bars"] == 2 * (len(closed_bars(ETH, SINCE_MS, "binance")) - 30)
    candles = served(emulator, first, "/fapi/v1/klines") + served(emulator, first, "/api/v3/klines")
    assert [int(q["startTime"][0]) for q in candles] == [ms("2026-02-20")] * 2
    funding = served(emulator, first, "/fapi/v1/fundingRate")
    assert [int(q["startTime"][0]) for q in funding] == [ms("2026-02-20") - BAR_MS + 1000]
    assert funding_rows(binance, "binance", ETH) == expected_funding(ETH, SINCE_MS, NOW_MS)
    assert bar_rows(binance, "binance", "ETH/USDT") == closed_bars("ETH/USDT", SINCE_MS, "binance")
    # Asking for an earlier start fills in what comes before, and nothing else.
    earlier = fetch_json(binance, "--since", "2026-02-08", "--symbols", "ETHUSDT")
    assert (earlier["new_funding"], earlier["new_bars"]) == (6, 12)
    assert bar_rows(binance, "binance", ETH) == closed_bars(ETH, ms("2026-02-08"), "binance")


def test_a_network_failure_keeps_whole_pages_and_the_next_run_completes(
    binance: Fra, emulator: BinanceEmulator
) -> None:
    emulator.inject(Fault("/api/v3/klines", "GET", "http_5xx", times=2))  # 1 try + 1 retry
    failed = fetch(binance, "--since", SINCE, "--symbols", "BTCUSDT", code=ExitCode.VENUE)
    err = failed.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err and "did not answer" in err, err
    # What was stored before the failure is whole: funding and the perp's bars, no spot bars.
    assert funding_rows(binance, "binance", BTC) == expected_funding(BTC, SINCE_MS, NOW_MS)
    assert bar_rows(binance, "binance", BTC) == closed_bars(BTC, SINCE_MS, "binance")
    assert bar_rows(binance, "binance", "BTC/USDT") == []
    done = fetch_json(binance, "--since", SINCE, "--symbols", "BTCUSDT")
    assert (done["new_funding"], done["new_bars"]) == (0, 57)
    assert bar_rows(binance, "binance", "BTC/USDT") == closed_bars("BTC/USDT", SINCE_MS, "binance")


def test_the_default_symbols_are_the_top_hedgeable_perpetuals_by_volume(
    binance: Fra, emulator: BinanceEmulator
) -> None:
    volumes = {s: t.quote_volume_24h for s, t in sim().tickers().items()}
    perps = [s for s in volumes if s.endswith(":USDT") and s.split(":")[0] in volumes]
    top = sorted(sorted(perps, key=volumes.__getitem__, reverse=True)[:2])
    done = fetch_json(binance, "--since", "2026-02-27", "--top", "2")
    assert done["symbols"] == top
    assert {s["symbol"] for s in done["series"]} == {*top, *(s.split(":")[0] for s in top)}


# -- fetching from the simulated market ------------------------------------------------------


def test_sim_fetch_stores_the_simulated_market_offline(fra: Fra) -> None:
    fra.at(NOW)
    result = fetch(fra, "--exchange", "sim", "--since", SINCE, "--symbols", "SOLUSDT,1000PEPEUSDT")
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "SOL/USDT:USDT: funding +58 (to 2026-03-01 00:00), perp bars +57 (to 2026-02-28 16:00),"
        " spot bars +57 (to 2026-02-28 16:00)"
    )
    assert lines[1].count("bars") == 1, "1000PEPE has no spot market to fetch"
    assert "computed offline" in lines[-1]
    market = sim()
    for perp in ("SOL/USDT:USDT", "1000PEPE/USDT:USDT"):
        # The simulated market knows each settlement's interval and mark price.
        assert funding_rows(fra, "sim", perp) == [
            (s.time_ms, s.rate, s.interval_hours, s.mark_price)
            for s in market.funding_history(perp, SINCE_MS - 1, NOW_MS - 1)
        ]
    for symbol in ("SOL/USDT:USDT", "SOL/USDT", "1000PEPE/USDT:USDT"):
        assert bar_rows(fra, "sim", symbol) == closed_bars(symbol, SINCE_MS, "sim")
    before = history_hash(fra)
    again = fetch_json(fra, "--exchange", "simulated", "--since", SINCE, "--top", "0")
    assert len(again["symbols"]) == 26  # every perpetual with a spot market
    assert sum(s["new"] for s in again["series"] if s["symbol"].startswith("SOL")) == 0
    assert history_hash(fra) != before


def test_sigint_stops_after_the_page_in_flight_and_a_rerun_completes(fra: Fra) -> None:
    fra.at(NOW)
    args = ("--exchange", "sim", "--since", "2025-03-01", "--symbols", "BTCUSDT")
    process = fra.spawn("history", "fetch", *args)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if (fra.workdir / "history.db").exists() and rows(fra, "SELECT 1 FROM funding"):
                break  # the first page is stored
        except sqlite3.Error:
            pass  # being created
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == ExitCode.INTERRUPTED, err
    assert err.strip().startswith("error: stopped by SIGINT") and "run the same command" in err
    bars = bar_rows(fra, "sim", BTC)
    assert len(bars) < len(closed_bars(BTC, ms("2025-03-01"), "sim"))
    done = fetch_json(fra, *args)
    assert done["new_funding"] + done["new_bars"] > 0
    since = ms("2025-03-01")
    assert bar_rows(fra, "sim", BTC) == closed_bars(BTC, since, "sim")
    assert bar_rows(fra, "sim", "BTC/USDT") == closed_bars("BTC/USDT", since, "sim")
    settled = sim().funding_history(BTC, since - 1, NOW_MS - 1)
    assert [r[0] for r in funding_rows(fra, "sim", BTC)] == [s.time_ms for s in settled]


# -- bad input --------------------------------------------------------------------------------

BAD = [
    (["--exchange", "nope"], "unknown exchange 'nope'"),
    (["--exchange", "kraken"], "kraken has no perpetual swaps"),
    (["--symbols", "FOOUSDT"], "binance has no USDT perpetual FOO/USDT:USDT"),
    (["--symbols", "FOO"], "cannot tell its coin"),
    (["--since", "2026-02-20", "--until", "2026-02-10"], "is not before --until 2026-02-10"),
    (["--since", "soon"], "--since 'soon' is not a date"),
    (["--since", "2026-03-02"], "is in the future"),
    (["--since", "2012-01-01"], "before any exchange had perpetual swaps"),
    (["--top", "-1"], "--top -1 is negative"),
]


@pytest.mark.parametrize(("args", "words"), BAD, ids=[w for _, w in BAD])
def test_bad_input_exits_2_with_one_line_and_changes_nothing(
    binance: Fra, args: list[str], words: str
) -> None:
    full = ["--since", SINCE, *args] if "--since" not in args else args
    fra_args = ["--exchange", "binance", *full] if "--exchange" not in args else full
    result = fetch(binance, *fra_args, code=ExitCode.BAD_INPUT)
    err = result.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err and words in err, err
    assert not (binance.workdir / "history.db").exists()
    fetch(binance, "--exchange", "sim", "--since", "2026-02-27", "--symbols", "BTCUSDT")
    before = history_hash(binance)
    fetch(binance, *fra_args, code=ExitCode.BAD_INPUT)
    assert history_hash(binance) == before
