"""`fra backtest`: load history, replay the strategy and the two baselines, report."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise
from typing import NamedTuple

from fra.core.backtest import (
    DAY_MS,
    HOUR_MS,
    STALE_BARS,
    STALE_MS,
    Params,
    Result,
    Series,
    Timeline,
    bar_length,
    hold,
    intervals,
    run,
    timeline,
)
from fra.core.brackets import Brackets, flat
from fra.core.history import FundingRecord, HistoryError, PriceBar, unify
from fra.core.margin import Cushions
from fra.core.performance import Figures, SymbolFigures, figures, per_symbol
from fra.core.text import plural
from fra.core.units import ONE, Hedge, hedge_of
from fra.engine.history import bad_history
from fra.settings import Settings
from fra.store.history import HistoryStore

BPS = Decimal("0.0001")
BTC = "BTC/USDT:USDT"


class Report(NamedTuple):
    exchange: str
    since_ms: int
    until_ms: int
    symbols: tuple[str, ...]
    strategy: Figures
    per_symbol: list[SymbolFigures]
    baselines: dict[str, Figures]
    events: list[str]
    warnings: list[str]
    results: dict[str, Result]  # strategy and baselines, for the picture
    series: list[Series]  # what was replayed

    def held_funding(self) -> dict[str, list[tuple[int, float]]]:
        """The funding of each symbol the strategy held, as (time, rate per 8h), for the
        picture (analytics: floats)."""
        held = {s for point in self.results["strategy"].points for s in point.held}
        return {
            s.symbol: [
                (st.time_ms, float(st.rate) * 8 / st.interval_hours)
                for st in s.settlements
                if self.since_ms <= st.time_ms <= self.until_ms
            ]
            for s in self.series
            if s.symbol in held
        }


def params(settings: Settings) -> Params:
    b, r = settings.backtest, settings.risk
    # Binance's brackets as fra ships them, whatever exchange the history is of: the one
    # table fra has. A flat rate only when one is set.
    from fra.venues.bracket_sources import shipped

    brackets = (
        shipped()
        if b.maintenance_margin_rate is None
        else Brackets({}, flat(b.maintenance_margin_rate, r.leverage))
    )
    return Params(
        rank=settings.strategy.rank_params(),
        forecast=settings.strategy.forecast_params(),
        limits=r.limits(),
        capital=b.capital,
        spot_fee=b.spot_fee,
        perp_fee=b.perp_fee,
        half_spread=b.spread_bps * BPS / 2,
        slippage=b.slippage_bps * BPS,
        brackets=brackets,
        margin_alert=r.margin_alert,
        margin_critical=r.margin_critical,
        resume_after_ms=b.resume_after_hours * HOUR_MS,
        cushions=Cushions(r.topup_cushion, r.target_cushion) if r.topup_cushion else None,
    )


def load(
    store: HistoryStore,
    exchange: str,
    symbols: list[str] | None,
    since_ms: int,
    until_ms: int,
    warmup_ms: int = 0,
) -> tuple[list[Series], list[str]]:
    """The history of each symbol in the range (funding from `warmup_ms` earlier, for the
    forecast), and warnings about what was left out."""
    stored = store.symbols(exchange, "funding")
    if not stored:
        raise HistoryError(
            f"history.db holds no funding history for {exchange}",
            f"run `fra history fetch --exchange {exchange}` or `fra history import FILE`",
        )
    wanted = [unify(exchange, s, perpetual=True) for s in symbols] if symbols else sorted(stored)
    missing = [s for s in wanted if s not in stored]
    if missing:
        raise HistoryError(
            f"no {exchange} funding history for {', '.join(missing)}",
            f"choose from {', '.join(sorted(stored)[:20])} or import it",
        )
    unpriced: list[str] = []
    priced = store.symbols(exchange, "bars")
    if not symbols:  # those without any bars are left out unread
        unpriced = [s for s in wanted if s not in priced]
        wanted = [s for s in wanted if s in priced]
    funding = store.funding(exchange, wanted, since_ms - warmup_ms, until_ms)
    # A 1000PEPE perpetual is paired with PEPE/USDT's bars where history holds no 1000PEPE/USDT,
    # as a scan pairs them (fra.core.units).
    hedges = {s: hedge_of(s, priced) for s in wanted}
    spots = [h.spot_symbol for h in hedges.values()]
    # A day before the period: the 24h volume of the first cycle.
    bars = store.price_bars(exchange, [*wanted, *spots], since_ms - DAY_MS, until_ms)
    return _series(
        exchange,
        wanted,
        funding,
        bars,
        since_ms,
        explicit=bool(symbols),
        no_bars=unpriced,
        hedges=hedges,
    )


def simulated(
    settings: Settings,
    symbols: list[str] | None,
    since_ms: int,
    until_ms: int,
    warmup_ms: int = 0,
) -> tuple[list[Series], list[str]]:
    """The simulated market's history, computed as `fra history fetch --exchange sim` would
    store it (the seed and shocks of `--venue simulated`): every perpetual with a spot market,
    or `symbols`."""
    from fra.engine.fetch import SimSource
    from fra.venues.simulated import SIM_EXCHANGE, SimulatedMarket, parse_shock

    source = SimSource(
        SimulatedMarket(
            settings.sim.seed,
            shocks=[parse_shock(t) for t in settings.sim.shocks],
            funding_noise=settings.sim.funding_noise,
        )
    )
    perps = source.perpetuals()
    wanted = (
        [unify(SIM_EXCHANGE, s, perpetual=True) for s in symbols]
        if symbols
        else sorted(s for s, spot in perps.items() if spot is not None)
    )
    missing = [s for s in wanted if s not in perps]
    if missing:
        raise HistoryError(
            f"the simulated market has no perpetual {', '.join(missing)}",
            f"choose from {', '.join(sorted(perps)[:20])}",
        )
    funding = {
        s: [r for page in source.funding_pages(s, since_ms - warmup_ms, until_ms + 1) for r in page]
        for s in wanted
    }
    markets = [*wanted, *(spot for s in wanted if (spot := perps[s]) is not None)]
    bars: dict[str, list[PriceBar]] = {m: [] for m in markets}
    for page in source.bar_pages(dict.fromkeys(markets, since_ms - DAY_MS), until_ms + 1):
        for b in page:
            bars[b.symbol].append(PriceBar(b.open_time_ms, b.close, str(b.high), str(b.volume)))
    return _series(SIM_EXCHANGE, wanted, funding, bars, since_ms, explicit=bool(symbols))


def _series(
    exchange: str,
    wanted: list[str],
    funding: dict[str, list[FundingRecord]],
    bars: dict[str, list[PriceBar]],
    since_ms: int,
    *,
    explicit: bool,
    no_bars: list[str] | None = None,
    hedges: dict[str, Hedge] | None = None,
) -> tuple[list[Series], list[str]]:
    """Each symbol's Series, and warnings about what was left out (`no_bars`: symbols already
    left out for want of bars); `explicit`: the user named the symbols, so one without bars is
    an error rather than a note. `hedges`: each perpetual's spot market and coins per unit
    (default: the spot pair of its own coin); a perpetual counted in units of many coins is
    replayed per coin, its prices and mark prices divided by the unit."""
    hedges = hedges or {}
    spots = {s: hedges[s].spot_symbol if s in hedges else s.split(":")[0] for s in wanted}
    series: list[Series] = []
    warnings: list[str] = []
    no_bars = list(no_bars or [])
    for symbol in wanted:
        if not funding[symbol]:
            continue
        if not bars[symbol]:
            if explicit:
                raise HistoryError(
                    f"no {exchange} price bars for {symbol}",
                    "import its perp and spot bars (exchange,symbol,market,open_time_ms,...)",
                )
            no_bars.append(symbol)
            continue
        unit = hedges[symbol].coins_per_unit if symbol in hedges else ONE
        settlements = intervals(per_coin_funding(funding[symbol], unit))
        gaps = [
            (a.time_ms, b.time_ms)
            for a, b in pairwise(settlements)
            if b.time_ms - a.time_ms > STALE_MS
        ]
        if gaps:
            widest = max(gaps, key=lambda g: g[1] - g[0])
            warnings.append(
                f"{symbol}: {plural(len(gaps), 'gap')} in the funding data, the widest"
                f" {(widest[1] - widest[0]) / HOUR_MS:.0f}h: no rate is known there, so a"
                " position held into one is closed"
            )
        one = Series(
            symbol,
            spots[symbol],
            settlements,
            per_coin_bars(bars[symbol], unit),
            tuple(bars.get(spots[symbol], ())),
            bar_length(bars[symbol]),
        )
        series.append(one)
    warnings += _price_gaps(series, since_ms)
    if no_bars:
        warnings.insert(
            0,
            f"left out {plural(len(no_bars), 'symbol')} with funding but no"
            f" price bars: {', '.join(no_bars[:8])}{' ...' if len(no_bars) > 8 else ''}",
        )
    if not series and no_bars:
        raise HistoryError(
            f"no {exchange} price bars for the symbols with funding in the period",
            "import or fetch their perp and spot bars",
        )
    if not series:
        raise HistoryError(
            f"no {exchange} funding history between the given dates for {', '.join(wanted[:10])}",
            "choose --from/--to inside the data (`fra history list`)",
        )
    return series, warnings


def per_coin_funding(records: list[FundingRecord], unit: Decimal) -> list[FundingRecord]:
    """Settlements of a perpetual counted in units of `unit` coins, with mark prices per coin."""
    if unit == ONE:
        return records
    return [r._replace(mark_price=r.mark_price / unit if r.mark_price else None) for r in records]


def per_coin_bars(bars: list[PriceBar], unit: Decimal) -> tuple[PriceBar, ...]:
    """A perpetual's bars per coin: prices divided by `unit`, volumes (in units) times it."""
    if unit == ONE:
        return tuple(bars)
    return tuple(
        PriceBar(
            b.open_time_ms,
            b.close / unit,
            str(Decimal(b.high_text) / unit),
            str(Decimal(b.volume_text) * unit),
        )
        for b in bars
    )


