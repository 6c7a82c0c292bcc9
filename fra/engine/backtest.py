"""`fra backtest`: load history, replay the strategy and the two baselines, report."""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise
from typing import NamedTuple

from fra.core.backtest import (
    DAY_MS,
    HOUR_MS,
    STALE_MS,
    Params,
    Result,
    Series,
    bar_length,
    hold,
    intervals,
    run,
)
from fra.core.history import HistoryError, unify
from fra.core.performance import Figures, SymbolFigures, figures, per_symbol
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
    funding: dict[str, list[tuple[int, float]]]  # per symbol: (time, rate per 8h)


def params(settings: Settings) -> Params:
    b, r = settings.backtest, settings.risk
    return Params(
        rank=settings.strategy.rank_params(),
        exit_rate=settings.strategy.exit_funding_rate,
        limits=r.limits(),
        capital=b.capital,
        spot_fee=b.spot_fee,
        perp_fee=b.perp_fee,
        half_spread=b.spread_bps * BPS / 2,
        slippage=b.slippage_bps * BPS,
        maintenance_rate=b.maintenance_margin_rate,
        margin_alert=r.margin_alert,
        margin_critical=r.margin_critical,
        resume_after_ms=b.resume_after_hours * HOUR_MS,
    )


def load(
    store: HistoryStore,
    exchange: str,
    symbols: list[str] | None,
    since_ms: int,
    until_ms: int,
) -> tuple[list[Series], list[str]]:
    """The history of each symbol in the range, and warnings about what was left out."""
    stored = {c.symbol for c in store.coverage(exchange) if c.kind == "funding"}
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
    funding = store.funding(exchange, wanted, since_ms, until_ms)
    spots = {s: s.split(":")[0] for s in wanted}
    bars = store.price_bars(exchange, [*wanted, *spots.values()], since_ms - DAY_MS, until_ms)
    series, warnings, no_bars = [], [], []
    for symbol in wanted:
        if not funding[symbol]:
            continue
        if not bars[symbol]:
            if symbols:
                raise HistoryError(
                    f"no {exchange} price bars for {symbol}",
                    "import its perp and spot bars (exchange,symbol,market,open_time_ms,...)",
                )
            no_bars.append(symbol)
            continue
        settlements = intervals(funding[symbol])
        gaps = [
            (a.time_ms, b.time_ms)
            for a, b in pairwise(settlements)
            if b.time_ms - a.time_ms > STALE_MS
        ]
        if gaps:
            widest = max(gaps, key=lambda g: g[1] - g[0])
            warnings.append(
                f"{symbol}: {len(gaps)} gap(s) in the funding data, the widest"
                f" {(widest[1] - widest[0]) / HOUR_MS:.0f}h: no rate is known there, so a"
                " position held into one is closed"
            )
        series.append(
            Series(
                symbol,
                spots[symbol],
                settlements,
                tuple(bars[symbol]),
                tuple(bars[spots[symbol]]),
                bar_length(bars[symbol]),
            )
        )
    if no_bars:
        warnings.insert(
            0,
            f"left out {len(no_bars)} symbol(s) with funding but no price bars:"
            f" {', '.join(no_bars[:8])}{' ...' if len(no_bars) > 8 else ''}",
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


def load_history(
    settings: Settings, exchange: str, symbols: list[str] | None, since_ms: int, until_ms: int
) -> tuple[list[Series], list[str]]:
    with bad_history():
        if since_ms >= until_ms:
            raise HistoryError("--from is not before --to", "give a --from earlier than --to")
        if not settings.history_path.exists():
            raise HistoryError(
                f"no history file at {settings.history_path}",
                "run `fra history fetch` or `fra history import FILE` first",
            )
        store = HistoryStore.open(settings.history_path)
        try:
            return load(store, exchange, symbols, since_ms, until_ms)
        finally:
            store.close()


def replay_baselines(
    series: list[Series], p: Params, since_ms: int, until_ms: int, warnings: list[str]
) -> dict[str, Result]:
    out = {}
    btc = [s for s in series if s.symbol == BTC]
    if btc:
        out["hold BTC"] = hold(btc, p, since_ms, until_ms)
    else:
        warnings.append("no BTC/USDT:USDT in the data: the BTC baseline is left out")
    out["hold all"] = hold(series, p, since_ms, until_ms)
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
    strategy = run(series, p, since_ms, until_ms)
    results = {"strategy": strategy, **replay_baselines(series, p, since_ms, until_ms, warnings)}
    held = {s for point in strategy.points for s in point.held}
    funding = {
        s.symbol: [
            (st.time_ms, float(st.rate) * 8 / st.interval_hours)
            for st in s.settlements
            if since_ms <= st.time_ms <= until_ms
        ]
        for s in series
        if s.symbol in held
    }
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
        funding=funding,
    )
