"""The Binance emulator, driven through real ccxt pointed at it over 127.0.0.1 (no mocks).

Each test gets its own emulator; public-data tests freeze its clock so they can compare against
the simulated market at the same instant, signed ones run it (a frozen clock would age every
signature past the recvWindow).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import ccxt
import pytest

from fra.core.models import HOUR_MS
from fra.emulator import (
    BinanceEmulator,
    EmulatedKey,
    EmulatorClock,
    Fault,
    point_ccxt_at,
)
from fra.emulator.listings import listed_market
from fra.venues.simulated import SimulatedMarket, parse_shock

START = int(datetime(2026, 3, 1, 1, 0, tzinfo=UTC).timestamp() * 1000)
SHOCK = "SOL/USDT:USDT@2026-03-01T02:00:00Z:price=+60%:hours=6"
BTC, BTC_PERP, SOL, SOL_PERP = "BTC/USDT", "BTC/USDT:USDT", "SOL/USDT", "SOL/USDT:USDT"


def connect(
    emu: BinanceEmulator,
    *,
    key: str = "test-key",
    secret: str = "test-secret",
    timeout_ms: int = 3000,
) -> ccxt.binance:
    exchange = ccxt.binance(
        {
            "apiKey": key,
            "secret": secret,
            "enableRateLimit": False,  # no limits to respect; ccxt's throttle only slows tests
            "timeout": timeout_ms,
            "options": {
                "fetchMarkets": {"types": ["spot", "linear"]},
                "fetchCurrencies": False,
                "adjustForTimeDifference": True,
            },
        }
    )
    point_ccxt_at(exchange, emu.url)
    # load_markets syncs only after its first signed requests (the margin pair lists).
    exchange.load_time_difference()
    exchange.load_markets()
    return exchange


def advance(emu: BinanceEmulator, exchange: ccxt.binance, ms: int) -> None:
    """Move the exchange's clock; the client re-syncs, as adjustForTimeDifference would."""
    emu.clock.advance(ms)
    exchange.load_time_difference()


@pytest.fixture
def emu() -> Iterator[BinanceEmulator]:
    with BinanceEmulator(clock=EmulatorClock.running_from(START)) as emulator:
        yield emulator


@pytest.fixture
def ex(emu: BinanceEmulator) -> ccxt.binance:
    return connect(emu)


@pytest.fixture
def frozen() -> Iterator[BinanceEmulator]:
    with BinanceEmulator(clock=EmulatorClock.frozen(START)) as emulator:
        yield emulator


@pytest.fixture
def public(frozen: BinanceEmulator) -> ccxt.binance:
    exchange = ccxt.binance(
        {
            "enableRateLimit": False,
            "options": {"fetchMarkets": {"types": ["spot", "linear"]}, "fetchCurrencies": False},
        }
    )
    point_ccxt_at(exchange, frozen.url)
    exchange.load_markets()
    return exchange


def sim_at(ms: int, *shocks: str) -> SimulatedMarket:
    return SimulatedMarket(seed=7, clock=lambda: ms, shocks=[parse_shock(s) for s in shocks])


def futures_wallet(ex: ccxt.binance) -> float:
    """The USDT wallet balance (ccxt's futures `total` is the margin balance: PnL included)."""
    assets = ex.fetch_balance({"type": "future"})["info"]["assets"]
    return float(next(a for a in assets if a["asset"] == "USDT")["walletBalance"])


def short_isolated(ex: ccxt.binance, symbol: str, amount: float, leverage: int, cid: str) -> dict:
    ex.set_margin_mode("isolated", symbol)
    ex.set_leverage(leverage, symbol)
    return ex.create_order(symbol, "market", "sell", amount, None, {"newClientOrderId": cid})


# -- helper and public data --------------------------------------------------------------------


