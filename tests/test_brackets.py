"""Maintenance margin from leverage brackets, not from exchangeInfo's placeholders.

Paper margin on a Binance URL (the local emulator) against the table fra ships, the account's
own brackets once `fra doctor --refresh-tiers` stored them, the replay's margin model, and the
emulator serving Binance's shapes. Expected figures are worked out by hand from the rows of
fra/data/binance_brackets.json quoted next to them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from conftest import T0, Fra, iso, legs

from fra.core.brackets import (
    bracket_at,
    ladder,
    maintenance_margin,
    maintenance_rate,
    short_liquidation_price,
)
from fra.emulator import DEFAULT_API_KEY, DEFAULT_SECRET, BinanceEmulator
from fra.emulator.clock import EmulatorClock
from fra.errors import ExitCode
from fra.venues.bracket_sources import shipped
from fra.venues.exchange import Caller, build_exchange
from fra.venues.simulated import parse_shock

D = Decimal
BTC, ETH, ORDI = "BTC/USDT:USDT", "ETH/USDT:USDT", "ORDI/USDT:USDT"
TABLE = Path(__file__).resolve().parents[1] / "fra" / "data" / "binance_brackets.json"

# The rows of the shipped table the expectations below are computed from (recorded 2026-03-05):
# BTC and ETH [cap 300000, rate 0.004, 150x, cum 0], [800000, 0.005, 100x, 300];
# ORDI [5000, 0.01, 75x, 0], [10000, 0.015, 50x, 25], [25000, 0.02, 25x, 75].


def test_maintenance_margin_is_binances_formula_bracket_by_bracket() -> None:
    btc = shipped().of(BTC)
    assert maintenance_margin(btc, D(100_000)) == D("400.000")  # 100000 x 0.004
    assert maintenance_margin(btc, D(500_000)) == D("2200.000")  # 500000 x 0.005 - 300
    # Continuous at the cap: 300000 x 0.004 = 300000 x 0.005 - 300 = 1200.
    assert maintenance_margin(btc, D(300_000)) == D(1200)
    assert maintenance_margin(btc, D("299999.99")) == D("299999.99") * D("0.004")
    ordi = shipped().of(ORDI)
    assert maintenance_margin(ordi, D(7000)) == D(7000) * D("0.015") - 25
    assert maintenance_rate(ordi, D(7000)) == (D(105) - 25) / 7000
    assert bracket_at(ordi, D(30_000)).rate == D("0.025")
    # Beyond the last cap the last bracket holds.
    assert bracket_at(btc, D(10) ** 10) == btc[-1]


def test_shipped_cum_is_what_continuity_gives_for_every_symbol() -> None:
    table = json.loads(TABLE.read_text())
    assert table["about"]["recorded"].startswith("2026-03-05")
    assert "freqtrade" in table["about"]["source"] and "GPL-3.0" in table["about"]["licence"]
    assert len(table["brackets"]) == table["about"]["symbols"] > 600
    for symbol, rows in table["brackets"].items():
        given = shipped().of(symbol)
        derived = ladder((D(cap), D(rate), lev, None) for cap, rate, lev, _cum in rows)
        assert given == derived, symbol
        # Rates rise and leverage falls with the size: a larger short never needs less.
        assert all(a.rate <= b.rate for a, b in pairwise(given)), symbol
        assert all(a.max_leverage >= b.max_leverage for a, b in pairwise(given)), symbol


def test_fallback_asks_as_much_as_nine_in_ten_listed_perpetuals() -> None:
    """fra/data/README.md: for a perpetual listed since the recording, a ladder whose
    maintenance margin at every notional from 100 to 1,000,000 USDT is at least that of
    89 % of the recorded ones."""
    table = shipped()
    assert table.of("LISTED-SINCE/USDT:USDT") == table.default
    assert table.default == table.of("ACU/USDT:USDT")  # one of those that have it
    notional = D(100)
    while notional <= 1_000_000:
        fallback = maintenance_margin(table.default, notional)
        covered = sum(maintenance_margin(b, notional) <= fallback for b in table.ladders.values())
        assert covered / len(table.ladders) >= 0.89, notional
        notional *= D("1.25")


def test_short_liquidation_price_is_where_the_ratio_reaches_one() -> None:
    btc = shipped().of(BTC)
    # A short of 100 coins entered at 2900 with 20000 posted: in the first bracket the ratio
    # would reach 1 at 3087.65, a notional past its 300000 cap, so it does in the second.
    price = short_liquidation_price(btc, D(100), D(2900), D(20_000))
    assert price == (20_000 + 290_000 + 300) / D("100.5")
    balance = 20_000 + 100 * (2900 - price)
    assert maintenance_margin(btc, 100 * price) == pytest.approx(balance, abs=D("1e-12"))


# -- paper on a Binance URL -------------------------------------------------------------------


def _hot(symbol: str) -> str:
    return f"{symbol}@{iso(T0)}:funding=0.0008:hours=72"


@pytest.fixture
def emulator() -> Iterator[BinanceEmulator]:
    clock = EmulatorClock.running_from(int(T0.timestamp() * 1000))
    shocks = [parse_shock(_hot(s)) for s in (BTC, ETH, ORDI)]
    with BinanceEmulator(clock=clock, shocks=shocks) as emu:
        yield emu


@pytest.fixture
def paper(fra: Fra, emulator: BinanceEmulator) -> Fra:
    return fra.set(
        FRA_VENUE="binance",
        FRA_VENUE_URL=emulator.url,
        FRA_VENUE_RETRIES="1",
        FRA_VENUE_TIMEOUT_SECONDS="2",
        FRA_STRATEGY__SYMBOLS=[BTC, ETH, ORDI],
        FRA_STRATEGY__MIN_VOLUME_USD="0",
        FRA_PAPER__STARTING_BALANCE="2000000",
        FRA_RISK__MAX_POSITION_USD="1000000",
        FRA_RISK__MAX_TOTAL_EXPOSURE_USD="2000000",
    )


KEYS = {"FRA_API_KEY": DEFAULT_API_KEY, "FRA_API_SECRET": DEFAULT_SECRET}


def _margins(fra: Fra) -> dict[str, dict[str, Any]]:
    report = fra.json("margin-check")
    return {leg["symbol"]: leg for leg in report["legs"]}


def _expect(fra: Fra, leg: dict[str, Any], rate: str, cum: int) -> Decimal:
    """Hand-computed: the short's notional at the reported mark x the bracket's rate - cum."""
    _spot, short = legs(fra, leg["position_id"])
    mark = D(leg["mark_price"])
    expected = short * mark * D(rate) - cum
    assert D(leg["maintenance_margin"]) == expected, (leg, expected)
    ratio = expected / D(leg["margin_balance"])
    assert abs(D(leg["ratio"]) - ratio) <= ratio * D("1e-9"), "to its 10 significant digits"
    return short * mark


def test_paper_margin_on_binance_follows_the_shipped_brackets(
    paper: Fra, emulator: BinanceEmulator
) -> None:
    paper("scan")
    paper("open", BTC, "--size", "450000")  # BTC's second bracket: 0.5 %, cum 300
    paper("open", ETH, "--size", "40000")  # ETH's first: 0.4 %
    paper("open", ORDI, "--size", "7000")  # ORDI's second: 1.5 %, cum 25
    margins = _margins(paper)
    assert 300_000 < _expect(paper, margins[BTC], "0.005", 300) < 800_000
    assert _expect(paper, margins[ETH], "0.004", 0) < 300_000
    assert 5000 < _expect(paper, margins[ORDI], "0.015", 25) < 10_000
    # Not exchangeInfo's placeholder 2.5 %, which the emulator serves as Binance does.
    eth = margins[ETH]
    assert D(eth["maintenance_margin"]) < D("0.005") * D(eth["mark_price"]) * legs(paper, 2)[1]
    assert not any(r.path == "/fapi/v1/leverageBracket" for r in emulator.requests), (
        "without keys nothing signed is asked for"
    )


def test_refreshed_account_brackets_replace_the_table(
    paper: Fra, emulator: BinanceEmulator
) -> None:
    paper("scan")
    paper("open", ORDI, "--size", "7000")
    _expect(paper, _margins(paper)[ORDI], "0.015", 25)  # the shipped table
    # Binance doubled this account's ORDI brackets: 1 % now holds up to 10000.
    emulator.account.adjust_brackets(emulator.catalog.by_symbol(ORDI), D(2))
    done = paper.json("doctor", "--refresh-tiers", **KEYS)
    catalog = emulator.catalog
    trading = [
        x
        for x in catalog.listings("futures")
        if x.perpetual and x.margin_asset == "USDT" and catalog.status(x) == "TRADING"
    ]
    assert done["symbols"] == len(trading), "every USDT perpetual fra lists"
    assert done["source"].startswith(f"binance@{emulator.url}")
    assert done["first_brackets"][BTC] == "0.4 % up to 300,000 USDT (150x)"
    assert paper.query("SELECT count(*) FROM venue_cache WHERE kind = 'brackets'") == [(1,)]
    # Paper, still without keys, computes from what was stored.
    _expect(paper, _margins(paper)[ORDI], "0.01", 0)


def test_with_keys_paper_fetches_the_brackets_once_per_market_ttl(
    paper: Fra, emulator: BinanceEmulator
) -> None:
    def asked() -> int:
        return sum(r.path == "/fapi/v1/leverageBracket" for r in emulator.requests)

    paper.set(**KEYS)
    paper("scan")
    assert asked() == 1
    paper("scan")
    assert asked() == 1, "read from state.db within FRA_MARKETS_TTL_MINUTES"
    paper("scan", FRA_MARKETS_TTL_MINUTES="0")
    assert asked() == 2


def test_refresh_without_keys_is_refused_and_changes_nothing(paper: Fra) -> None:
    result = paper("doctor", "--refresh-tiers", code=ExitCode.BAD_INPUT)
    assert "needs an API key" in result.stderr and "FRA_API_KEY" in result.stderr
    assert not paper.db.exists(), "no state file is created"
    paper("scan")
    before = paper.fingerprint()
    paper("doctor", "--refresh-tiers", code=ExitCode.BAD_INPUT)
    assert paper.fingerprint() == before


def test_refresh_on_the_simulated_market_is_refused(fra: Fra) -> None:
    fra("scan")
    before = fra.fingerprint()
    result = fra("doctor", "--refresh-tiers", code=ExitCode.BAD_INPUT, **KEYS)
    assert "simulated market" in result.stderr
    assert fra.fingerprint() == before


# -- the emulator, as Binance answers ---------------------------------------------------------


def _client(emulator: BinanceEmulator) -> Caller:
    """ccxt as fra builds it (signing with the exchange's clock), keys of the account."""
    exchange = build_exchange(
        "binance", api_key=DEFAULT_API_KEY, api_secret=DEFAULT_SECRET, url=emulator.url
    )
    return Caller(exchange, retries=0)


def test_emulator_serves_placeholders_in_exchange_info_and_brackets_apart(
    emulator: BinanceEmulator,
) -> None:
    ex = _client(emulator)
    symbols = ex("fapiPublicGetExchangeInfo")["symbols"]
    assert {(s["maintMarginPercent"], s["requiredMarginPercent"]) for s in symbols} == {
        ("2.5000", "5.0000")
    }
    one = ex("fapiPrivateGetLeverageBracket", {"symbol": "BTCUSDT"})
    assert one["symbol"] == "BTCUSDT" and "notionalCoef" not in one
    first, second = one["brackets"][:2]
    assert first == {
        "bracket": 1,
        "initialLeverage": 150,
        "notionalCap": 300000,
        "notionalFloor": 0,
        "maintMarginRatio": 0.004,
        "cum": 0.0,
    }
    assert (second["notionalFloor"], second["maintMarginRatio"], second["cum"]) == (
        300000,
        0.005,
        300.0,
    )
    every = ex("fapiPrivateGetLeverageBracket")
    assert isinstance(every, list) and {"BTCUSDT", "ORDIUSDT"} <= {e["symbol"] for e in every}
    # An adjusted account sees its own, with the multiplier.
    emulator.account.adjust_brackets(emulator.catalog.by_symbol(ORDI), D("1.5"))
    ordi = ex("fapiPrivateGetLeverageBracket", {"symbol": "ORDIUSDT"})
    assert ordi["notionalCoef"] == 1.5 and ordi["brackets"][0]["notionalCap"] == 7500


def test_emulator_liquidates_by_the_same_brackets(emulator: BinanceEmulator) -> None:
    ex = _client(emulator)
    ex("set_margin_mode", "isolated", ORDI)
    ex("set_leverage", 3, ORDI)
    ex("create_order", ORDI, "market", "sell", 1000, None, {"newClientOrderId": "short-1"})
    [position] = [p for p in ex("fetch_positions", [ORDI]) if p["contracts"]]
    info = position["info"]
    notional = abs(D(info["notional"]))
    # ORDI at this size, by the shipped table, and Binance's isolated liquidation price.
    rung = bracket_at(shipped().of(ORDI), notional)
    assert D(info["maintMargin"]) == pytest.approx(notional * rung.rate - rung.cum, abs=D("1e-6"))
    wallet, entry = D(info["isolatedWallet"]), D(info["entryPrice"])
    expected = (wallet + rung.cum + 1000 * entry) / (1000 * rung.rate + 1000)
    assert D(info["liquidationPrice"]) == pytest.approx(expected, rel=D("1e-6"))


# -- the replay ---------------------------------------------------------------------------------

H8 = 8 * 3_600_000
START = 1_672_531_200_000  # 2023-01-01


def _history(fra: Fra, symbol: str, price: Any) -> None:
    """20 days of 8h prints paying 0.001 and flat bars at 1000, then `price(i)` from bar i."""
    funding = ["exchange,symbol,funding_time_ms,funding_rate,interval_hours"]
    bars = ["exchange,symbol,market,open_time_ms,open,high,low,close,volume"]
    for i in range(-3, 60):
        t = START + i * H8
        funding.append(f"binance,{symbol},{t},0.001,8")
        for market in ("perp", "spot"):
            p = price(i)
            bars.append(f"binance,{symbol},{market},{t},{p},{p},{p},{p},1000000")
    (fra.workdir / "f.csv").write_text("\n".join(funding) + "\n")
    (fra.workdir / "b.csv").write_text("\n".join(bars) + "\n")
    fra("history", "import", "f.csv")
    fra("history", "import", "b.csv")


def _squeezed(fra: Fra, **env: str) -> Any:
    """The replay of _history's squeeze: no costs but fees, never topped up, not resumed."""
    return fra.json(
        "backtest",
        "--from",
        "2023-01-01",
        "--to",
        "2023-01-21",
        FRA_BACKTEST__SPREAD_BPS="0",
        FRA_BACKTEST__SLIPPAGE_BPS="0",
        FRA_BACKTEST__RESUME_AFTER_HOURS="10000",
        FRA_STRATEGY__FORECAST_HALF_LIFE_HOURS="1",
        FRA_RISK__TOPUP_CUSHION="0",
        **env,
    )


@pytest.mark.parametrize(
    ("market", "symbol", "rate"),
    [
        ("ETHUSDT", ETH, "0.004"),  # ETH's first bracket
        ("ORDIUSDT", ORDI, "0.01"),  # ORDI's first bracket (2000 USDT is below its 5000 cap)
        ("NEWUSDT", "NEW/USDT:USDT", "0.05"),  # not in the table: the fallback's first bracket
    ],
)
def test_replay_liquidates_where_the_brackets_say(
    fra: Fra, market: str, symbol: str, rate: str
) -> None:
    # A 2000 USDT short at 3x (margin 2000/3), never topped up, and a 40 % squeeze on day 5.
    _history(fra, market, lambda i: 1000 if i < 15 else 1400)
    report = _squeezed(fra)
    assert any(f"{symbol}: short liquidated" in e for e in report["events"])
    [trade] = report["per_symbol"]
    # Live fra sells the spot a cycle later, at the price where the ratio reached 1:
    # margin + 2 x (1000 - P) = 2 x P x rate.
    margin = 2000 / 3
    liquidation = (1000 + margin / 2) / (1 + float(rate))
    spot_gain = 2 * (liquidation - 1000)
    assert trade["pnl"] == pytest.approx(spot_gain - margin + trade["funding"] - trade["fees"])
    assert trade["fees"] == pytest.approx(2000 * 0.0015 + 2 * liquidation * 0.001)


def test_replay_keeps_a_flat_rate_when_one_is_set(fra: Fra) -> None:
    _history(fra, "ETHUSDT", lambda i: 1000 if i < 15 else 1400)
    report = _squeezed(fra, FRA_BACKTEST__MAINTENANCE_MARGIN_RATE="0.02")
    [trade] = report["per_symbol"]
    liquidation = (1000 + 1000 / 3) / 1.02
    assert trade["fees"] == pytest.approx(2000 * 0.0015 + 2 * liquidation * 0.001)
