"""Compare the simulated market with real Binance history, side by side.

    python bench/sim_calibration.py [--seed 7] [--years 3] [--funding-noise 0]

Real: the `pietroc21` Binance USDⓈ-M rows of shared/data (15 perps, 2020 → 2026-02). Sim: every
perpetual of SimulatedMarket over the last `--years` of that span, through the public API only
(funding_history gives the settled rates and the mark prices at settlement). The real half is
skipped when the shared data is absent (FRA_SHARED_DATA overrides its location).

The last table sweeps the simulated market's funding noise (FRA_SIM__FUNDING_NOISE) and shows
how noisy consecutive prints are (their lag-1 autocorrelation) against the real venues in
shared/data: Binance 2020-26 (smooth) and Binance and Bybit 2025-26 (noisier).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import itertools
import math
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

# Runnable from a checkout without installing the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fra.core.models import HOUR_MS, MarketType
from fra.venues.simulated import SimulatedMarket

DAY_MS = 24 * HOUR_MS
END_MS = int(datetime(2026, 2, 24, tzinfo=UTC).timestamp() * 1000)  # where the real data ends
# fmt: off
REAL_BASES = [
    "ADA", "ARB", "ATOM", "AVAX", "BNB", "BTC", "DOGE", "DOT",
    "ETH", "LINK", "LTC", "POL", "SOL", "UNI", "XRP",
]
# fmt: on
BASE_RATE = 0.0001  # Binance's default interest component per 8h
NOISE_LEVELS = (0.0, 0.5, 1.0)  # FRA_SIM__FUNDING_NOISE: smooth, the middle, the noisiest
# A shorter series (zushen168's tokenised stocks, listed in 2026) says little about its
# autocorrelation: the real venues' figures use series of a year or more.
MIN_PRINTS = 1000


def shared_data() -> Path:
    override = os.environ.get("FRA_SHARED_DATA")
    return Path(override) if override else Path(__file__).resolve().parents[2] / "shared" / "data"


# -- statistics --------------------------------------------------------------------------------


def quantile(sorted_xs: Sequence[float], q: float) -> float:
    return sorted_xs[round(q * (len(sorted_xs) - 1))]


def lag1(xs: Sequence[float]) -> float:
    if len(xs) < 3 or statistics.pstdev(xs) == 0:
        return float("nan")
    return statistics.correlation(xs[:-1], xs[1:])


def excess_kurtosis(xs: Sequence[float]) -> float:
    mean = statistics.fmean(xs)
    var = statistics.fmean([(x - mean) ** 2 for x in xs])
    return statistics.fmean([(x - mean) ** 4 for x in xs]) / var**2 - 3


class Funding:
    """8h-normalised funding rates per symbol (consecutive settlements, oldest first)."""

    def __init__(self) -> None:
        self.series: dict[str, list[float]] = defaultdict(list)

    def add(self, symbol: str, rate: float, hours: int) -> None:
        self.series[symbol].append(rate * 8 / hours)

    def rows(self) -> dict[str, str]:
        pooled = sorted(x for s in self.series.values() for x in s)
        n = len(pooled)
        out = {"settlements": f"{n:,}"}
        for q in (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99):
            out[f"rate p{round(q * 100):02d} (8h)"] = f"{quantile(pooled, q):+.5f}"
        out["min / max (8h)"] = f"{pooled[0]:+.4f} / {pooled[-1]:+.4f}"
        at_base = sum(1 for x in pooled if abs(x - BASE_RATE) < 1e-12) / n
        out["share exactly 0.0001"] = f"{at_base:.1%}"
        out["share negative"] = f"{sum(1 for x in pooled if x < 0) / n:.1%}"
        out["share > 0.0005"] = f"{sum(1 for x in pooled if x > 0.0005) / n:.1%}"
        acs = sorted(a for a in (lag1(s) for s in self.series.values()) if not math.isnan(a))
        out["lag-1 autocorr (median sym)"] = f"{statistics.median(acs):.2f}"
        out["lag-1 autocorr (min sym)"] = f"{acs[0]:.2f}"
        out["neg run >= 2 days (per sym-yr)"] = f"{self.negative_runs():.1f}"
        return out

    def negative_runs(self) -> float:
        """Episodes of negative funding lasting 2 days or more, per symbol-year."""
        runs = 0
        years = 0.0
        for s in self.series.values():
            years += len(s) / (3 * 365)  # roughly: 8h-equivalent count
            length = 0
            for x in [*s, 1.0]:
                if x < 0:
                    length += 1
                else:
                    runs += length >= 6
                    length = 0
        return runs / years if years else float("nan")


class Returns:
    """8h log returns per symbol."""

    def __init__(self) -> None:
        self.series: dict[str, list[float]] = defaultdict(list)

    def rows(self) -> dict[str, str]:
        pooled = [x for s in self.series.values() for x in s]
        stds = {k: statistics.pstdev(v) for k, v in self.series.items() if len(v) > 10}
        kurts = sorted(excess_kurtosis(v) for v in self.series.values() if len(v) > 10)
        big = sum(1 for x in pooled if abs(math.expm1(x)) > 0.10) / len(pooled)
        huge = sum(1 for x in pooled if abs(math.expm1(x)) > 0.20) / len(pooled)
        lo = min(stds, key=stds.__getitem__)
        hi = max(stds, key=stds.__getitem__)
        return {
            "8h returns": f"{len(pooled):,}",
            "8h std (pooled)": f"{statistics.pstdev(pooled):.4f}",
            "8h std (min sym)": f"{stds[lo]:.4f} {short(lo)}",
            "8h std (max sym)": f"{stds[hi]:.4f} {short(hi)}",
            "excess kurtosis (pooled)": f"{excess_kurtosis(pooled):.1f}",
            "excess kurtosis (median sym)": f"{statistics.median(kurts):.1f}",
            "share |8h move| > 10%": f"{big:.2%}",
            "share |8h move| > 20%": f"{huge:.3%}",
        }


def short(symbol: str) -> str:
    return symbol.split("/")[0].removesuffix("USDT")


# -- real data ---------------------------------------------------------------------------------


def real_stats(root: Path) -> tuple[Funding, Returns] | None:
    funding_path, prices_path = root / "funding.csv.gz", root / "prices_8h.csv.gz"
    if not funding_path.exists() or not prices_path.exists():
        return None
    funding = Funding()
    rows: dict[str, list[tuple[int, float, int, float]]] = defaultdict(list)
    with gzip.open(funding_path, "rt", newline="") as f:
        for r in csv.DictReader(f):
            if r["source"] == "pietroc21":
                hours = int(r["interval_hours"] or 8)
                rows[r["symbol"]].append(
                    (int(r["funding_time_ms"]), float(r["funding_rate"]), hours)
                )
    for symbol, series in rows.items():
        for _t, rate, hours in sorted(series):
            funding.add(symbol, rate, hours)
    returns = Returns()
    closes: dict[str, list[tuple[int, float]]] = defaultdict(list)
    with gzip.open(prices_path, "rt", newline="") as f:
        for r in csv.DictReader(f):
            if r["market"] == "perp":
                closes[r["symbol"]].append((int(r["open_time_ms"]), float(r["close"])))
    for symbol, series in closes.items():
        series.sort()
        for (t0, c0), (t1, c1) in itertools.pairwise(series):
            if t1 - t0 == 8 * HOUR_MS:
                returns.series[symbol].append(math.log(c1 / c0))
    return funding, returns


def real_noise(root: Path) -> dict[str, list[list[float]]] | None:
    """The USDT perps' 8h-normalised prints (oldest first) per real venue and span."""
    path = root / "funding.csv.gz"
    if not path.exists():
        return None
    spans = {"pietroc21": "2020-26", "zushen168": "2025-26"}
    series: dict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)
    with gzip.open(path, "rt", newline="") as f:
        for r in csv.DictReader(f):
            if r["symbol"].endswith("USDT") and r["source"] in spans:
                venue = f"real {r['exchange'].title()} {spans[r['source']]} ({r['source']})"
                rate = float(r["funding_rate"]) * 8 / int(r["interval_hours"] or 8)
                series[venue, r["symbol"]].append((int(r["funding_time_ms"]), rate))
    out: dict[str, list[list[float]]] = defaultdict(list)
    for (venue, _symbol), rows in sorted(series.items()):
        if len(rows) >= MIN_PRINTS:
            out[venue].append([rate for _t, rate in sorted(rows)])
    return out