def test_point_ccxt_at_rewrites_scheme_and_host_and_keeps_paths() -> None:
    class Client:
        def __init__(self) -> None:
            self.urls = {
                "api": {
                    "public": "https://api.x.com/api/v3",
                    "nested": {"f": "https://f.x.com/fapi/v1"},
                }
            }

    client = Client()
    point_ccxt_at(client, "http://127.0.0.1:9/")
    assert client.urls["api"] == {
        "public": "http://127.0.0.1:9/api/v3",
        "nested": {"f": "http://127.0.0.1:9/fapi/v1"},
    }


def test_markets_load_spot_and_linear_with_the_contracts_to_filter_out(
    public: ccxt.binance,
) -> None:
    markets = public.markets
    assert markets[BTC]["spot"] and markets[BTC]["id"] == "BTCUSDT"
    perp = markets[BTC_PERP]
    assert (perp["type"], perp["linear"], perp["settle"], perp["id"]) == (
        "swap",
        True,
        "USDT",
        "BTCUSDT",
    )
    assert perp["precision"]["amount"] == 0.001 and perp["limits"]["cost"]["min"] == 100
    dated = [m for m in markets.values() if m["type"] == "future"]
    # BTC's and ETH's current- and next-quarter contracts (tests/test_emulator_catalogue.py).
    assert len(dated) == 4 and all(m["expiry"] > START for m in dated)
    assert {m["base"] for m in dated} == {"BTC", "ETH"}
    assert markets["BTC/USDC:USDC"]["swap"] and markets["BTC/USDC:USDC"]["settle"] == "USDC"
    # 1000x memecoin perpetuals have no spot pair of their own, as on Binance.
    assert "1000PEPE/USDT:USDT" in markets and "1000PEPE/USDT" not in markets
    assert "PEPE/USDT" in markets


def test_time_is_the_emulator_clock(public: ccxt.binance, frozen: BinanceEmulator) -> None:
    assert public.fetch_time() == START
    frozen.clock.advance(HOUR_MS)
    assert public.fetch_time() == START + HOUR_MS
    assert public.fetch_time({"type": "swap"}) == START + HOUR_MS


def test_funding_rates_are_the_simulated_markets(public: ccxt.binance) -> None:
    sim = sim_at(START)
    rates = public.fetch_funding_rates()
    quotes = sim.funding_quotes()
    assert set(quotes) <= set(rates)
    for symbol, quote in quotes.items():
        assert rates[symbol]["fundingRate"] == float(quote.rate)
        assert rates[symbol]["fundingTimestamp"] == quote.next_funding_ms
        assert rates[symbol]["markPrice"] == float(quote.mark_price)
    one = public.fetch_funding_rate(SOL_PERP)
    assert one["indexPrice"] == float(quotes[SOL_PERP].index_price)
    assert one["interestRate"] == 0.0001
    dated = next(s for s, m in public.markets.items() if m["type"] == "future")
    # Delivery contracts have no funding: Binance answers a zero rate and no next time.
    assert rates[dated]["fundingRate"] == 0 and not rates[dated]["fundingTimestamp"]


def test_funding_intervals_list_only_the_adjusted_perpetuals(public: ccxt.binance) -> None:
    # The simulated markets and the catalogue's extra ones priced off them.
    quotes = listed_market(sim_at(START)).funding_quotes()
    intervals = public.fetch_funding_intervals()
    assert set(intervals) == {s for s, q in quotes.items() if q.interval_hours != 8}
    inj = intervals["INJ/USDT:USDT"]
    assert inj["interval"] == "1h" and inj["info"]["adjustedFundingRateCap"] == "0.02000000"


def test_tickers_and_bids_asks(public: ccxt.binance) -> None:
    sim = sim_at(START)
    spot = public.fetch_tickers(None, {"type": "spot"})
    book = sim.order_book(BTC, 1)
    assert spot[BTC]["bid"] == float(book.bids[0][0]) and spot[BTC]["ask"] == float(book.asks[0][0])
    assert spot[BTC]["quoteVolume"] > 0 and spot[BTC]["open"] > 0
    swap = public.fetch_tickers(None, {"type": "swap"})
    assert swap[BTC_PERP]["bid"] is None and swap[BTC_PERP]["last"] > 0  # as Binance: no bid/ask
    quotes = public.fetch_bids_asks(None, {"type": "swap"})
    perp_book = sim.order_book(BTC_PERP, 1)
    assert quotes[BTC_PERP]["bid"] == float(perp_book.bids[0][0])
    assert quotes[BTC_PERP]["askVolume"] == float(perp_book.asks[0][1])