def _price_gaps(series: list[Series], since_ms: int) -> list[str]:
    """Where the bars leave a symbol without a known price while it settles funding: nothing
    is held or opened there (`STALE_BARS`)."""
    out, ends = [], {}
    for s in series:
        # The forecast's warm-up reads funding from before the period: judge from its start.
        first = max(s.settlements[0].time_ms, since_ms)
        last = s.settlements[-1].time_ms
        for market, bars in ((s.symbol, s.perp_bars), (s.spot_symbol, s.spot_bars)):
            if not bars:
                continue
            opens = [b.open_time_ms for b in bars]
            gaps = [b - a for a, b in pairwise(opens) if b - a > STALE_BARS * s.bar_ms]
            if gaps:
                out.append(
                    f"{market}: {plural(len(gaps), 'gap')} in the price bars, the"
                    f" widest {max(gaps) / HOUR_MS:.0f}h: no price is known there, so nothing is"
                    " held or opened"
                )
            if opens[-1] + (STALE_BARS + 1) * s.bar_ms < last:
                ends.setdefault((opens[-1] + s.bar_ms, last), []).append(market)
            if opens[0] > first + STALE_BARS * s.bar_ms:
                out.append(f"{market}: price bars begin {_date(opens[0])}, after its funding")
    for (end, last), markets in sorted(ends.items()):
        shown = ", ".join(markets[:4]) + (
            f" and {len(markets) - 4} more" if len(markets) > 4 else ""
        )
        out.append(
            f"price bars end {_date(end)} but funding goes on to {_date(last)} ({shown}):"
            " nothing is held or opened after"
        )
    return out