def noise_row(label: str, series: Sequence[Sequence[float]]) -> str:
    acs = sorted(a for a in map(lag1, series) if not math.isnan(a))
    spread = f"{acs[0]:.2f} .. {acs[-1]:.2f}" if len(series) > 1 else ""
    mean = statistics.fmean(statistics.fmean(s) for s in series) * 1e4
    return (
        f"  {label:34} {statistics.median(acs):6.2f}  {spread:>12}  {len(series):7}  {mean:+12.3f}"
    )


def noise_table(
    real: dict[str, list[list[float]]] | None, sims: dict[float, History], bases: Iterable[str]
) -> None:
    """Median lag-1 autocorrelation of consecutive prints per symbol, and the mean print (the
    mean of the symbols' means), real venues against the sim at each funding-noise level."""
    wanted = set(bases)
    print("\nFunding noise: lag-1 autocorrelation of consecutive 8h-normalised prints, per symbol")
    print(f"  {'':34} {'median':>6}  {'min .. max':>12}  {'symbols':>7}  {'mean bp/8h':>12}")
    if real is None:
        print("  (real data absent)")
    for venue, series in (real or {}).items():
        print(noise_row(venue, series))
    for noise, histories in sims.items():
        for name, only in (("same 15 bases", wanted), ("all perps", None)):
            funding, _ = sim_stats(histories, only)
            print(noise_row(f"sim noise {noise:g}, {name}", list(funding.series.values())))
        btc, _ = sim_stats({s: h for s, h in histories.items() if s == "BTC/USDT:USDT"}, None)
        print(noise_row(f"sim noise {noise:g}, BTC/USDT:USDT", list(btc.series.values())))


