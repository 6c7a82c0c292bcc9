"""The simulated venue: an offline market that looks like Binance USDⓈ-M plus spot.

Everything is a pure function of (seed, time, shocks): no state is kept between calls and nothing
touches the network, so two processes with the same seed agree on every price, and the market
"evolves" between one-shot CLI invocations only because the clock moves.

How it is built, and why:

* Noise is hash-based value noise: Gaussian knots come from blake2b digests of (seed, asset,
  octave, knot block), linearly interpolated, so any quantity can be evaluated at any time in
  O(1) without replaying history. Octaves whose spacings grow 6-8x (5 minutes to 2 months)
  with amplitudes growing as sqrt(spacing) make log prices behave like a random walk from
  minutes to months, yet stay bounded around a realistic level over years. A slow volatility
  regime scales the short octaves: calm and wild eras, hence fat tails.
* Rare things (price squeezes and crashes, high- or negative-funding regimes, extreme-funding
  episodes that shorten the funding interval) are found by hashing fixed-size time buckets near
  t; each lasts a bounded time, so only a few buckets need to be looked back at.
* Funding follows Binance's formula on a latent premium P (8h-equivalent):
  F = P + clamp(I - P, +-0.0005), scaled by interval/8, capped per symbol. That is what makes so
  many real prints exactly 0.0001 per 8h. The predicted rate averages the premium samples taken
  so far in the interval, so it converges to the settled rate. The perp trades at the index
  times (1 + the current 8h-equivalent funding), so basis and funding agree in sign.
* `funding_noise` (0..1) adds to each settled print a mean-zero part of its own, hashed from
  (seed, asset, settlement time): 0 leaves the prints as smooth as Binance's (lag-1
  autocorrelation ~0.75), 1 makes them as jumpy as the noisiest real venues' (~0.3). Prices
  and the basis do not see it.
* The constants were fitted to Binance's 2020-2026 history: bench/sim_calibration.py prints
  the comparison.
"""

from __future__ import annotations

import hashlib
import math
import re
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

from fra.core.history import Bar
from fra.core.models import (
    HOUR_MS,
    FundingQuote,
    FundingSettlement,
    Market,
    MarketType,
    OrderBook,
    Ticker,
)

__all__ = ["BAR_MS", "SIM_EXCHANGE", "Shock", "SimulatedMarket", "parse_shock"]

MINUTE_MS = 60_000
DAY_MS = 24 * HOUR_MS
YEAR_MS = 365 * DAY_MS
_M64 = (1 << 64) - 1
_TWO_PI = 2.0 * math.pi
_INV32 = 1.0 / 4294967296.0
_INV53 = 1.0 / 9007199254740992.0
BAR_MS = 8 * HOUR_MS  # the bar length the backtest reads
BAR_SAMPLES = 16  # mid prices sampled per bar for its high and low (plus the close)
SIM_EXCHANGE = "sim"  # the exchange name of the simulated market's history in history.db


def _system_ms() -> int:
    return time.time_ns() // 1_000_000


# ---------------------------------------------------------------------------------------------
# Hash noise