def test_order_books_honour_binance_limits(public: ccxt.binance) -> None:
    sim = sim_at(START)
    spot = public.fetch_order_book(BTC, 7)  # spot takes any limit up to 5000
    assert spot["bids"] == [[float(p), float(q)] for p, q in sim.order_book(BTC, 7).bids]
    perp = public.fetch_order_book(SOL_PERP, 20)
    assert perp["asks"] == [[float(p), float(q)] for p, q in sim.order_book(SOL_PERP, 20).asks]
    with pytest.raises(ccxt.BadRequest, match="-4021"):
        public.fetch_order_book(SOL_PERP, 7)  # futures: 5, 10, 20, 50, 100, 500, 1000 only


def test_funding_rate_history_is_the_settled_rates_ascending(public: ccxt.binance) -> None:
    since = START - 3 * 24 * HOUR_MS
    history = public.fetch_funding_rate_history(BTC_PERP, since, 4)
    settled = sim_at(START).funding_history(BTC_PERP, since - 1, START)[:4]
    assert [(h["timestamp"], h["fundingRate"]) for h in history] == [
        (s.time_ms, float(s.rate)) for s in settled
    ]
    latest = public.fetch_funding_rate_history("INJ/USDT:USDT", None, 3)
    assert len(latest) == 3 and latest[-1]["timestamp"] <= START


# -- signing and clock -------------------------------------------------------------------------


def test_wrong_key_or_secret_is_refused(emu: BinanceEmulator) -> None:
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        connect(emu, key="nobody").fetch_balance({"type": "spot"})
    with pytest.raises(ccxt.AuthenticationError, match="-1022"):
        connect(emu, secret="wrong").fetch_balance({"type": "spot"})


def test_a_skewed_clock_fails_the_recv_window_until_the_client_syncs() -> None:
    clock = EmulatorClock(offset_ms=-60_000)  # the exchange a minute behind this machine
    with BinanceEmulator(clock=clock) as emu:
        exchange = ccxt.binance(
            {
                "apiKey": "test-key",
                "secret": "test-secret",
                "enableRateLimit": False,
                "options": {
                    "fetchMarkets": {"types": ["spot", "linear"]},
                    "fetchCurrencies": False,
                    "fetchMargins": False,
                },
            }
        )
        point_ccxt_at(exchange, emu.url)
        with pytest.raises(ccxt.InvalidNonce, match="-1021"):
            exchange.fetch_balance({"type": "spot"})
        exchange.load_time_difference()
        assert exchange.fetch_balance({"type": "spot"})["USDT"]["free"] == 10_000


def test_api_key_permissions() -> None:
    keys = {"reader": EmulatedKey("s", enable_futures=False, enable_spot=False)}
    with BinanceEmulator(clock=EmulatorClock.running_from(START), keys=keys) as emu:
        exchange = connect(emu, key="reader", secret="s")
        rights = exchange.sapi_get_account_apirestrictions()
        assert rights["enableWithdrawals"] is False and rights["enableReading"] is True
        assert rights["enableFutures"] is False
        with pytest.raises(ccxt.AuthenticationError, match="-2015"):
            exchange.fetch_balance({"type": "future"})
        with pytest.raises(ccxt.AuthenticationError, match="-2015"):
            exchange.create_order(BTC, "market", "buy", 0.001)


# -- account -----------------------------------------------------------------------------------