# -- simulated data ----------------------------------------------------------------------------


History = dict[str, list[tuple[int, float, int, float]]]  # symbol -> (time, rate, hours, mark)


def sim_histories(market: SimulatedMarket, start_ms: int, end_ms: int) -> History:
    histories: History = {}
    for symbol, m in market.markets().items():
        if m.type is not MarketType.PERP:
            continue
        settlements = []
        # Month by month, as a caller would page through it.
        for since in range(start_ms, end_ms, 30 * DAY_MS):
            settlements += market.funding_history(symbol, since, min(end_ms, since + 30 * DAY_MS))
        histories[symbol] = [
            (s.time_ms, float(s.rate), s.interval_hours, float(s.mark_price)) for s in settlements
        ]
    return histories


def sim_stats(histories: History, bases: Iterable[str] | None) -> tuple[Funding, Returns]:
    wanted = set(bases) if bases is not None else None
    funding = Funding()
    returns = Returns()
    for symbol, hist in histories.items():
        if wanted is not None and symbol.split("/")[0] not in wanted:
            continue
        marks = []
        for t, rate, hours, mark in hist:
            funding.add(symbol, rate, hours)
            if t % (8 * HOUR_MS) == 0:
                marks.append((t, mark))
        for (t0, p0), (t1, p1) in itertools.pairwise(marks):
            if t1 - t0 == 8 * HOUR_MS:
                returns.series[symbol].append(math.log(p1 / p0))
    return funding, returns


def book_stats(seed: int, start_ms: int, days: int) -> dict[str, str]:
    """Spread and volume ranges from tickers sampled once a day at a drifting hour."""
    spreads: dict[str, list[float]] = defaultdict(list)
    volumes: dict[str, list[float]] = defaultdict(list)
    for d in range(days):
        t = start_ms + d * DAY_MS + (d * 7 % 24) * HOUR_MS
        for symbol, tk in SimulatedMarket(seed=seed, clock=lambda t=t: t).tickers().items():
            mid = (tk.bid + tk.ask) / 2
            spreads[symbol].append(float((tk.ask - tk.bid) / mid * 10_000))
            volumes[symbol].append(float(tk.quote_volume_24h))
    med_spread = {s: statistics.median(v) for s, v in spreads.items()}
    med_volume = {s: statistics.median(v) for s, v in volumes.items()}
    tight = min(med_spread, key=med_spread.__getitem__)
    wide = max(med_spread, key=med_spread.__getitem__)
    thin = min(med_volume, key=med_volume.__getitem__)
    thick = max(med_volume, key=med_volume.__getitem__)
    swings = [max(v) / min(v) for v in volumes.values()]
    return {
        "markets": str(len(spreads)),
        "median spread, tightest": f"{med_spread[tight]:.2f} bp {tight}",
        "median spread, widest": f"{med_spread[wide]:.1f} bp {wide}",
        "spread range (all samples)": f"{min(min(v) for v in spreads.values()):.2f}"
        f" .. {max(max(v) for v in spreads.values()):.1f} bp",
        "median 24h volume, smallest": f"{med_volume[thin]:.3g} {thin}",
        "median 24h volume, largest": f"{med_volume[thick]:.3g} {thick}",
        "volume range (all samples)": f"{min(min(v) for v in volumes.values()):.3g}"
        f" .. {max(max(v) for v in volumes.values()):.3g}",
        "volume max/min per market (median)": f"{statistics.median(swings):.1f}x",
    }


