"""The emulator's catalogue beyond the simulated venue: what makes it look like Binance's.

A real Binance answer is not tidy: hundreds of symbols, most of which fra must leave alone.
Besides the simulated market's 29 perpetuals and 28 spot pairs the emulator lists:

* perpetuals counted in units of a thousand (or a million) coins whose spot pair is the coin
  itself (`1000FLOKIUSDT` / `FLOKIUSDT`, as `1000PEPEUSDT` / `PEPEUSDT` in the simulation), and
  two whose spot pair carries the prefix too (`1000SATSUSDT`, `1MBABYDOGEUSDT`);
  `1000RATSUSDT` has no spot pair at all;
* about eighty more coins with a perpetual and a spot pair, with volumes below fra's default
  minimum (the long tail every real listing has);
* symbols that do not trade: perpetuals SETTLING after a delisting (their spot pairs in
  BREAK), one PENDING_TRADING before its launch, and a perpetual whose spot pair is in BREAK;
* USDC-margined perpetuals, and spot pairs quoted in BTC, ETH, BNB, USDC, FDUSD, TRY, EUR, BRL
  and JPY.

Each follows a simulated market at a fixed price factor (fra.emulator.derived); the dated
quarterly contracts are added by the catalogue itself (their delivery dates follow the clock).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterator
from decimal import Decimal
from typing import NamedTuple

from fra.core.models import Market, MarketType
from fra.emulator.derived import Derived, ListedMarket
from fra.venues.simulated import SimulatedMarket

TRADING = "TRADING"
SETTLING = "SETTLING"  # futures: delisted, settling open positions
PENDING_TRADING = "PENDING_TRADING"  # futures: listed, trading not started
BREAK = "BREAK"  # spot: trading halted (delisted)
SPOT_PRICE_STEP = Decimal("0.00000001")  # Binance's spot answers carry eight decimals
SPOT_FEE = Decimal("0.001")

# Quote currency units per USDT, for pairs quoted in something else (prices at early 2026).
QUOTE_PER_USDT = {
    "USDT": Decimal(1),
    "USDC": Decimal(1),
    "FDUSD": Decimal(1),
    "BTC": Decimal("0.0000154"),
    "ETH": Decimal("0.000526"),
    "BNB": Decimal("0.00168"),
    "TRY": Decimal(40),
    "EUR": Decimal("0.92"),
    "BRL": Decimal("5.6"),
    "JPY": Decimal(150),
}

# The simulated coins the long tail is priced off: (price level, perp and spot 24h volume),
# as fra.venues.simulated sets them; used only to pick each coin's factor and volume share.
_SOURCES = {
    "ETH": (1900.0, 1.0e10, 1.5e9),
    "SOL": (82.0, 2.2e9, 6.0e8),
    "LINK": (8.474, 1.3e8, 3.5e7),
    "ADA": (0.2659, 1.6e8, 4.0e7),
    "XRP": (1.365, 1.0e9, 4.0e8),
    "DOGE": (0.0928, 4.8e8, 1.5e8),
}

# The long tail: coin and price level (Binance's, early 2026, roughly). Each gets a perpetual
# and a spot pair, with a few million USDT of daily volume.
_TAIL = (
    ("AAVE", 180), ("ALGO", 0.12), ("APE", 0.45), ("AXS", 1.8), ("BCH", 350), ("CAKE", 1.9),
    ("CRV", 0.5), ("DYDX", 0.45), ("EGLD", 14), ("ENS", 12), ("ETC", 13), ("FET", 0.45),
    ("FIL", 2.2), ("GALA", 0.012), ("GRT", 0.08), ("HBAR", 0.16), ("ICP", 4.5), ("IMX", 0.5),
    ("JASMY", 0.008), ("JUP", 0.4), ("LDO", 0.9), ("MANA", 0.25), ("NEO", 5.5), ("ONDO", 0.7),
    ("PENDLE", 3.2), ("RENDER", 3.1), ("RUNE", 1.1), ("SAND", 0.25), ("STX", 0.6),
    ("THETA", 0.7), ("TRB", 25), ("VET", 0.022), ("WLD", 0.8), ("XLM", 0.25), ("XTZ", 0.55),
    ("ZEC", 55), ("ZRO", 2.1), ("ENA", 0.35), ("ETHFI", 0.9), ("STRK", 0.14), ("PYTH", 0.1),
    ("BLUR", 0.08), ("PEOPLE", 0.02), ("BOME", 0.0012), ("NOT", 0.0018), ("KAVA", 0.3),
    ("ROSE", 0.03), ("CHZ", 0.035), ("ENJ", 0.06), ("COMP", 40), ("SNX", 0.7), ("1INCH", 0.2),
    ("SUSHI", 0.6), ("YFI", 4800), ("ZIL", 0.01), ("IOTA", 0.17), ("QTUM", 2.1), ("ONT", 0.12),
    ("ICX", 0.1), ("KSM", 14), ("CELO", 0.3), ("FLOW", 0.35), ("MINA", 0.2), ("AR", 5.5),
    ("ANKR", 0.015), ("STORJ", 0.25), ("BAND", 0.6), ("MASK", 1.1), ("LRC", 0.08),
    ("COTI", 0.05), ("RSR", 0.006), ("CFX", 0.08), ("ID", 0.15), ("ARKM", 0.4), ("SSV", 7),
    ("JTO", 1.5), ("W", 0.08), ("TNSR", 0.15),
)  # fmt: skip
# Perpetual only: no spot pair on the exchange (1000RATS: a 1000-unit perpetual without one).
_PERP_ONLY = (("MYRO", 0.02), ("LEVER", 0.0003), ("1000RATS", 0.04))
# (coin, price, status of the perpetual, status of the spot pair)
_NOT_TRADING = (
    ("ALPACA", 0.03, SETTLING, BREAK),
    ("OCEAN", 0.25, SETTLING, BREAK),
    ("BSW", 0.02, TRADING, BREAK),  # the spot pair was delisted, the perpetual trades on
    ("NIGHT", 0.5, PENDING_TRADING, None),  # a launch: no spot pair yet
)
_BTC_QUOTED = ("ETH", "SOL", "BNB", "XRP", "DOGE", "ADA", "AVAX", "LINK", "DOT", "LTC", "UNI",
               "ATOM", "ARB", "POL", "SUI", "NEAR", "APT", "OP", "INJ", "TRX")  # fmt: skip
_OTHER_QUOTES = {
    "USDC": ("BTC", "ETH", "SOL", "BNB", "XRP", "DOGE", "ADA", "AVAX", "LINK", "SUI", "PEPE",
             "WIF"),
    "FDUSD": ("BTC", "ETH", "SOL", "BNB", "XRP", "DOGE", "PEPE", "SUI"),
    "ETH": ("BNB", "LINK", "ADA", "XRP"),
    "BNB": ("SOL", "XRP", "ADA"),
    "TRY": ("BTC", "ETH", "SOL", "XRP", "DOGE"),
    "EUR": ("BTC", "ETH", "SOL", "XRP"),
    "BRL": ("BTC", "ETH"),
    "JPY": ("BTC", "ETH"),
}  # fmt: skip
_USDC_PERPS = ("BTC", "ETH", "SOL", "BNB", "XRP", "DOGE", "1000PEPE")


class Extra(NamedTuple):
    """One market the simulation does not have, and what it follows."""

    symbol: str  # ccxt's unified symbol: COIN/QUOTE (spot) or COIN/QUOTE:QUOTE (perpetual)
    source: str  # the simulated market it follows
    coin_factor: Decimal  # the price of one of its coins (units), in the source's coins
    share: Decimal  # its 24h volume and book depth as a share of the source's
    status: str = TRADING


def _d(value: float) -> Decimal:
    """A float factor as a Decimal of three significant digits (tidy prices)."""
    return Decimal(f"{value:.3g}")


def _log_uniform(name: str, low: float, high: float) -> float:
    """A value in [low, high), fixed per name (log-uniform): volumes that vary like real ones."""
    u = zlib.crc32(name.encode()) / 2**32
    return low * (high / low) ** u


def _tail(coin: str, price: float, i: int, spot: bool = True) -> Iterator[Extra]:
    """A long-tail coin's perpetual and spot pair, priced off one of the two simulated coins
    nearest its price level (every other coin the second, so that they do not all move as one)."""
    sources = sorted(_SOURCES, key=lambda s: abs(math.log(_SOURCES[s][0] / price)))[:2]
    source = sources[i % 2]
    level, perp_volume, spot_volume = _SOURCES[source]
    factor = _d(price / level)
    yield Extra(
        f"{coin}/USDT:USDT",
        f"{source}/USDT:USDT",
        factor,
        _d(_log_uniform(coin, 2e6, 1.8e7) / perp_volume),
    )
    if spot:
        yield Extra(
            f"{coin}/USDT",
            f"{source}/USDT",
            factor,
            _d(_log_uniform(coin + "/spot", 3e5, 5e6) / spot_volume),
        )


def extras() -> list[Extra]:
    out = [
        # 1000-unit perpetuals hedged with the coin's own spot pair (1000PEPE and 1000SHIB's
        # spot pairs are the simulation's own).
        Extra("BONK/USDT", "1000BONK/USDT:USDT", Decimal("0.001"), Decimal("0.6")),
        Extra("1000FLOKI/USDT:USDT", "DOGE/USDT:USDT", Decimal("0.54"), Decimal("0.2")),
        Extra("FLOKI/USDT", "DOGE/USDT", Decimal("0.00054"), Decimal("0.15")),
        Extra("1000LUNC/USDT:USDT", "ADA/USDT:USDT", Decimal("0.15"), Decimal("0.2")),
        Extra("LUNC/USDT", "ADA/USDT", Decimal("0.00015"), Decimal("0.25")),
        Extra("1000XEC/USDT:USDT", "TRX/USDT:USDT", Decimal("0.044"), Decimal("0.1")),
        Extra("XEC/USDT", "TRX/USDT", Decimal("0.000044"), Decimal("0.05")),
        # Prefixed on both markets: the spot coin is 1000SATS (1MBABYDOGE), not SATS.
        Extra("1000SATS/USDT:USDT", "ORDI/USDT:USDT", Decimal("0.0001"), Decimal(2)),
        Extra("1000SATS/USDT", "ORDI/USDT", Decimal("0.0001"), Decimal(10)),
        Extra("1MBABYDOGE/USDT:USDT", "DOGE/USDT:USDT", Decimal("0.016"), Decimal("0.05")),
        Extra("1MBABYDOGE/USDT", "DOGE/USDT", Decimal("0.016"), Decimal("0.1")),
    ]
    for i, (coin, price) in enumerate(_TAIL):
        out += _tail(coin, price, i)
    for i, (coin, price) in enumerate(_PERP_ONLY):
        out += _tail(coin, price, i, spot=False)
    for i, (coin, price, perp_status, spot_status) in enumerate(_NOT_TRADING):
        perp, *spot = _tail(coin, price, i, spot=spot_status is not None)
        out.append(perp._replace(status=perp_status))
        out += [s._replace(status=spot_status or TRADING) for s in spot]
    for coin in _USDC_PERPS:
        out.append(Extra(f"{coin}/USDC:USDC", f"{coin}/USDT:USDT", Decimal(1), Decimal("0.05")))
    quoted = {"BTC": _BTC_QUOTED, **_OTHER_QUOTES}
    for quote, coins in quoted.items():
        share = Decimal("0.1") if quote in ("USDC", "FDUSD") else Decimal("0.01")
        for coin in coins:
            out.append(Extra(f"{coin}/{quote}", f"{coin}/USDT", Decimal(1), share))
    return out


def _floor_power_of_ten(value: Decimal) -> Decimal:
    return Decimal(1).scaleb(math.floor(math.log10(value)))


def _nearest_power_of_ten(value: Decimal) -> Decimal:
    return Decimal(1).scaleb(round(math.log10(value)))


def derive(extra: Extra, source: Market) -> Derived:
    """The extra market's trading rules and factors, from its source's."""
    pair, _, settle = extra.symbol.partition(":")
    base, quote = pair.split("/")
    perp = bool(settle)
    rate = QUOTE_PER_USDT[quote]
    price_factor = extra.coin_factor * rate
    price_step = _floor_power_of_ten(source.price_step * price_factor)
    if not perp:
        price_step = max(price_step, SPOT_PRICE_STEP)
    amount_step = _floor_power_of_ten(source.amount_step / extra.coin_factor)
    market = source._replace(
        symbol=extra.symbol,
        type=MarketType.PERP if perp else MarketType.SPOT,
        base=base,
        quote=quote,
        amount_step=amount_step,
        min_amount=amount_step,
        price_step=price_step,
    )
    if perp:
        if quote != "USDT":
            market = market._replace(min_notional=Decimal(5))
    else:
        # Binance's minimum order is about 5 USDT's worth in every quote (0.0001 BTC).
        market = market._replace(
            min_notional=Decimal(5) if rate == 1 else _nearest_power_of_ten(5 * rate),
            taker_fee=SPOT_FEE,
            maker_fee=SPOT_FEE,
            maintenance_margin_rate=Decimal(0),
            max_leverage=1,
        )
    return Derived(market, extra.source, price_factor, extra.share * rate)


def statuses() -> dict[str, str]:
    """The status of each extra market that does not trade, by unified symbol."""
    return {e.symbol: e.status for e in extras() if e.status != TRADING}


def listed_market(sim: SimulatedMarket) -> ListedMarket:
    """The simulated market with every extra market of the catalogue."""
    markets = sim.markets()
    derived = {e.symbol: derive(e, markets[e.source]) for e in extras()}
    return ListedMarket(sim, derived)
