"""The emulator's catalogue is as untidy as a real Binance answer, and fra keeps to what it
trades: hundreds of symbols, statuses other than TRADING, other quotes and margins, dated
contracts. Read over 127.0.0.1 as Binance's own answers (JSON) and through real ccxt and fra.
"""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from conftest import Fra

from fra.emulator import BinanceEmulator, EmulatorClock
from fra.emulator.listings import SETTLING

START = int(datetime(2026, 3, 1, 1, 0, tzinfo=UTC).timestamp() * 1000)


@pytest.fixture(scope="module")
def emu() -> Iterator[BinanceEmulator]:
    with BinanceEmulator(clock=EmulatorClock.frozen(START)) as emulator:
        yield emulator


def get(emu: BinanceEmulator, path: str) -> Any:
    with urllib.request.urlopen(f"{emu.url}{path}") as answer:
        return json.load(answer)


def on_step(value: str, step: str) -> bool:
    return Decimal(value) % Decimal(step) == 0


def test_hundreds_of_symbols_in_every_status_quote_and_contract_type(emu: BinanceEmulator) -> None:
    spot = get(emu, "/api/v3/exchangeInfo")["symbols"]
    futures = get(emu, "/fapi/v1/exchangeInfo")["symbols"]
    assert len(spot) + len(futures) >= 300
    assert Counter(s["status"] for s in spot).keys() == {"TRADING", "BREAK"}
    statuses = Counter(s["status"] for s in futures)
    assert statuses.keys() == {"TRADING", "SETTLING", "PENDING_TRADING"}
    assert {s["quoteAsset"] for s in spot} >= {
        "USDT", "USDC", "FDUSD", "BTC", "ETH", "BNB", "TRY", "EUR", "BRL", "JPY",
    }  # fmt: skip
    assert {s["marginAsset"] for s in futures} == {"USDT", "USDC"}
    kinds = Counter(s["contractType"] for s in futures)
    assert kinds["CURRENT_QUARTER"] == kinds["NEXT_QUARTER"] == 2
    pending = next(s for s in futures if s["status"] == "PENDING_TRADING")
    assert pending["onboardDate"] > START
    # Perpetuals in units of 1000 coins, with and without a prefixed spot pair.
    spot_ids = {s["symbol"] for s in spot}
    assert {"1000PEPEUSDT", "1000FLOKIUSDT", "1000SATSUSDT", "1MBABYDOGEUSDT"} <= {
        s["symbol"] for s in futures
    }
    assert {"PEPEUSDT", "FLOKIUSDT", "1000SATSUSDT", "1MBABYDOGEUSDT"} <= spot_ids
    assert not {"1000PEPEUSDT", "SATSUSDT"} & spot_ids


def test_dated_contracts_carry_no_funding(emu: BinanceEmulator) -> None:
    rows = get(emu, "/fapi/v1/premiumIndex")
    dated = [r for r in rows if "_" in r["symbol"]]
    assert len(dated) == 4
    for r in dated:
        assert (r["nextFundingTime"], r["lastFundingRate"], r["interestRate"]) == (
            0,
            "0.00000000",
            "0.00000000",
        )
        assert Decimal(r["markPrice"]) > 0
    perpetual = next(r for r in rows if r["symbol"] == "BTCUSDT")
    assert perpetual["nextFundingTime"] > START


def test_every_listing_quotes_on_its_own_ticks_and_steps(emu: BinanceEmulator) -> None:
    for api, info in (("/api/v3", "/api/v3/exchangeInfo"), ("/fapi/v1", "/fapi/v1/exchangeInfo")):
        rules = {}
        for s in get(emu, info)["symbols"]:
            filters = {f["filterType"]: f for f in s["filters"]}
            rules[s["symbol"]] = (filters["PRICE_FILTER"]["tickSize"], filters["LOT_SIZE"])
        touch = {t["symbol"]: t for t in get(emu, f"{api}/ticker/bookTicker")}
        day = {t["symbol"]: t for t in get(emu, f"{api}/ticker/24hr")}
        assert set(touch) == set(day) == set(rules)
        for symbol, (tick, lot) in rules.items():
            t = touch[symbol]
            assert 0 < Decimal(t["bidPrice"]) < Decimal(t["askPrice"]), (symbol, t)
            assert on_step(t["bidPrice"], tick) and on_step(t["askPrice"], tick), (symbol, tick)
            assert Decimal(t["bidQty"]) >= Decimal(lot["minQty"]), (symbol, t, lot)
            assert Decimal(day[symbol]["quoteVolume"]) > 0 and Decimal(day[symbol]["openPrice"])