def notable(histories: History, since_ms: int) -> list[str]:
    """Where to point a demo: interval changes, long negative funding, squeezes on the short."""
    changes, negative, squeezes = [], [], []
    for symbol, full in histories.items():
        hist = [h for h in full if h[0] > since_ms]
        switches = [(b[0], a[2], b[2]) for a, b in itertools.pairwise(hist) if a[2] != b[2]]
        if switches:
            t, h0, h1 = switches[0]
            changes.append(f"{short(symbol)} {h0}h->{h1}h at {iso(t)} ({len(switches)} switches)")
        start = None
        for t, rate, _h, _mark in [*hist, (0, 1.0, 0, 0.0)]:
            if rate < 0:
                start = start or t
            elif start is not None:
                if hist and t - start >= 3 * DAY_MS:
                    negative.append((t - start, symbol, start))
                start = None
        # The worst 24h for a short perp: from each settlement, the highest mark within a day.
        for i, (t, _r, _h, mark) in enumerate(hist):
            window = [h[3] for h in hist[i + 1 :] if h[0] <= t + DAY_MS]
            if window and max(window) / mark - 1 > 0.25:
                squeezes.append((max(window) / mark - 1, symbol, t))
    lines = [f"interval changes: {'; '.join(changes) or 'none'}"]
    negative.sort(reverse=True)
    lines += [
        f"negative funding {d / DAY_MS:.1f} days: {short(s)} from {iso(t)}"
        for d, s, t in negative[:8]
    ]
    best: dict[str, tuple[float, str, int]] = {}
    for sq in sorted(squeezes, reverse=True):
        best.setdefault(sq[1], sq)  # the biggest per symbol
    top = sorted(best.values(), reverse=True)[:8]
    lines += [f"+{g:.0%} within 24h from {iso(t)}: {short(s)} (short perp)" for g, s, t in top]
    return lines


def iso(t: int) -> str:
    return datetime.fromtimestamp(t / 1000, UTC).strftime("%Y-%m-%dT%H:%MZ")


def print_table(
    title: str, columns: Sequence[str], tables: Sequence[dict[str, str] | None]
) -> None:
    keys: list[str] = []
    for table in tables:
        for k in table or {}:
            if k not in keys:
                keys.append(k)
    width = max(len(k) for k in keys)
    print(f"\n{title}")
    print(f"  {'':{width}}  " + "  ".join(f"{c:>22}" for c in columns))
    for k in keys:
        cells = [(t or {}).get(k, "-") for t in tables]
        print(f"  {k:{width}}  " + "  ".join(f"{c:>22}" for c in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--years", type=float, default=3.0)
    parser.add_argument(
        "--funding-noise", type=float, default=0.0, help="of the main tables (0..1)"
    )
    args = parser.parse_args()
    started = time.perf_counter()

    root = shared_data()
    real = real_stats(root)
    if real is None:
        print(f"(real data not found at {root}: showing the simulation only)")

    start_ms = END_MS - int(args.years * 365 * DAY_MS)
    market = SimulatedMarket(seed=args.seed, clock=lambda: END_MS, funding_noise=args.funding_noise)
    histories = sim_histories(market, start_ms, END_MS)
    same_f, same_r = sim_stats(histories, REAL_BASES)
    all_f, all_r = sim_stats(histories, None)

    span = f"{iso(start_ms)[:10]} .. {iso(END_MS)[:10]}, seed {args.seed}"
    if args.funding_noise:
        span += f", funding noise {args.funding_noise:g}"
    print(f"Simulated span: {span}")
    columns = ["real (pietroc21)", "sim, same 15 bases", "sim, all perps"]
    print_table(
        "Funding (per settlement, normalised to 8h)",
        columns,
        [real[0].rows() if real else None, same_f.rows(), all_f.rows()],
    )
    print_table(
        "Prices (perp, 8h log returns)",
        columns,
        [real[1].rows() if real else None, same_r.rows(), all_r.rows()],
    )
    print_table(
        "Sim books (tickers sampled daily over 90 days)",
        ["sim"],
        [book_stats(args.seed, END_MS - 90 * DAY_MS, 90)],
    )
    print(f"\nNotable in the sim, last year (seed {args.seed}):")
    for line in notable(histories, END_MS - 365 * DAY_MS):
        print(f"  {line}")
    intervals: dict[int, list[str]] = defaultdict(list)
    for symbol, q in market.funding_quotes().items():
        intervals[q.interval_hours].append(short(symbol))
    for hours in sorted(intervals):
        print(f"  interval {hours}h at {iso(END_MS)}: {' '.join(intervals[hours])}")

    sims = {}
    for noise in NOISE_LEVELS:
        if noise == args.funding_noise:
            sims[noise] = histories
        else:
            noisy = SimulatedMarket(seed=args.seed, clock=lambda: END_MS, funding_noise=noise)
            sims[noise] = sim_histories(noisy, start_ms, END_MS)
    noise_table(real_noise(root), sims, REAL_BASES)
    print(f"\n({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