def test_spot_and_futures_are_separate_wallets() -> None:
    balances = {"USDT": Decimal(500), "BTC": Decimal("0.5")}
    clock = EmulatorClock.running_from(START)
    with BinanceEmulator(clock=clock, spot_balances=balances, futures_usdt=Decimal(2000)) as emu:
        exchange = connect(emu)
        spot = exchange.fetch_balance({"type": "spot"})
        assert (spot["USDT"]["free"], spot["BTC"]["free"]) == (500, 0.5)
        futures = exchange.fetch_balance({"type": "future"})
        assert futures["USDT"]["total"] == 2000 and futures["USDT"]["free"] == 2000
        assert "BTC" not in futures


def test_futures_settings_say_when_there_is_nothing_to_change(ex: ccxt.binance) -> None:
    assert ex.fetch_position_mode()["hedged"] is False
    with pytest.raises(ccxt.OperationRejected, match="-4059"):
        ex.set_position_mode(False, BTC_PERP)
    assert ex.set_margin_mode("isolated", SOL_PERP)["code"] == 200
    with pytest.raises(ccxt.MarginModeAlreadySet, match="-4046"):
        ex.set_margin_mode("isolated", SOL_PERP)
    assert ex.set_leverage(3, SOL_PERP)["leverage"] == 3
    with pytest.raises(ccxt.BadRequest, match="-4028"):
        ex.set_leverage(125, SOL_PERP)  # SOL's first bracket allows 100x (Binance's, fra/data)


def test_spot_buy_pays_its_fee_in_the_coin_bought(ex: ccxt.binance) -> None:
    order = ex.create_order(BTC, "market", "buy", 0.01, None, {"newClientOrderId": "buy-1"})
    assert order["status"] == "closed" and order["filled"] == 0.01
    assert order["fee"] == {"currency": "BTC", "cost": 0.00001}
    fills = order["info"]["fills"]
    assert all(f["commissionAsset"] == "BTC" for f in fills)
    balance = ex.fetch_balance({"type": "spot"})
    assert balance["BTC"]["free"] == pytest.approx(0.00999)
    assert balance["USDT"]["free"] == pytest.approx(10_000 - order["cost"])
    sell = ex.create_order(BTC, "market", "sell", 0.009, None, {"newClientOrderId": "sell-1"})
    assert sell["fee"]["currency"] == "USDT"


def test_perp_short_with_isolated_margin(ex: ccxt.binance) -> None:
    order = short_isolated(ex, SOL_PERP, 10, 2, "short-1")
    assert order["status"] == "closed" and order["filled"] == 10
    [position] = ex.fetch_positions([SOL_PERP])
    summary = (position["side"], position["contracts"], position["marginMode"])
    assert summary == ("short", 10, "isolated")
    notional = 10 * order["average"]
    assert float(position["info"]["isolatedWallet"]) == pytest.approx(notional / 2)
    assert position["liquidationPrice"] > order["average"] * 1.4
    assert float(position["info"]["positionAmt"]) == -10
    [v2] = ex.fetch_positions([SOL_PERP], {"useV2": True})
    assert (v2["leverage"], v2["info"]["marginType"]) == (2, "isolated")
    fee = notional * 0.0005
    assert futures_wallet(ex) == pytest.approx(10_000 - fee, abs=1e-6)
    free = ex.fetch_balance({"type": "future"})["USDT"]["free"]
    assert free == pytest.approx(10_000 - fee - notional / 2, abs=1e-6)
    close = ex.create_order(
        SOL_PERP, "market", "buy", 10, None, {"newClientOrderId": "close-1", "reduceOnly": True}
    )
    assert close["status"] == "closed" and ex.fetch_positions([SOL_PERP]) == []