def _key(seed: int, *parts: str) -> int:
    digest = hashlib.blake2b("|".join((str(seed), *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _mix(x: int) -> int:
    """splitmix64's finaliser: sequential inputs give independent-looking 64-bit outputs."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _unit(h: int) -> float:
    """Uniform in [0, 1) from the top 53 bits."""
    return (h >> 11) * _INV53


def _gauss(h: int) -> float:
    """Standard normal from one 64-bit hash (Box-Muller on its two 32-bit halves)."""
    u1 = ((h >> 32) + 0.5) * _INV32
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(_TWO_PI * (h & 0xFFFFFFFF) * _INV32)


def _smooth(x: float) -> float:
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    return x * x * (3.0 - 2.0 * x)


# ---------------------------------------------------------------------------------------------
# The universe


# Internal records are NamedTuples: a slotted dataclass costs ~2 ms to create at import time.
class _Asset(NamedTuple):
    base: str
    price: float  # level the index wanders around (Binance, early 2026 where known)
    vol8h: float  # target std of 8h log returns of the diffusive part
    perp_volume: float  # typical 24h quote volume of the perp
    spot_volume: float  # of the spot; 0: no spot market (the 1000x memecoin perps)
    perp_spread_bp: float
    spot_spread_bp: float
    interval_h: int
    tier: str
    events_per_year: float  # sharp squeezes/crashes
    event_size: float  # typical |relative move| of one
    tilt: float  # shifts the funding pressure (sigma units): + pays more, - pays less
    amp: float  # scales the premium's excursions from idle
    regimes_per_year: float  # multi-day high/negative funding regimes
    interest8: float = 0.0001
    episode_interval_h: int = 0  # > 0: extreme-funding episodes switch to this interval


# tier -> (maintenance margin rate, max leverage, funding cap per interval, perp min notional)
_TIERS: dict[str, tuple[str, int, str, str]] = {
    "major": ("0.004", 125, "0.0075", "100"),
    "large": ("0.005", 75, "0.02", "5"),
    "mid": ("0.01", 50, "0.02", "5"),
    "small": ("0.015", 25, "0.03", "5"),
    "meme": ("0.025", 20, "0.03", "5"),
}

# Columns: base, index price, 8h vol, perp and spot 24h volume (0: no spot), perp and spot
# spread bp, funding interval h, tier, sharp events per year, their typical size, funding tilt
# (sigma units: + pays more), premium amplitude, high/negative-funding regimes per year.
# Prices are Binance's of Feb 2026 where the shared data has them; vols follow its 8h returns.
_A = _Asset
# fmt: off
_ASSETS: tuple[_Asset, ...] = (
    _A("BTC", 65000.0, 0.017, 1.4e10, 2.2e9, 0.15, 0.2, 8, "major", 1.0, 0.10, 0.0, 0.9, 2.0),
    _A("ETH", 1900.0, 0.0225, 1.0e10, 1.5e9, 0.3, 0.4, 8, "major", 1.5, 0.12, 0.1, 0.8, 2.5),
    _A("SOL", 82.0, 0.033, 2.2e9, 6.0e8, 0.8, 1.0, 8, "large", 2.0, 0.18, 0.0, 1.0, 3.0,
       episode_interval_h=4),
    _A("BNB", 596.0, 0.0225, 5.0e8, 3.0e8, 0.6, 0.8, 8, "large", 1.0, 0.12, 0.0, 0.9, 2.0,
       interest8=0.0),
    _A("XRP", 1.365, 0.028, 1.0e9, 4.0e8, 0.8, 1.0, 8, "large", 2.0, 0.20, 0.1, 1.0, 3.0),
    _A("DOGE", 0.0928, 0.034, 4.8e8, 1.5e8, 1.0, 1.2, 8, "large", 2.5, 0.25, 0.2, 1.1, 3.5),
    _A("ADA", 0.2659, 0.028, 1.6e8, 4.0e7, 1.5, 2.0, 8, "mid", 2.0, 0.22, 0.1, 1.0, 3.5),
    _A("AVAX", 8.571, 0.033, 1.4e8, 3.0e7, 1.5, 2.0, 8, "mid", 2.0, 0.22, -0.1, 1.0, 3.5),
    _A("LINK", 8.474, 0.03, 1.3e8, 3.5e7, 1.5, 2.0, 8, "mid", 2.0, 0.22, 0.1, 1.0, 3.5),
    _A("DOT", 1.267, 0.029, 8.2e7, 1.5e7, 2.0, 3.0, 8, "mid", 2.0, 0.22, -0.2, 1.0, 3.5),
    _A("LTC", 52.69, 0.025, 9.3e7, 2.0e7, 2.0, 2.5, 8, "mid", 1.5, 0.20, 0.1, 0.9, 3.0),
    _A("UNI", 3.496, 0.033, 7.2e7, 1.2e7, 2.5, 3.0, 8, "mid", 2.5, 0.25, 0.1, 1.0, 3.5),
    _A("ATOM", 2.034, 0.03, 2.6e7, 4.0e6, 3.0, 4.0, 8, "mid", 2.0, 0.22, -0.2, 1.1, 3.5),
    _A("ARB", 0.0930, 0.027, 4.8e7, 1.0e7, 3.0, 4.0, 8, "mid", 2.0, 0.25, 0.0, 0.9, 3.0),
    _A("POL", 0.1129, 0.025, 3.1e7, 5.0e6, 3.0, 4.0, 4, "mid", 2.0, 0.25, -0.3, 0.9, 3.0),
    _A("SUI", 0.98, 0.035, 4.0e8, 1.2e8, 1.5, 2.0, 8, "mid", 3.0, 0.28, 0.1, 1.1, 4.0),
    _A("NEAR", 1.18, 0.033, 9.0e7, 1.5e7, 2.5, 3.0, 8, "mid", 2.5, 0.25, 0.0, 1.1, 3.5),
    _A("APT", 0.96, 0.034, 6.0e7, 1.0e7, 3.0, 4.0, 8, "mid", 2.5, 0.25, -0.3, 1.2, 4.0),
    _A("OP", 0.35, 0.035, 5.0e7, 8.0e6, 3.0, 4.0, 8, "mid", 2.5, 0.25, -0.1, 1.1, 3.5),
    _A("INJ", 3.52, 0.038, 4.0e7, 6.0e6, 4.0, 6.0, 1, "mid", 3.0, 0.30, -0.2, 1.3, 4.0),
    _A("TRX", 0.272, 0.016, 1.0e8, 6.0e7, 1.5, 2.0, 8, "mid", 0.5, 0.10, -0.3, 0.8, 2.0),
    _A("TON", 1.52, 0.027, 3.0e7, 6.0e6, 4.0, 5.0, 4, "mid", 2.0, 0.22, -0.2, 1.1, 3.5),
    _A("TIA", 0.41, 0.041, 3.0e7, 3.5e6, 5.0, 8.0, 4, "small", 3.5, 0.30, 0.0, 1.3, 4.5),
    _A("SEI", 0.121, 0.041, 2.5e7, 2.5e6, 6.0, 9.0, 8, "small", 3.5, 0.30, -0.3, 1.3, 4.5),
    _A("WIF", 0.252, 0.05, 2.0e8, 2.5e7, 5.0, 7.0, 4, "small", 4.0, 0.35, 0.1, 1.4, 5.0,
       episode_interval_h=1),
    _A("ORDI", 3.05, 0.048, 2.0e7, 1.5e6, 8.0, 12.0, 4, "small", 4.0, 0.35, 0.1, 1.4, 5.0),
    _A("1000PEPE", 0.00452, 0.048, 6.0e8, 0.0, 4.0, 0.0, 8, "meme", 4.5, 0.38, 0.3, 1.4, 5.5),
    _A("1000SHIB", 0.00652, 0.033, 6.0e7, 0.0, 6.0, 0.0, 8, "meme", 3.0, 0.30, 0.2, 1.2, 4.5),
    _A("1000BONK", 0.00748, 0.053, 4.0e7, 0.0, 12.0, 0.0, 1, "meme", 5.0, 0.40, 0.3, 1.5, 6.0),
)
# fmt: on

# Spot-only markets: Binance lists PEPE/USDT but no 1000PEPE/USDT, so the 1000x perps have no
# spot market of their own to hedge with. (symbol's base, underlying asset, price factor,
# 24h quote volume, spread bp, price step, amount step)
_SPOT_ONLY: tuple[tuple[str, str, float, float, float, str, str], ...] = (
    ("PEPE", "1000PEPE", 0.001, 1.5e8, 22.0, "0.00000001", "1"),
    ("SHIB", "1000SHIB", 0.001, 3.0e7, 15.0, "0.00000001", "1"),
)

# Explicit Binance-like steps where it matters; the rest follow the price level.
_STEPS: dict[str, tuple[str, str]] = {  # symbol -> (price step, amount step)
    "BTC/USDT": ("0.01", "0.00001"),
    "BTC/USDT:USDT": ("0.1", "0.001"),
    "ETH/USDT": ("0.01", "0.0001"),
    "ETH/USDT:USDT": ("0.01", "0.001"),
}

_SPOT_FEES = (Decimal("0.001"), Decimal("0.001"))  # taker, maker
_PERP_FEES = (Decimal("0.0005"), Decimal("0.0002"))

# Price octaves: knot spacings from 5 minutes to ~2 months, each 6-8x the previous (4h and up
# are multiples of 4h, so settlement times land on knots: cheaper history). Octaves under a
# day are "fine": scaled by the volatility regime, and the two shortest carry no market factor
# (minute-scale moves are mostly idiosyncratic); the rest make alts drift with BTC.
_PRICE_SPACINGS = (
    5 * MINUTE_MS,
    40 * MINUTE_MS,
    4 * HOUR_MS,
    DAY_MS,
    8 * DAY_MS,
    64 * DAY_MS,
)
_FINE_OCTAVES = 3
_MARKET_BETA = 0.72  # alts share ~half their variance with the market, like real crypto
_PRICE_CAL = 0.88  # fitted so the 8h log-return std matches vol8h (bench/sim_calibration.py)
_VOL_REGIME = 0.6  # log-vol swing of the slow volatility regime: fat tails, calm/wild eras

# Premium (8h-equivalent), fitted to pietroc21 Binance 2020-2026.
_PREMIUM_FLOOR = -0.00045  # Binance's premium index idles slightly negative: F just under I
# The funding pressure y (dimensionless) = tilt + slow octaves + sentiment. Most of the time it
# sits in an idle zone where the premium stays at the floor (arbitrageurs pin the basis), then
# it breaks out: up (long demand) with a long tail, down (short demand) less far. Real Binance
# prints cluster the same way: ~26 % in [0, 0.0001), ~38 % exactly 0.0001, ~20 % negative.
_PRESSURE_SLOW = ((2 * DAY_MS, 0.52), (10 * DAY_MS, 0.52), (40 * DAY_MS, 0.36))
_SENT_W = 0.6  # weight of the market-wide sentiment (20d, 80d octaves shared by every perp)
_IDLE_LO, _IDLE_HI = -0.5, 0.0
_UP = 0.0009  # premium per unit of pressure above the idle zone (x amp)
_DOWN = 0.00025  # ... below it
# Fast octaves (2h, 8h; sampled about once per knot, so nearly fresh every settlement) add
# noise growing with the excursion: real funding is jumpy exactly when it is far from idle.
# Together with the slow octaves they set the lag-1 autocorrelation.
_PREMIUM_FAST = ((2 * HOUR_MS, 1.0), (8 * HOUR_MS, 0.5))
_FAST_BASE = 0.00006  # x amp
_FAST_REL = 0.34  # x |excursion|
_BASIS_CAP = 0.03
# The print noise at funding_noise = 1 (8h-equivalent std: base x amp + rel x |excursion|),
# fitted so the median lag-1 autocorrelation of consecutive prints falls from ~0.75 (Binance)
# to ~0.3, the noisy end of real venues (bench/sim_calibration.py).
_NOISE_BASE = 0.00012
_NOISE_REL = 0.6
_RATE_LOCK_MS = MINUTE_MS  # the predicted rate is final this long before settlement

_EVENT_BUCKET = DAY_MS
_EVENT_SPAN = 4 * DAY_MS  # an event is gone 4 days after it starts
_REGIME_BUCKET = 4 * DAY_MS
_EPISODE_BUCKET = 180 * DAY_MS  # one extreme episode per half-year per asset that has them


@dataclass(frozen=True, slots=True)
class Shock:
    """A forced event on one asset: a price move and/or a funding rate inside a time window."""

    symbol: str
    start_ms: int
    duration_ms: int
    price_move: float = 0.0  # relative: 0.35 = +35 %, ramped in over the first 10 %
    funding_rate: Decimal | None = None  # per-interval rate overriding settlements and quotes

    def __post_init__(self) -> None:
        if self.duration_ms <= 0:
            raise ValueError(f"shock duration must be positive, got {self.duration_ms} ms")
        if not self.price_move > -1.0:
            raise ValueError(f"shock price move must be above -100 %, got {self.price_move}")

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.duration_ms


_SHOCK_FORMAT = (
    "expected SYMBOL@YYYY-MM-DDTHH:MM:SSZ[:price=+35%][:funding=-0.002][:hours=24], "
    "e.g. SOL/USDT:USDT@2026-03-01T12:00:00Z:price=+35%:hours=6"
)
_SHOCK_OPTION = re.compile(r":([A-Za-z_]+)=")


def parse_shock(text: str) -> Shock:
    """Parse `SYMBOL@TIME:price=+35%:funding=-0.002:hours=6` (price and/or funding; 24h)."""

    def bad(problem: str) -> ValueError:
        return ValueError(f"bad shock {text!r}: {problem}; {_SHOCK_FORMAT}")

    symbol, at, rest = text.strip().partition("@")
    if not at or not symbol:
        raise bad("missing SYMBOL@TIME")
    if "/" not in symbol:
        raise bad(f"symbol {symbol!r} is not a unified symbol like BTC/USDT:USDT")
    first = _SHOCK_OPTION.search(rest)
    when = rest[: first.start()] if first else rest
    try:
        start = datetime.fromisoformat(when)
    except ValueError:
        raise bad(f"time {when!r} is not an ISO date-time") from None
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)  # the whole tool speaks UTC
    start_ms = (start - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)

    options: dict[str, str] = {}
    pieces = _SHOCK_OPTION.split(rest[first.start() :]) if first else [""]
    if pieces[0]:
        raise bad(f"unexpected text {pieces[0]!r}")
    for name, value in zip(pieces[1::2], pieces[2::2], strict=True):
        name = name.lower()
        if name not in ("price", "funding", "hours"):
            raise bad(f"unknown option {name!r}")
        if name in options:
            raise bad(f"option {name!r} given twice")
        options[name] = value.strip()

    price_move = 0.0
    funding: Decimal | None = None
    hours = 24.0
    if "price" in options:
        price_move = float(_number(options["price"], "price", bad))
        if price_move <= -1.0:
            raise bad(f"price move {options['price']} would take the price to zero or below")
    if "funding" in options:
        funding = _number(options["funding"], "funding", bad)
        if abs(funding) >= 1:
            raise bad(f"funding rate {options['funding']} is not a plausible per-interval rate")
    if "hours" in options:
        hours = float(_number(options["hours"], "hours", bad))
        if hours <= 0:
            raise bad("hours must be positive")
    if "price" not in options and "funding" not in options:
        raise bad("give price=... and/or funding=...")
    return Shock(
        symbol=symbol,
        start_ms=start_ms,
        duration_ms=round(hours * HOUR_MS),
        price_move=price_move,
        funding_rate=funding,
    )


def _number(value: str, name: str, bad: Callable[[str], ValueError]) -> Decimal:
    percent = value.endswith("%")
    try:
        number = Decimal(value[:-1] if percent else value)
    except InvalidOperation:
        raise bad(f"{name}={value!r} is not a number") from None
    if not number.is_finite():
        raise bad(f"{name}={value!r} is not a finite number")
    return number / 100 if percent else number


# ---------------------------------------------------------------------------------------------
# Evaluation. Evaluators live for one public call and memoise knot and bucket hashes, which
# makes a month of hourly settlements cheap; nothing outlives the call, so results stay a pure
# function of (seed, time, shocks).


class _Und(NamedTuple):
    """An asset with the keys and weights derived from the seed (built once per instance)."""

    asset: _Asset
    price_fine: tuple[tuple[int, int, float], ...]  # (key, spacing, weight)
    price_slow: tuple[tuple[int, int, float], ...]
    vm: tuple[tuple[int, int, float], ...]
    premium: tuple[tuple[int, int, float], ...]
    fast: tuple[tuple[int, int, float], ...]
    volume: tuple[tuple[int, int, float], ...]
    event_key: int
    regime_key: int
    episode_key: int
    cap: float
    interval_ms: int
    noise_key: int


class _Mkt(NamedTuple):
    market: Market
    und: _Und
    perp: bool
    factor: float  # market price = index x factor (0.001 for PEPE/USDT against 1000PEPE)
    step_f: float
    astep_f: float
    spread_bp: float
    volume: float
    key: int


_BLOCK = 16  # knots per hash: one 64-byte blake2b digest holds 16 pairs of 16-bit uniforms
_PACK_BLOCK = struct.Struct("<Qq").pack
_UNPACK_BLOCK = struct.Struct("<32H").unpack
_INV16 = 1.0 / 65536.0


def _knot_block(key: int, block: int) -> tuple[int, ...]:
    """Raw uniforms for knots block*16 .. block*16+15 of one octave."""
    return _UNPACK_BLOCK(hashlib.blake2b(_PACK_BLOCK(key, block), digest_size=64).digest())


def _knot(raw: tuple[int, ...], j: int) -> float:
    """Standard normal for knot j of a block (Box-Muller on its two 16-bit uniforms)."""
    r = math.sqrt(-2.0 * math.log((raw[2 * j] + 0.5) * _INV16))
    return r * math.cos(_TWO_PI * raw[2 * j + 1] * _INV16)


class _Octaves:
    """Sum of value-noise octaves (linear interpolation between hashed Gaussian knots).

    The sum is linear in t between the nearest knot of any octave on either side, so it is kept
    as c0 + c1 x (t - lo) on that window [lo, hi) and a call inside the window costs one
    multiply. c0 and c1 are computed in a fixed order from the knot pairs around t and from lo,
    all pure functions of t, so the memo never changes a result: any call order, any instance,
    the same bits.
    """

    __slots__ = ("c0", "c1", "hi", "lo", "octaves")

    def __init__(self, spec: Sequence[tuple[int, int, float]]) -> None:
        # [key, spacing, weight, start, end, weighted knot, weighted slope, block, raw knots]
        self.octaves: list[list] = [[k, s, w, 0, 0, 0.0, 0.0, None, ()] for k, s, w in spec]
        self.lo = self.hi = 0
        self.c0 = self.c1 = 0.0

    def value(self, t: int) -> float:
        if self.lo <= t < self.hi:
            return self.c0 + self.c1 * (t - self.lo)
        lo = -(1 << 62)
        hi = 1 << 62
        for o in self.octaves:
            if not o[3] <= t < o[4]:
                spacing = o[1]
                i, r = divmod(t, spacing)
                block, j = divmod(i, _BLOCK)
                if block != o[7]:
                    o[7], o[8] = block, _knot_block(o[0], block)
                a = _knot(o[8], j)
                if r == 0:
                    # Exactly on a knot (settlement times usually are): the slope is not
                    # needed, so the pair is valid for this instant only. Same bits as below.
                    o[3], o[4], o[5], o[6] = t, t + 1, o[2] * a, 0.0
                elif j == _BLOCK - 1:
                    o[7], o[8] = block + 1, _knot_block(o[0], block + 1)
                    b = _knot(o[8], 0)
                    o[3], o[4] = i * spacing, (i + 1) * spacing
                    o[5], o[6] = o[2] * a, o[2] * (b - a) / spacing
                else:
                    b = _knot(o[8], j + 1)
                    o[3], o[4] = i * spacing, (i + 1) * spacing
                    o[5], o[6] = o[2] * a, o[2] * (b - a) / spacing
            if o[3] > lo:
                lo = o[3]
            if o[4] < hi:
                hi = o[4]
        c0 = c1 = 0.0
        for o in self.octaves:
            c0 += o[5] + o[6] * (lo - o[3])
            c1 += o[6]
        self.lo, self.hi, self.c0, self.c1 = lo, hi, c0, c1
        return c0 + c1 * (t - lo)


_Episode = tuple[int, int, float, float]  # start, end, premium level, log price move


class _Eval:
    """Everything about one asset, for one call."""

    __slots__ = (
        "_ev_b",
        "_ev_list",
        "_ev_t",
        "_ev_v",
        "_events",
        "_idx_t",
        "_idx_v",
        "_prem_t",
        "_prem_v",
        "_regimes",
        "_rg_b",
        "_rg_list",
        "episodes",
        "fast",
        "fine",
        "noise",
        "prem",
        "sent",
        "shocks",
        "slow",
        "u",
        "vm",
    )

    def __init__(self, sim: SimulatedMarket, u: _Und) -> None:
        self.u = u
        self.fine = _Octaves(u.price_fine)
        self.slow = _Octaves(u.price_slow)
        self.vm = _Octaves(u.vm)
        self.prem = _Octaves(u.premium)
        self.fast = _Octaves(u.fast)
        self.sent = _Octaves(sim._sentiment)
        self.shocks = sim._shocks.get(u.asset.base, ())
        self.noise = sim.funding_noise
        self._events: dict[int, tuple[float, float, float, float, float] | None] = {}
        self._regimes: dict[int, tuple[float, float, float] | None] = {}
        self.episodes: dict[int, _Episode | None] = {}
        self._ev_b = self._rg_b = self._ev_t = self._idx_t = self._prem_t = -(1 << 62)
        self._ev_list: list[tuple[float, float, float, float, float]] = []
        self._rg_list: list[tuple[float, float, float]] = []
        self._ev_v = (0.0, 0.0, 0.0)
        self._idx_v = self._prem_v = 0.0

    # -- rare things found by hashing buckets ---------------------------------------------------

    def _event(self, bucket: int) -> tuple[float, float, float, float, float] | None:
        """A sharp move starting in this day: (start, log size, rise, tau, premium)."""
        a = self.u.asset
        h = _mix(self.u.event_key + bucket)
        if _unit(h) >= a.events_per_year * (_EVENT_BUCKET / YEAR_MS):
            return None
        h2 = _mix(h)
        h3 = _mix(h2)
        start = bucket * _EVENT_BUCKET + (h2 % _EVENT_BUCKET)
        # Squeezes outnumber crashes: on the short-perp side of the hedge they are the risk.
        up = ((h3 >> 48) & 0xFFFF) < 0.65 * 65536
        size = a.event_size * (0.6 + 0.8 * ((h3 >> 32) & 0xFFFF) / 65536)
        rise = (20 + 100 * ((h3 >> 16) & 0xFFFF) / 65536) * MINUTE_MS
        tau = (10 + 30 * (h3 & 0xFFFF) / 65536) * HOUR_MS
        log_size = math.log1p(size) if up else math.log1p(-size * 0.8)
        # Shorts chasing a squeeze lift the perp over spot (funding spikes); a crash the reverse.
        premium = (0.009 if up else 0.006) * log_size
        return float(start), log_size, rise, tau, premium

    def events(self, t: int) -> tuple[float, float, float]:
        """(log price move, premium, activity 0..1) of the events still running at t."""
        if t == self._ev_t:
            return self._ev_v
        b = t // _EVENT_BUCKET
        if b != self._ev_b:
            found = []
            for bucket in range(b - _EVENT_SPAN // _EVENT_BUCKET, b + 1):
                if bucket not in self._events:
                    self._events[bucket] = self._event(bucket)
                ev = self._events[bucket]
                if ev is not None:
                    found.append(ev)
            self._ev_b, self._ev_list = b, found
        move = premium = activity = 0.0
        for start, log_size, rise, tau, prem in self._ev_list:
            x = t - start
            if x <= 0 or x >= _EVENT_SPAN:
                continue
            if x < rise:
                shape = _smooth(x / rise)
            else:
                shape = math.exp(-(x - rise) / tau) * (1.0 - x / _EVENT_SPAN)
            move += log_size * shape
            premium += prem * shape
            activity = max(activity, shape)
        self._ev_t, self._ev_v = t, (move, premium, activity)
        return self._ev_v

    def _regime(self, bucket: int) -> tuple[float, float, float] | None:
        """A multi-day funding regime starting in this bucket: (start, end, level)."""
        a = self.u.asset
        h = _mix(self.u.regime_key + bucket)
        if _unit(h) >= a.regimes_per_year * (_REGIME_BUCKET / YEAR_MS):
            return None
        h2 = _mix(h)
        h3 = _mix(h2)
        start = bucket * _REGIME_BUCKET + (h2 % _REGIME_BUCKET)
        length = (1.5 + 6.5 * ((h3 >> 48) & 0xFFFF) / 65536) * DAY_MS
        mag = ((h3 >> 32) & 0xFFFF) / 65536
        # Premium on top of the idle floor; the clamp takes 0.0005 off, so these pay about
        # +0.0005 .. +0.0035 and -0.0002 .. -0.0018 per 8h (before noise and sentiment).
        if ((h3 >> 16) & 0xFFFF) < 0.55 * 65536:
            level = 0.0015 + 0.0030 * mag * mag
        else:
            level = -(0.0002 + 0.0016 * mag * mag)
        return float(start), start + length, level

    def regimes(self, t: int) -> float:
        b = t // _REGIME_BUCKET
        if b != self._rg_b:
            found = []
            for bucket in range(b - 2, b + 1):  # regimes last at most 8 days: 2 buckets back
                if bucket not in self._regimes:
                    self._regimes[bucket] = self._regime(bucket)
                rg = self._regimes[bucket]
                if rg is not None:
                    found.append(rg)
            self._rg_b, self._rg_list = b, found
        total = 0.0
        ramp = 12.0 * HOUR_MS
        for start, end, level in self._rg_list:
            if start < t < end:
                total += level * min(_smooth((t - start) / ramp), _smooth((end - t) / ramp))
        return total

    def episode(self, t: int) -> _Episode | None:
        """The extreme-funding episode of t's 180-day bucket, if the asset has them.

        Episodes start on an 8h boundary in the first 160 days of a bucket and last 4-9 days,
        plus 3 days of price recovery, so they never cross a bucket boundary and the interval
        schedule only ever needs the current bucket.
        """
        if not self.u.asset.episode_interval_h:
            return None
        bucket = t // _EPISODE_BUCKET
        if bucket in self.episodes:
            return self.episodes[bucket]
        h = _mix(self.u.episode_key + bucket)
        h2 = _mix(h)
        slot = 8 * HOUR_MS
        start = bucket * _EPISODE_BUCKET + (h % 480) * slot
        end = start + (12 + (h2 >> 40) % 16) * slot
        mag = ((h2 >> 16) & 0xFFFF) / 65536
        negative = (h2 & 0xFFFF) < 0.7 * 65536  # mostly crashes, like SOL after FTX
        # 8h-equivalent premium: usually ~1 %, sometimes enough to pin the per-interval cap.
        level = (0.004 + 0.03 * mag * mag) * (-1.0 if negative else 1.0)
        move = math.log1p(-(0.2 + 0.25 * mag)) if negative else math.log1p(0.25 + 0.3 * mag)
        ep = self.episodes[bucket] = (start, end, level, move)
        return ep

    # -- the model ------------------------------------------------------------------------------

    def next_settlement(self, t: int) -> tuple[int, int]:
        """The first settlement strictly after t, and the interval (hours) that ends there."""
        ep = self.episode(t)
        if ep is not None and ep[0] <= t < ep[1]:
            hours = self.u.asset.episode_interval_h
        else:
            hours = self.u.asset.interval_h
        step = hours * HOUR_MS
        return (t // step + 1) * step, hours

    def index(self, t: int) -> float:
        """Index (spot) price at t."""
        if t == self._idx_t:
            return self._idx_v
        u = self.u
        vm = math.exp(_VOL_REGIME * self.vm.value(t) - _VOL_REGIME**2 * 0.67)
        acc = vm * self.fine.value(t) + self.slow.value(t) + self.events(t)[0]
        ep = self.episode(t)
        if ep is not None and t > ep[0]:
            start, end, _level, move = ep
            # The move builds over a day, holds, and fades over 3 days after the episode.
            fade = 1.0 if t < end else max(0.0, 1.0 - (t - end) / (3 * DAY_MS))
            acc += move * _smooth((t - start) / DAY_MS) * fade
        for shock in self.shocks:
            if shock.price_move and shock.start_ms <= t < shock.end_ms:
                ramp = min(1.0, (t - shock.start_ms) / (0.1 * shock.duration_ms))
                acc += math.log1p(shock.price_move) * ramp
        self._idx_t, self._idx_v = t, u.asset.price * math.exp(acc)
        return self._idx_v

    def premium(self, t: int) -> float:
        """The latent 8h-equivalent premium index P of the perp over the index."""
        if t == self._prem_t:
            return self._prem_v
        a = self.u.asset
        y = a.tilt + self.prem.value(t) + _SENT_W * self.sent.value(t)
        if y > _IDLE_HI:
            x = _UP * (y - _IDLE_HI)
        elif y < _IDLE_LO:
            x = _DOWN * (y - _IDLE_LO)
        else:
            x = 0.0
        x = x * a.amp + self.regimes(t)
        jitter = _FAST_BASE * a.amp + _FAST_REL * abs(x)
        p = _PREMIUM_FLOOR + x + jitter * self.fast.value(t) + self.events(t)[1]
        ep = self.episode(t)
        if ep is not None and ep[0] < t < ep[1]:
            start, end, level, _move = ep
            ramp = 12 * HOUR_MS
            p += level * min(_smooth((t - start) / ramp), _smooth((end - t) / ramp))
        self._prem_t, self._prem_v = t, p
        return p

    def rate_of(self, premium: float, hours: int, noise8: float = 0.0) -> float:
        """Binance: F = P + clamp(I - P, +-0.05 %), scaled to the interval, capped.

        `noise8` (8h-equivalent) goes in before the cap: a noisy venue's prints obey it too.
        """
        interest = self.u.asset.interest8
        diff = interest - premium
        # Exactly I inside the clamp (not P + (I - P) in floats): real prints are exactly 0.0001.
        clamped = -0.0005 <= diff <= 0.0005
        f8 = interest if clamped else premium + (0.0005 if diff > 0 else -0.0005)
        if noise8:
            f8 += noise8
        cap = self.u.cap
        return max(-cap, min(cap, f8 * hours / 8))

    def predicted_rate(self, t: int, next_ms: int, hours: int) -> float:
        """The rate settling at next_ms, as predicted at t.

        The settled rate averages premium samples at the ends of n equal slices of the interval
        (one per 4h, the last at the settlement itself). Until the final minute the prediction
        averages the samples already taken plus the current premium, so it moves with the clock
        and converges; in the final minute it is locked to exactly the rate that settles.
        """
        for shock in self.shocks:
            if (
                shock.funding_rate is not None
                and shock.start_ms <= t
                and shock.start_ms < next_ms <= shock.end_ms
            ):
                return float(shock.funding_rate)
        n = max(1, hours // 4)
        span = hours * HOUR_MS
        begin = next_ms - span
        locked = t >= next_ms - _RATE_LOCK_MS
        total = 0.0
        count = 0
        for j in range(1, n + 1):
            s = begin + j * span // n
            if s > t and not locked:
                break
            total += self.premium(s)
            count += 1
        if not locked:
            total += self.premium(t)
            count += 1
        premium = total / count
        if not self.noise:
            return self.rate_of(premium, hours)
        # The print's own noise builds up over the interval, as the premium average does, so
        # the prediction converges to the settled print and is exactly it once locked.
        elapsed = 1.0 if locked else min(1.0, (t - begin) / (span - _RATE_LOCK_MS))
        return self.rate_of(premium, hours, elapsed * self.print_noise(premium, next_ms))

    def print_noise(self, premium: float, settle_ms: int) -> float:
        """The idiosyncratic part (8h-equivalent) of the print settling at settle_ms.

        Mean zero, so the long-run mean of the prints stays put, and fresh for every settlement,
        so it lowers the lag-1 autocorrelation of consecutive prints. Its scale follows the
        asset's premium amplitude and grows with the premium's excursion from idle (real noisy
        venues' prints are jumpiest when funding is far from idle), so the same setting gives
        a similar autocorrelation on calm and wild symbols.
        """
        excursion = abs(premium - _PREMIUM_FLOOR)
        sigma = self.noise * (_NOISE_BASE * self.u.asset.amp + _NOISE_REL * excursion)
        return sigma * _gauss(_mix(self.u.noise_key + settle_ms))

    def basis(self, t: int) -> float:
        """Perp mid over index: the current funding pressure (8h-eq), so the signs agree."""
        for shock in self.shocks:
            if shock.funding_rate is not None and shock.start_ms <= t < shock.end_ms:
                f8 = float(shock.funding_rate) * 8 / self.next_settlement(t)[1]
                return max(-_BASIS_CAP, min(_BASIS_CAP, f8))
        f8 = self.rate_of(self.premium(t), 8)
        return max(-_BASIS_CAP, min(_BASIS_CAP, f8))

    def activity(self, t: int) -> float:
        """0..1: how hectic the market is (events, episodes); widens spreads, lifts volume."""
        act = self.events(t)[2]
        ep = self.episode(t)
        if ep is not None and ep[0] <= t < ep[1]:
            act = max(act, 0.7)
        return act


class SimulatedMarket:
    """A deterministic, offline venue: see the module docstring."""

    name = "simulated"
    simulated = True

    def __init__(
        self,
        seed: int = 7,
        clock: Callable[[], int] = _system_ms,
        shocks: Sequence[Shock] = (),
        funding_noise: float = 0.0,
    ) -> None:
        if not 0.0 <= funding_noise <= 1.0:
            raise ValueError(f"funding noise must be between 0 and 1, got {funding_noise}")
        self.seed = seed
        # 0: prints as smooth as Binance's; 1: as noisy as the noisiest real venues'.
        self.funding_noise = float(funding_noise)
        self._clock = clock
        self._unds: dict[str, _Und] = {}
        self._mkts: dict[str, _Mkt] = {}
        self._market_keys = [_key(seed, "*", "price", str(k)) for k in range(len(_PRICE_SPACINGS))]
        self._sentiment = (
            (_key(seed, "*", "sent", "0"), 20 * DAY_MS, 0.75),
            (_key(seed, "*", "sent", "1"), 80 * DAY_MS, 0.65),
        )
        for asset in _ASSETS:
            self._add_asset(asset)
        for base, underlying, factor, volume, spread, step, astep in _SPOT_ONLY:
            und = self._unds[underlying]
            symbol = f"{base}/USDT"
            self._mkts[symbol] = self._spot(symbol, base, und, factor, volume, spread, step, astep)

        by_base: dict[str, list[Shock]] = {}
        for shock in shocks:
            mkt = self._mkts.get(shock.symbol)
            if mkt is None:
                raise ValueError(f"shock on unknown symbol {shock.symbol!r}")
            by_base.setdefault(mkt.und.asset.base, []).append(shock)
        self._shocks = {k: tuple(v) for k, v in by_base.items()}
        self._markets = {s: m.market for s, m in self._mkts.items()}

    # -- construction --------------------------------------------------------------------------

    def _add_asset(self, a: _Asset) -> None:
        seed = self.seed
        per_sqrt_ms = a.vol8h / math.sqrt(8 * HOUR_MS) * _PRICE_CAL
        # A knot std of s*sqrt(L/2) gives increments over ~L the variance of a random walk.
        amps = [per_sqrt_ms * math.sqrt(s / 2) for s in _PRICE_SPACINGS]
        beta = 1.0 if a.base == "BTC" else _MARKET_BETA  # BTC *is* the market factor
        idio = math.sqrt(1.0 - beta * beta)
        own = [_key(seed, a.base, "price", str(k)) for k in range(len(_PRICE_SPACINGS))]
        fine: list[tuple[int, int, float]] = []
        slow: list[tuple[int, int, float]] = []
        for k, (spacing, amp) in enumerate(zip(_PRICE_SPACINGS, amps, strict=True)):
            if k < _FINE_OCTAVES - 1:
                fine.append((own[k], spacing, amp))
                continue
            target = fine if k < _FINE_OCTAVES else slow
            target.append((self._market_keys[k], spacing, amp * beta))
            if idio:
                target.append((own[k], spacing, amp * idio))
        mmr, lev, cap, min_notional = _TIERS[a.tier]
        und = _Und(
            asset=a,
            price_fine=tuple(fine),
            price_slow=tuple(slow),
            vm=(
                (_key(seed, a.base, "vm", "0"), 3 * DAY_MS, 1.0),
                (_key(seed, a.base, "vm", "1"), 12 * DAY_MS, 1.0),
            ),
            premium=tuple(
                (_key(seed, a.base, "prem", str(k)), spacing, weight)
                for k, (spacing, weight) in enumerate(_PRESSURE_SLOW)
            ),
            fast=tuple(
                (_key(seed, a.base, "fast", str(k)), spacing, weight)
                for k, (spacing, weight) in enumerate(_PREMIUM_FAST)
            ),
            volume=(
                (_key(seed, a.base, "vol", "0"), DAY_MS, 0.3),
                (_key(seed, a.base, "vol", "1"), 7 * DAY_MS, 0.25),
            ),
            event_key=_key(seed, a.base, "event"),
            regime_key=_key(seed, a.base, "regime"),
            episode_key=_key(seed, a.base, "episode"),
            cap=float(cap),
            interval_ms=a.interval_h * HOUR_MS,
            noise_key=_key(seed, a.base, "print-noise"),
        )
        self._unds[a.base] = und
        perp_symbol = f"{a.base}/USDT:USDT"
        pstep, astep = _STEPS.get(perp_symbol) or _auto_steps(a.price, perp=True)
        self._mkts[perp_symbol] = _Mkt(
            market=Market(
                symbol=perp_symbol,
                type=MarketType.PERP,
                base=a.base,
                quote="USDT",
                amount_step=Decimal(astep),
                min_amount=Decimal(astep),
                min_notional=Decimal(min_notional),
                price_step=Decimal(pstep),
                taker_fee=_PERP_FEES[0],
                maker_fee=_PERP_FEES[1],
                maintenance_margin_rate=Decimal(mmr),
                max_leverage=lev,
            ),
            und=und,
            perp=True,
            factor=1.0,
            step_f=float(pstep),
            astep_f=float(astep),
            spread_bp=a.perp_spread_bp,
            volume=a.perp_volume,
            key=_key(seed, perp_symbol, "mkt"),
        )
        if a.spot_volume > 0:
            symbol = f"{a.base}/USDT"
            pstep, astep = _STEPS.get(symbol) or _auto_steps(a.price, perp=False)
            self._mkts[symbol] = self._spot(
                symbol, a.base, und, 1.0, a.spot_volume, a.spot_spread_bp, pstep, astep
            )

    def _spot(
        self,
        symbol: str,
        base: str,
        und: _Und,
        factor: float,
        volume: float,
        spread_bp: float,
        pstep: str,
        astep: str,
    ) -> _Mkt:
        return _Mkt(
            market=Market(
                symbol=symbol,
                type=MarketType.SPOT,
                base=base,
                quote="USDT",
                amount_step=Decimal(astep),
                min_amount=Decimal(astep),
                min_notional=Decimal("5"),
                price_step=Decimal(pstep),
                taker_fee=_SPOT_FEES[0],
                maker_fee=_SPOT_FEES[1],
            ),
            und=und,
            perp=False,
            factor=factor,
            step_f=float(pstep),
            astep_f=float(astep),
            spread_bp=spread_bp,
            volume=volume,
            key=_key(self.seed, symbol, "mkt"),
        )

    # -- MarketData ----------------------------------------------------------------------------

    def now_ms(self) -> int:
        return self._clock()

    def markets(self) -> dict[str, Market]:
        return dict(self._markets)

    def funding_quotes(self) -> dict[str, FundingQuote]:
        t = self.now_ms()
        return {symbol: self._quote(symbol, m, t) for symbol, m in self._mkts.items() if m.perp}

    def funding_quote(self, symbol: str) -> FundingQuote:
        m = self._mkts[symbol]
        if not m.perp:
            raise KeyError(f"{symbol} is not a perpetual")
        return self._quote(symbol, m, self.now_ms())

    def funding_cap(self, symbol: str) -> Decimal:
        """The most a perpetual's rate moves either way in one interval (Binance publishes it
        per symbol in fundingInfo)."""
        return Decimal(repr(self._mkts[symbol].und.cap))

    def _quote(self, symbol: str, m: _Mkt, t: int) -> FundingQuote:
        ev = _Eval(self, m.und)
        next_ms, hours = ev.next_settlement(t)
        rate = ev.predicted_rate(t, next_ms, hours)
        index = ev.index(t)
        return FundingQuote(
            symbol=symbol,
            rate=_rate_decimal(rate),
            interval_hours=hours,
            next_funding_ms=next_ms,
            mark_price=_on_step(index * (1.0 + ev.basis(t)), m),
            index_price=_on_step(index, m),
        )

    def tickers(self) -> dict[str, Ticker]:
        t = self.now_ms()
        evals: dict[str, _Eval] = {}
        out: dict[str, Ticker] = {}
        for symbol, m in self._mkts.items():
            base = m.und.asset.base
            ev = evals.get(base)
            if ev is None:
                ev = evals[base] = _Eval(self, m.und)
            bid, ask, _mid, _spread, volume = self._top(ev, m, t)
            step = m.market.price_step
            last = bid if _mix(m.key + t // 1000) & 1 else ask
            out[symbol] = Ticker(
                symbol=symbol,
                bid=Decimal(bid) * step,
                ask=Decimal(ask) * step,
                last=Decimal(last) * step,
                quote_volume_24h=Decimal(round(volume)),
            )
        return out

    def order_book(self, symbol: str, limit: int = 50) -> OrderBook:
        m = self._mkts.get(symbol)
        if m is None:
            raise KeyError(symbol)
        if limit < 1:
            raise ValueError(f"order book limit must be at least 1, got {limit}")
        t = self.now_ms()
        bid, ask, mid, spread_bp, volume = self._top(_Eval(self, m.und), m, t)
        # Depth grows sub-linearly with volume: ~$80k within 10 bp of a $20M/day small cap,
        # ~$10M for BTC, so $100k walks a few levels of the former and barely moves the latter.
        per_bp = 8_000.0 * (volume / 2e7) ** 0.75
        tick_bp = m.step_f / mid * 1e4
        gap_ticks = max(1.0, 0.3 * spread_bp / tick_bp)
        step, astep = m.market.price_step, m.market.amount_step
        quote_per_amount = m.step_f * m.astep_f  # ticks x amount steps -> quote
        sides = []
        for side, top, sign in ((0, bid, -1), (1, ask, 1)):
            h = _mix(m.key ^ ((t // 1000) * 2 + side))
            levels = []
            price = top
            for i in range(limit):
                h = _mix(h)
                gap = 1.0
                if i:
                    gap = max(1, round(gap_ticks * (0.5 + ((h >> 48) & 0xFFFF) / 65536)))
                    price += sign * gap
                    if price <= 0:
                        break  # a sub-cent book cannot go below one tick
                # Thin at the touch, thicker further out, lognormal noise level to level.
                size = per_bp * max(gap, gap_ticks) * tick_bp * (0.4 + 0.12 * min(i, 12))
                size *= math.exp(0.6 * _gauss(h) - 0.18)
                amount = max(1, round(size / (price * quote_per_amount)))
                levels.append((Decimal(price) * step, Decimal(amount) * astep))
            sides.append(tuple(levels))
        return OrderBook(symbol=symbol, timestamp_ms=t, bids=sides[0], asks=sides[1])

    def funding_history(self, symbol: str, since_ms: int, until_ms: int) -> list[FundingSettlement]:
        m = self._mkts.get(symbol)
        if m is None or not m.perp:
            raise KeyError(symbol)
        ev = _Eval(self, m.und)
        out: list[FundingSettlement] = []
        t = since_ms
        while True:
            t, hours = ev.next_settlement(t)
            if t > until_ms:
                return out
            # Exactly what funding_quotes() says one millisecond before the settlement.
            rate = ev.predicted_rate(t - 1, t, hours)
            index = ev.index(t)
            out.append(
                FundingSettlement(
                    symbol=symbol,
                    time_ms=t,
                    rate=_rate_decimal(rate),
                    mark_price=_on_step(index * (1.0 + ev.basis(t)), m),
                    interval_hours=hours,
                )
            )

    def recent_settlements(self, since_ms: int) -> list[FundingSettlement] | None:
        now = self.now_ms()
        out = [
            s
            for symbol, m in self._mkts.items()
            if m.perp
            for s in self.funding_history(symbol, since_ms, now)
        ]
        out.sort(key=lambda s: (s.time_ms, s.symbol))
        return out

    def bars(
        self,
        symbol: str,
        since_ms: int,
        until_ms: int,
        bar_ms: int = BAR_MS,
        *,
        now_ms: int | None = None,
    ) -> list[Bar]:
        """OHLCV bars of a market (exchange "sim"), every bar whose open time is in
        [since_ms, until_ms), open times on multiples of `bar_ms` (UTC).

        Prices are the mid that `tickers` quotes around, on the price step: the open at the open
        instant, the close at the bar's close time (open + bar_ms - 1, Binance's closeTime), the
        high and low over both and `BAR_SAMPLES` evenly spaced samples. A sample every half
        hour of an 8h bar misses the shortest wiggles: ranges come out ~9 % narrower than with
        a sample every 5 minutes (the finest noise), which costs several times as much. Volume
        is the 24h quote volume at the close, prorated to the bar, in coins. `now_ms`: bars
        opening after it are left out and the bar running at it is cut there (an exchange's
        open bar, with its values so far).
        """
        return self.bars_of([symbol], since_ms, until_ms, bar_ms, now_ms=now_ms)[symbol]

    def bars_of(
        self,
        symbols: Sequence[str],
        since_ms: int,
        until_ms: int,
        bar_ms: int = BAR_MS,
        *,
        now_ms: int | None = None,
    ) -> dict[str, list[Bar]]:
        """`bars` of several markets: the markets of one coin share their price samples (a
        coin's spot and perpetual together cost little more than the perpetual alone)."""
        if bar_ms < BAR_SAMPLES:
            raise ValueError(f"bar length must be at least {BAR_SAMPLES} ms, got {bar_ms}")
        by_coin: dict[str, list[tuple[str, _Mkt]]] = {}
        for symbol in symbols:
            m = self._mkts.get(symbol)
            if m is None:
                raise KeyError(symbol)
            by_coin.setdefault(m.und.asset.base, []).append((symbol, m))
        out: dict[str, list[Bar]] = {}
        for group in by_coin.values():
            out.update(self._coin_bars(group, since_ms, until_ms, bar_ms, now_ms))
        return {symbol: out[symbol] for symbol in symbols}

    def _coin_bars(
        self,
        group: list[tuple[str, _Mkt]],
        since_ms: int,
        until_ms: int,
        bar_ms: int,
        now_ms: int | None,
    ) -> dict[str, list[Bar]]:
        ev = _Eval(self, group[0][1].und)
        index, basis = ev.index, ev.basis
        with_basis = any(m.perp for _, m in group)
        out: dict[str, list[Bar]] = {symbol: [] for symbol, _ in group}
        last_open = until_ms - 1 if now_ms is None else min(until_ms - 1, now_ms)
        for open_ms in range(-(-since_ms // bar_ms) * bar_ms, last_open + 1, bar_ms):
            close_ms = open_ms + bar_ms - 1
            if now_ms is not None and close_ms > now_ms:
                close_ms = now_ms
            # (index, 1 + basis) at each sample; the close is added below from _top.
            path = []
            for k in range(BAR_SAMPLES):
                t = open_ms + k * bar_ms // BAR_SAMPLES
                if t > close_ms:
                    break
                path.append((index(t), 1.0 + basis(t) if with_basis else 1.0))
            for symbol, m in group:
                factor, step = m.factor, m.step_f
                if m.perp:
                    mids = [i * b * factor for i, b in path]
                else:
                    mids = [i * factor for i, _ in path]
                # The close and the volume: exactly the quote `tickers` gives at the close time.
                _bid, _ask, close, _spread, volume = self._top(ev, m, close_ms)
                o, h, lo, c = (
                    max(1, round(x / step))
                    for x in (mids[0], max(close, *mids), min(close, *mids), close)
                )
                coins = volume * (close_ms + 1 - open_ms) / DAY_MS / (c * step)
                price_step = m.market.price_step
                out[symbol].append(
                    Bar(
                        exchange=SIM_EXCHANGE,
                        symbol=symbol,
                        open_time_ms=open_ms,
                        open=Decimal(o) * price_step,
                        high=Decimal(h) * price_step,
                        low=Decimal(lo) * price_step,
                        close=Decimal(c) * price_step,
                        volume=Decimal(round(coins / m.astep_f)) * m.market.amount_step,
                    )
                )
        return out

    # -- helpers -------------------------------------------------------------------------------

    def _top(self, ev: _Eval, m: _Mkt, t: int) -> tuple[int, int, float, float, float]:
        """(bid ticks, ask ticks, mid, spread bp, 24h quote volume) of a market at t."""
        mid = ev.index(t)
        if m.perp:
            mid *= 1.0 + ev.basis(t)
        mid *= m.factor
        activity = ev.activity(t)
        noise = _Octaves(((m.key, 2 * HOUR_MS, 0.25), (m.key + 1, DAY_MS, 0.2)))
        own = noise.value(t)
        spread_bp = m.spread_bp * math.exp(own) * (1.0 + activity)
        half = mid * spread_bp * 0.5e-4
        step = m.step_f
        bid = max(1, math.floor((mid - half) / step))
        ask = max(bid + 1, math.ceil((mid + half) / step))
        # Volume: the asset's daily/weekly swings shared by its markets, plus the market's own.
        swing = _Octaves(m.und.volume).value(t) + own - 0.12
        volume = m.volume * math.exp(swing) * (1.0 + 2.0 * activity)
        return bid, ask, mid, spread_bp, volume


def _auto_steps(price: float, *, perp: bool) -> tuple[str, str]:
    """Binance-like steps from the price level: ticks of 0.1-1 bp, lots of $0.1-$1 (spot finer)."""
    digits = math.floor(math.log10(price))
    amount_exp = -digits - 1 if perp else -digits - 2
    return format(Decimal(1).scaleb(digits - 4), "f"), format(Decimal(1).scaleb(amount_exp), "f")


def _on_step(price: float, m: _Mkt) -> Decimal:
    return Decimal(max(1, round(price / m.step_f))) * m.market.price_step


def _rate_decimal(rate: float) -> Decimal:
    """Binance publishes funding rates with 8 decimals."""
    return Decimal(round(rate * 1e8)).scaleb(-8)