def test_markets_priced_off_another_follow_it(emu: BinanceEmulator) -> None:
    touch = {t["symbol"]: t for t in get(emu, "/api/v3/ticker/bookTicker")}
    futures = {t["symbol"]: t for t in get(emu, "/fapi/v1/ticker/bookTicker")}

    def mid(t: dict[str, str]) -> Decimal:
        return (Decimal(t["bidPrice"]) + Decimal(t["askPrice"])) / 2

    def near(a: Decimal, b: Decimal) -> bool:
        return abs(a / b - 1) < Decimal("0.01")

    # Another quote: ETH in BTC is ETH's USDT price over BTC's (at the catalogue's fixed rate).
    assert near(mid(touch["ETHBTC"]), mid(touch["ETHUSDT"]) * Decimal("0.0000154"))
    assert near(mid(touch["BTCUSDC"]), mid(touch["BTCUSDT"]))
    # A thousand-coin unit: 1000FLOKI's price is a thousand FLOKI's, 1000BONK's a thousand BONK's.
    assert near(mid(futures["1000FLOKIUSDT"]), mid(touch["FLOKIUSDT"]) * 1000)
    assert near(mid(futures["1000BONKUSDT"]), mid(touch["BONKUSDT"]) * 1000)
    assert near(mid(futures["1000PEPEUSDT"]), mid(touch["PEPEUSDT"]) * 1000)
    # Their history too: the same bars, at the same factor, with volumes of their own.
    spot = get(emu, "/api/v3/klines?symbol=FLOKIUSDT&interval=8h&limit=5")
    perp = get(emu, "/fapi/v1/klines?symbol=1000FLOKIUSDT&interval=8h&limit=5")
    assert [b[0] for b in spot] == [b[0] for b in perp] and len(spot) == 5
    for s, p in zip(spot, perp, strict=True):
        assert abs(Decimal(p[4]) / (Decimal(s[4]) * 1000) - 1) < Decimal("0.02")
        assert Decimal(s[5]) > 0 and Decimal(p[5]) > 0


def test_only_perpetuals_that_trade_settle_funding(emu: BinanceEmulator) -> None:
    futures = get(emu, "/fapi/v1/exchangeInfo")["symbols"]
    settling = {s["symbol"] for s in futures if s["status"] == SETTLING}
    rows = get(emu, f"/fapi/v1/fundingRate?startTime={START - 8 * 3_600_000}&limit=1000")
    ids = {r["symbol"] for r in rows}
    assert "1000PEPEUSDT" in ids and "ETHUSDC" in ids
    assert not ids & settling and not any("_" in i for i in ids)


def test_fra_keeps_to_the_usdt_perpetuals_that_trade(fra: Fra, emu: BinanceEmulator) -> None:
    fra.set(FRA_VENUE="binance", FRA_VENUE_URL=emu.url, FRA_VENUE_RETRIES="0")
    scan = fra.json("scan")
    futures = get(emu, "/fapi/v1/exchangeInfo")["symbols"]
    trading = {
        s["symbol"]
        for s in futures
        if s["status"] == "TRADING"
        and s["contractType"] == "PERPETUAL"
        and s["quoteAsset"] == "USDT"
    }
    assert scan["perpetuals"] == len(trading) > 100
    rows = {r["symbol"]: r for r in scan["rows"]}
    unhedged = {s for s, r in rows.items() if r["spot_symbol"] is None}
    # Perpetual-only coins, and BSW whose spot pair is in BREAK.
    assert unhedged == {
        "MYRO/USDT:USDT", "LEVER/USDT:USDT", "1000RATS/USDT:USDT", "BSW/USDT:USDT",
    }  # fmt: skip
    ranked = fra.json("rank")
    assert len(ranked["rows"]) == len(rows)