def test_orders_are_found_by_client_id(ex: ccxt.binance) -> None:
    ex.create_order(BTC, "market", "buy", 0.001, None, {"newClientOrderId": "find-spot"})
    short_isolated(ex, SOL_PERP, 1, 5, "find-perp")
    spot = ex.fetch_order(None, BTC, {"origClientOrderId": "find-spot"})
    perp = ex.fetch_order(None, SOL_PERP, {"origClientOrderId": "find-perp"})
    assert (spot["clientOrderId"], spot["status"], spot["side"]) == ("find-spot", "closed", "buy")
    assert (perp["clientOrderId"], perp["filled"], perp["side"]) == ("find-perp", 1, "sell")
    assert ex.fetch_order(perp["id"], SOL_PERP)["clientOrderId"] == "find-perp"
    with pytest.raises(ccxt.OrderNotFound, match="-2013"):
        ex.fetch_order(None, SOL_PERP, {"origClientOrderId": "never-sent"})


def test_a_client_id_is_unique_among_open_orders(ex: ccxt.binance) -> None:
    low = ex.fetch_order_book(SOL, 5)["bids"][-1][0] * 0.9
    resting = ex.create_order(SOL, "limit", "buy", 1, low, {"newClientOrderId": "rest-1"})
    assert resting["status"] == "open"
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        ex.create_order(SOL, "limit", "buy", 1, low, {"newClientOrderId": "rest-1"})
    assert [o["clientOrderId"] for o in ex.fetch_open_orders(SOL)] == ["rest-1"]
    assert ex.fetch_balance({"type": "spot"})["USDT"]["used"] == resting["price"]
    canceled = ex.cancel_order(None, SOL, {"origClientOrderId": "rest-1"})
    assert canceled["status"] == "canceled" and ex.fetch_open_orders(SOL) == []

    perp_low = round(ex.fetch_order_book(SOL_PERP, 5)["bids"][-1][0] * 0.9, 2)
    ex.create_order(SOL_PERP, "limit", "buy", 1, perp_low, {"newClientOrderId": "rest-2"})
    with pytest.raises(ccxt.InvalidOrder, match="-4116"):
        ex.create_order(SOL_PERP, "limit", "buy", 1, perp_low, {"newClientOrderId": "rest-2"})
    # Binance checks open orders only: a filled order's id makes a new order when sent again.
    ex.create_order(BTC, "market", "buy", 0.001, None, {"newClientOrderId": "again"})
    ex.create_order(BTC, "market", "buy", 0.001, None, {"newClientOrderId": "again"})
    assert ex.fetch_balance({"type": "spot"})["BTC"]["free"] == pytest.approx(0.002 * 0.999)


def test_real_rejections(ex: ccxt.binance) -> None:
    with pytest.raises(ccxt.InsufficientFunds):
        ex.create_order(BTC, "market", "buy", 1)  # ~65k USDT, 10k held
    with pytest.raises(ccxt.InsufficientFunds, match="-2019"):
        ex.create_order(BTC_PERP, "market", "sell", 5)  # 20x of 10k is 200k notional
    with pytest.raises(ccxt.BadRequest, match="NOTIONAL"):
        ex.create_order(BTC, "market", "buy", 0.00002)
    with pytest.raises(ccxt.InvalidOrder, match="-4164"):
        ex.create_order(SOL_PERP, "market", "sell", 0.01)
    with pytest.raises(ccxt.InvalidOrder, match="-2022"):
        ex.create_order(SOL_PERP, "market", "buy", 1, None, {"reduceOnly": True})


def test_funding_is_paid_to_a_short_at_each_settlement(
    emu: BinanceEmulator, ex: ccxt.binance
) -> None:
    short_isolated(ex, SOL_PERP, 10, 2, "carry-1")
    before = futures_wallet(ex)
    advance(emu, ex, 8 * HOUR_MS)
    payments = ex.fetch_funding_history(SOL_PERP, START)
    settled = sim_at(START).funding_history(SOL_PERP, START, START + 8 * HOUR_MS)
    assert len(payments) == len(settled) >= 1
    for payment, s in zip(payments, settled, strict=True):
        assert payment["timestamp"] == s.time_ms
        assert payment["amount"] == pytest.approx(float(10 * s.mark_price * s.rate), abs=1e-8)
    assert futures_wallet(ex) - before == pytest.approx(
        sum(p["amount"] for p in payments), abs=1e-6
    )