def _date(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def load_history(
    settings: Settings, exchange: str, symbols: list[str] | None, since_ms: int, until_ms: int
) -> tuple[list[Series], list[str]]:
    with bad_history():
        if since_ms >= until_ms:
            raise HistoryError("--from is not before --to", "give a --from earlier than --to")
        # The forecast at the period's first cycle is made from the prints before it, as live
        # has them in state.db: at least a month, or the forecast's whole lookback.
        warmup = max(30 * DAY_MS, settings.strategy.forecast_params().lookback_ms())
        if exchange == "sim":
            return simulated(settings, symbols, since_ms, until_ms, warmup)
        if not settings.history_path.exists():
            raise HistoryError(
                f"no history file at {settings.history_path}",
                "run `fra history fetch` or `fra history import FILE` first",
            )
        store = HistoryStore.open(settings.history_path)
        try:
            return load(store, exchange, symbols, since_ms, until_ms, warmup)
        finally:
            store.close()


def replay_baselines(
    series: list[Series],
    p: Params,
    since_ms: int,
    until_ms: int,
    warnings: list[str],
    cycles: Timeline | None = None,
) -> dict[str, Result]:
    out = {}
    btc = [s for s in series if s.symbol == BTC]
    if btc:
        out["hold BTC"] = hold(btc, p, since_ms, until_ms)
    else:
        warnings.append("no BTC/USDT:USDT in the data: the BTC baseline is left out")
    out["hold all"] = hold(series, p, since_ms, until_ms, cycles)
    return out


def backtest(
    settings: Settings,
    exchange: str,
    symbols: list[str] | None,
    since_ms: int,
    until_ms: int,
) -> Report:
    series, warnings = load_history(settings, exchange, symbols, since_ms, until_ms)
    p = params(settings)
    cycles = timeline(series, since_ms, until_ms)
    strategy = run(series, p, since_ms, until_ms, cycles)
    results = {
        "strategy": strategy,
        **replay_baselines(series, p, since_ms, until_ms, warnings, cycles),
    }
    for name, result in results.items():
        if name != "strategy" and result.events:
            warnings.append(
                f"{name}: {plural(len(result.events), 'short')} liquidated"
                " between two settlements, entered again at the next"
            )
    return Report(
        exchange=exchange,
        since_ms=since_ms,
        until_ms=until_ms,
        symbols=tuple(s.symbol for s in series),
        strategy=figures(strategy, p.capital),
        per_symbol=per_symbol(strategy.trades),
        baselines={
            name: figures(r, p.capital) for name, r in results.items() if name != "strategy"
        },
        events=strategy.events,
        warnings=warnings,
        results=results,
        series=series,
    )