def test_a_price_shock_liquidates_an_isolated_short_even_between_requests() -> None:
    clock = EmulatorClock.running_from(START)
    with BinanceEmulator(clock=clock, shocks=[parse_shock(SHOCK)]) as emu:
        exchange = connect(emu)
        order = short_isolated(exchange, SOL_PERP, 10, 5, "doomed")
        margin = 10 * order["average"] / 5
        # Past the shock's end: the price is back, but the position went on the way up.
        advance(emu, exchange, 12 * HOUR_MS)
        assert exchange.fetch_positions([SOL_PERP]) == []
        [liquidation] = exchange.fetch_my_liquidations(SOL_PERP)
        assert liquidation["contracts"] == 10 and liquidation["price"] > order["average"] * 1.15
        [forced] = exchange.fapiPrivateGetForceOrders({"symbol": "SOLUSDT"})
        assert forced["clientOrderId"].startswith("autoclose-") and forced["side"] == "BUY"
        shock_start = parse_shock(SHOCK).start_ms
        assert shock_start < liquidation["timestamp"] < shock_start + 6 * HOUR_MS
        funding = sum(p["amount"] for p in exchange.fetch_funding_history(SOL_PERP, START))
        fee = 10 * order["average"] * 0.0005
        wallet = futures_wallet(exchange)
        assert wallet == pytest.approx(10_000 - fee - margin + funding, abs=1e-6)


def test_delisting(emu: BinanceEmulator, ex: ccxt.binance) -> None:
    short_isolated(ex, SOL_PERP, 1, 5, "before-delist")
    emu.delist(SOL_PERP, "SETTLING")
    ex.load_markets(reload=True)
    assert ex.markets[SOL_PERP]["active"] is False
    with pytest.raises(ccxt.BadRequest, match="-4140"):
        ex.create_order(SOL_PERP, "market", "sell", 1)
    ex.create_order(SOL_PERP, "market", "buy", 1, None, {"reduceOnly": True})  # closing is fine
    emu.delist("ETH/USDT:USDT", remove=True)
    assert "ETH/USDT:USDT" not in ex.load_markets(reload=True)


# -- faults ------------------------------------------------------------------------------------


def test_a_timeout_fault_times_the_client_out_but_the_order_went_through(
    emu: BinanceEmulator, ex: ccxt.binance
) -> None:
    emu.inject(Fault("/fapi/v1/order", "POST", "timeout", seconds=1.0))
    ex.timeout = 300
    with pytest.raises(ccxt.RequestTimeout):
        ex.create_order(SOL_PERP, "market", "sell", 1, None, {"newClientOrderId": "slow-1"})
    ex.timeout = 3000
    assert ex.fetch_order(None, SOL_PERP, {"origClientOrderId": "slow-1"})["status"] == "closed"


def test_drop_after_places_the_order_and_never_answers(
    emu: BinanceEmulator, ex: ccxt.binance
) -> None:
    emu.inject(Fault("/api/v3/order", "POST", "drop_after"))
    with pytest.raises(ccxt.NetworkError):
        ex.create_order(BTC, "market", "buy", 0.001, None, {"newClientOrderId": "lost-1"})
    found = ex.fetch_order(None, BTC, {"origClientOrderId": "lost-1"})
    assert (found["status"], found["filled"]) == ("closed", 0.001)
    assert emu.requests[-2].status == 0  # recorded as answered by nothing


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("http_429", ccxt.DDoSProtection),
        ("http_5xx", ccxt.OperationFailed),
        ("maintenance", ccxt.OnMaintenance),
    ],
)
def test_answering_faults_raise_what_binance_would(
    emu: BinanceEmulator, ex: ccxt.binance, kind: str, error: type[Exception]
) -> None:
    emu.inject(Fault("/fapi/v1/premiumIndex", None, kind, times=2))  # type: ignore[arg-type]
    for _ in range(2):
        with pytest.raises(error):
            ex.fetch_funding_rate(SOL_PERP)
    assert ex.fetch_funding_rate(SOL_PERP)["fundingRate"] is not None  # gone after two
    if kind == "http_429":
        assert emu.requests[-2].status == 429


def test_reject_faults_are_order_rejections(emu: BinanceEmulator, ex: ccxt.binance) -> None:
    emu.inject(Fault("/fapi/v1/order", "POST", "reject", code=-2019, msg="Margin is insufficient."))
    with pytest.raises(ccxt.InsufficientFunds):
        ex.create_order(SOL_PERP, "market", "sell", 1, None, {"newClientOrderId": "no-1"})
    emu.inject(Fault("/api/v3/order", "POST", "reject"))
    with pytest.raises(ccxt.InsufficientFunds):
        ex.create_order(SOL, "market", "buy", 1, None, {"newClientOrderId": "no-2"})
    with pytest.raises(ccxt.OrderNotFound):
        ex.fetch_order(None, SOL_PERP, {"origClientOrderId": "no-1"})  # nothing was placed


def test_partial_fault_fills_a_share_and_expires_the_rest(
    emu: BinanceEmulator, ex: ccxt.binance
) -> None:
    emu.inject(Fault("/fapi/v1/order", "POST", "partial", fraction=Decimal("0.3")))
    order = ex.create_order(SOL_PERP, "market", "sell", 10, None, {"newClientOrderId": "part-1"})
    assert (order["status"], order["filled"], order["amount"]) == ("expired", 3, 10)
    assert ex.fetch_positions([SOL_PERP])[0]["contracts"] == 3


def test_delay_fault_holds_the_request_before_carrying_it_out(
    emu: BinanceEmulator, ex: ccxt.binance
) -> None:
    emu.inject(Fault("/api/v3/order", "POST", "delay", seconds=0.4))
    began = time.perf_counter()
    order = ex.create_order(BTC, "market", "buy", 0.001, None, {"newClientOrderId": "late-1"})
    assert time.perf_counter() - began >= 0.4 and order["status"] == "closed"


def test_unimplemented_paths_say_so(ex: ccxt.binance) -> None:
    with pytest.raises(ccxt.ExchangeError, match="/fapi/v1/openInterest is not implemented"):
        ex.fapiPublicGetOpenInterest({"symbol": "BTCUSDT"})


def test_trading_fees_and_leverage_tiers(ex: ccxt.binance) -> None:
    assert ex.fetch_trading_fees()[BTC]["taker"] == 0.001
    assert ex.fetch_trading_fee(BTC_PERP)["taker"] == 0.0005
    tiers = ex.fetch_leverage_tiers([SOL_PERP])[SOL_PERP]
    # Binance's own brackets for SOL (fra/data/binance_brackets.json): 100x and 0.5 % first.
    assert tiers[0]["maxLeverage"] == 100 and tiers[0]["maintenanceMarginRate"] == 0.005
    assert tiers[1]["minNotional"] == tiers[0]["maxNotional"]


def test_requests_are_recorded_for_benchmarks(emu: BinanceEmulator, ex: ccxt.binance) -> None:
    count = len(emu.requests)
    ex.fetch_funding_rates()
    [record] = emu.requests[count:]
    assert (record.method, record.path, record.status) == ("GET", "/fapi/v1/premiumIndex", 200)
    assert record.response_bytes > 1000


def test_standalone_server_prints_its_url_and_key() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "fra.emulator", "--port", "0", "--seed", "7"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        url = lines[0].split()[-1]
        assert url.startswith("http://127.0.0.1:")
        assert "test-key" in lines[1] and "test-secret" in lines[2]
        exchange = ccxt.binance({"enableRateLimit": False})
        point_ccxt_at(exchange, url)
        assert exchange.fetch_time() > 0
    finally:
        process.terminate()
        process.wait(timeout=5)
