"""fra backtest"""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from fra.commands.common import JsonOption, day_ms, guarded, iso, print_json, settings
from fra.commands.output import WideOption
from fra.core.text import plural

if TYPE_CHECKING:
    from fra.commands.output import Line
    from fra.core.performance import Figures, SymbolFigures
    from fra.engine.backtest import Report
    from fra.engine.sweep import Combination
    from fra.settings import Settings

DAY_MS = 86_400_000
# A pool of processes beyond this only queues on the cores and multiplies memory; a grid beyond
# this many combinations is hours of replays per 1,000, and its list alone can exhaust memory.
MAX_WORKERS = 256
MAX_COMBINATIONS = 10_000
FIGURES = ["Net/yr", "Total", "Vol/yr", "Sharpe", "Max DD", "Funding", "Fees", "Trades",
           "In market", "Deployed"]  # fmt: skip


def _period(text: str, option: str) -> tuple[int, int]:
    from fra.errors import BadInput

    since, sep, until = text.partition("..")
    if not sep:
        raise BadInput(f"{option} {text!r} is not a period", f"give {option} FROM..TO (dates)")
    a, b = day_ms(since.strip(), option), day_ms(until.strip(), option)
    if a >= b:
        raise BadInput(f"{option} {text!r} ends before it starts", "give FROM before TO")
    return a, b


def _within_history(
    period: tuple[int, int], start: str, end: str, exchange: str, s: Settings
) -> None:
    """Refuse a period reaching before perpetual swaps existed or past today (the bounds of
    `fra history fetch`): there is no history there, and the simulated market would compute
    every bar of it (millennia, for a mistyped year)."""
    from fra.app import sim_clock, wall_ms
    from fra.engine.fetch import EARLIEST_MS, SIM
    from fra.errors import BadInput

    since_ms, until_ms = period
    if since_ms < EARLIEST_MS:
        raise BadInput(
            f"{start} is before any exchange had perpetual swaps",
            f"give a start on {_date(EARLIEST_MS)} or later",
        )
    now_ms = sim_clock(s, wall_ms())() if exchange == SIM else wall_ms()
    tomorrow_ms = (now_ms // DAY_MS + 1) * DAY_MS
    if until_ms > tomorrow_ms:
        raise BadInput(
            f"{end} is in the future: there is no history there yet",
            f"give an end on {_date(tomorrow_ms)} or earlier (it is {_date(now_ms)} now)",
        )


def _pc(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.2f}%"


def _sharpe(f: Figures) -> str:
    return "-" if f.sharpe is None else f"{f.sharpe:.2f}"


def _cells(f: Figures) -> list[str]:
    return [
        _pc(f.annual_return), _pc(f.net_return), _pc(f.volatility), _sharpe(f),
        _pc(f.max_drawdown), f"{f.funding:,.2f}", f"{f.fees:,.2f}", str(f.trades),
        _pc(f.time_in_market), _pc(f.deployed),
    ]  # fmt: skip


def backtest(
    ctx: typer.Context,
    since: str = typer.Option(None, "--from", help="First day (YYYY-MM-DD, UTC)."),
    until: str = typer.Option(None, "--to", help="Last day (YYYY-MM-DD, UTC), up to its start."),
    exchange: str = typer.Option("binance", "--exchange", help="Whose history to replay."),
    symbols: str = typer.Option(
        None, "--symbols", help="Comma-separated perpetuals (BTC/USDT:USDT or BTCUSDT); all."
    ),
    sweep: bool = typer.Option(
        False, "--sweep", help="Replay a grid of settings, one row per combination."
    ),
    grid: list[str] = typer.Option(
        None,
        "--grid",
        help="With --sweep: KEY=V1,V2 (min_rate, exit_rate, holding_periods, max_positions,"
        " or any strategy/risk setting); repeat per key. Default: a small grid around the"
        " current settings.",
    ),
    train: str = typer.Option(
        None, "--train", help="With --sweep: the period settings are chosen on, FROM..TO."
    ),
    test: str = typer.Option(
        None, "--test", help="With --sweep: the period they are scored on, FROM..TO."
    ),
    workers: int = typer.Option(
        None,
        "--workers",
        help="With --sweep: processes replaying combinations at once. Default: one per CPU"
        " core; 1: all in this process.",
    ),
    chart: Path = typer.Option(
        None,
        "--chart",
        help="Also write the picture (equity, drawdown, funding of the held symbols) to this"
        " self-contained HTML file.",
    ),
    as_json: bool = JsonOption,
    wide: bool = WideOption,
) -> None:
    """Replay history through run-cycle's own ranking, risk and exit rules; compare with
    holding BTC's carry trade and an equal-weight basket the whole period. Settings (FRA_*,
    .env) apply as they would live; FRA_BACKTEST__* sets capital, fees, spread, slippage."""

    def body() -> None:
        from fra.errors import BadInput

        s = settings(ctx)
        chosen = [x.strip() for x in symbols.split(",") if x.strip()] if symbols else None
        if not sweep and (grid or train or test):
            raise BadInput("--grid, --train and --test go with --sweep", "add --sweep")
        if workers is not None and not sweep:
            raise BadInput("--workers goes with --sweep", "add --sweep, or drop --workers")
        if workers is not None and workers < 1:
            raise BadInput(
                f"--workers {workers}: no process to replay in",
                "give 1 or more (1 replays in this process)",
            )
        if workers is not None and workers > MAX_WORKERS:
            raise BadInput(
                f"--workers {workers}: more processes than a sweep can use",
                f"give at most {MAX_WORKERS}; more than the CPU cores only wait their turn",
            )
        if sweep and chart:
            raise BadInput("--chart draws one replay, not a sweep", "drop --chart or --sweep")
        if chart and not chart.parent.is_dir():
            raise BadInput(f"--chart: no directory {chart.parent}", "create it or choose another")
        if train and (since or until):
            raise BadInput("--train replaces --from/--to", "give one or the other")
        if test and not train:
            raise BadInput("--test needs --train", "give --train FROM..TO as well")
        if not train and not (since and until):
            raise BadInput("--from and --to are required", "give both, as YYYY-MM-DD")
        period = _period(train, "--train") if train else (
            day_ms(since, "--from"), day_ms(until, "--to"))  # fmt: skip
        if train:
            _within_history(period, f"--train {train}", f"--train {train}", exchange.lower(), s)
        else:
            _within_history(period, f"--from {since}", f"--to {until}", exchange.lower(), s)
        if sweep:
            periods = {"train": period}
            if test:
                periods["test"] = _period(test, "--test")
                _within_history(
                    periods["test"], f"--test {test}", f"--test {test}", exchange.lower(), s
                )
                (a, b), (c, d) = periods["train"], periods["test"]
                if c < b and a < d:
                    raise BadInput(
                        "--test overlaps --train: settings would be scored on the data they"
                        " were chosen on",
                        "give periods that do not overlap (one may start where the other ends)",
                    )
            cores = workers or os.cpu_count() or 1
            _sweep(s, exchange.lower(), chosen, grid or [], periods, as_json, cores, wide)
        else:
            _single(s, exchange.lower(), chosen, period, as_json, chart, wide)

    guarded(body)


DAY_MS = 86_400_000
# Below about a season, one funding episode more or less swings a yearly rate by its multiple.
MEANINGFUL_DAYS = 90


def _single(
    s: Settings,
    exchange: str,
    chosen: list[str] | None,
    period: tuple[int, int],
    as_json: bool,
    chart: Path | None,
    wide: bool,
) -> None:
    from fra.engine.backtest import backtest as replay

    report = replay(s, exchange, chosen, *period)
    days = (period[1] - period[0]) / DAY_MS
    if days < MEANINGFUL_DAYS:
        report.warnings.append(
            f"the period is {days:.0f} days: annualised figures (Net/yr, Vol/yr, Sharpe) over less"
            f" than about {MEANINGFUL_DAYS} days are not meaningful; compare totals, or replay a"
            " longer period"
        )
    if chart is not None:
        _write_chart(chart, report, s)
    if as_json:
        print_json(
            {
                "exchange": report.exchange,
                "from": iso(report.since_ms),
                "to": iso(report.until_ms),
                "symbols": list(report.symbols),
                "strategy": _figures_json(report.strategy),
                "baselines": {k: _figures_json(v) for k, v in report.baselines.items()},
                "per_symbol": [_figures_json(f) for f in report.per_symbol],
                "events": report.events,
                "warnings": report.warnings,
                "chart": str(chart) if chart else None,
            }
        )
        return
    from fra.commands.output import emit, line, table

    rows = [("strategy", report.strategy), *report.baselines.items()]
    out = table(
        f"Backtest {report.exchange} {_date(report.since_ms)} .. {_date(report.until_ms)},"
        f" {plural(len(report.symbols), 'symbol')} (capital {s.backtest.capital:,} USDT)",
        ["", *FIGURES],
        [[name, *_cells(f)] for name, f in rows],
        left={""},
        # What it earned, how rough the ride and how often it traded come first.
        drop=["Vol/yr", "Deployed", "In market", "Total", "Fees", "Funding"],
    )
    out += table(
        "Per symbol (strategy)",
        ["Symbol", "Trades", "Days held", "Funding", "Fees", "Net P&L"],
        [
            [f.symbol, str(f.trades), f"{f.days_held:.1f}", f"{f.funding:,.2f}",
             f"{f.fees:,.2f}", f"{f.pnl:,.2f}"]
            for f in report.per_symbol
        ],
        left={"Symbol"},
    )  # fmt: skip
    for event in report.events[:20]:
        out.append(line(f"event: {event}"))
    if len(report.events) > 20:
        out.append(line(f"... and {plural(len(report.events) - 20, 'more event')} (--json)"))
    out += _notes(report.warnings)
    if chart is not None:
        out.append(line(f"chart: {chart}"))
    emit(out, wide)


# The trades' closing reasons the picture marks, as its kinds of event.
MARKED = {
    "perp leg liquidated by the venue": "liquidation",
    "emergency stop: critical margin": "emergency stop",
}


def _write_chart(path: Path, report: Report, s: Settings) -> None:
    from fra.commands.chart import backtest_html
    from fra.errors import BadInput

    rows = [("strategy", report.strategy), *report.baselines.items()]
    page = backtest_html(
        f"Backtest {report.exchange} {_date(report.since_ms)} .. {_date(report.until_ms)}",
        f"{plural(len(report.symbols), 'symbol')}, capital {s.backtest.capital:,} USDT, the"
        " settings in force; baselines hold their share of the equity the whole period",
        {
            name: [(p.time_ms, float(p.equity)) for p in result.points]
            for name, result in report.results.items()
        },
        report.held_funding(),
        [(t.opened_ms, t.closed_ms, t.symbol) for t in report.results["strategy"].trades],
        [(name, _cells(f)) for name, f in rows],
        ["", *FIGURES],
        [
            (t.closed_ms, MARKED[t.reason], f"{_date(t.closed_ms)} {t.symbol}: {t.reason}")
            for t in report.results["strategy"].trades
            if t.reason in MARKED
        ],
    )
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise BadInput(
            f"--chart: cannot write {path}: {exc.strerror}", "choose another path"
        ) from None


def _sweep(
    s: Settings,
    exchange: str,
    chosen: list[str] | None,
    grid_texts: list[str],
    periods: dict[str, tuple[int, int]],
    as_json: bool,
    workers: int,
    wide: bool,
) -> None:
    import sys

    from fra.engine.sweep import choice_drawdown, parse_grid, sweep, within
    from fra.errors import BadInput, Interrupted

    grid = parse_grid(grid_texts, s)
    combinations = math.prod(len(values) for values in grid.values())
    if combinations > MAX_COMBINATIONS:
        raise BadInput(
            f"--grid makes {combinations:,} combinations, more than {MAX_COMBINATIONS:,}",
            "give fewer values per key, or sweep in stages",
        )
    progress = None
    shown: list[int] = []
    if not as_json and sys.stderr.isatty():

        def progress(done: int, total: int) -> None:
            shown.append(done)
            print(f"\r{done}/{total} combinations", end="" if done < total else "\n",
                  file=sys.stderr, flush=True)  # fmt: skip

    try:
        result = sweep(s, exchange, chosen, grid, periods, progress, workers)
    except Interrupted:
        if shown:
            print(file=sys.stderr)  # the error goes below the progress line, not after it
        raise
    first = next(iter(periods))
    bar = choice_drawdown(result.baselines[first])
    if as_json:
        print_json(
            {
                "exchange": exchange,
                "periods": {k: {"from": iso(a), "to": iso(b)} for k, (a, b) in periods.items()},
                "chosen_by": f"best {first} return with a {first} drawdown no worse than {bar:.4%}",
                "grid": grid,
                "rows": [
                    {
                        "values": c.values,
                        "chosen": i == 0 and within(c.scores[first], bar),
                        "within_drawdown": within(c.scores[first], bar),
                        **{k: _figures_json(f) for k, f in c.scores.items()},
                    }
                    for i, c in enumerate(result.rows)
                ],
                "baselines": {
                    k: {name: _figures_json(f) for name, f in v.items()}
                    for k, v in result.baselines.items()
                },
                "skipped": result.skipped,
                "warnings": result.warnings,
            }
        )
        return
    from fra.commands.output import emit, line, table

    both = len(periods) > 1
    figures = ["Net/yr", "Sharpe", "Max DD", "Trades"]
    columns = [*result.keys]
    for name in periods:
        columns += [f"{name} {f}" if both else f for f in figures]

    def cells(f: Figures) -> list[str]:
        return [_pc(f.annual_return), _sharpe(f), _pc(f.max_drawdown), str(f.trades)]

    # The settings and what they earned at what drawdown are the point; the rest goes first.
    drop = [f"{name} {f}" if both else f for f in ("Trades", "Sharpe") for name in periods]
    spans = ", ".join(f"{k} {_date(a)} .. {_date(b)}" for k, (a, b) in periods.items())

    def mark(i: int, c: Combination) -> str:
        if not within(c.scores[first], bar):
            return f"{first} DD worse"
        return "chosen" if i == 0 else ""

    out = table(
        f"Sweep {exchange} {spans}: {plural(len(result.rows), 'combination')}. Chosen: the best"
        f" {first}"
        f" return whose {first} drawdown is no worse than the baseline's ({_pc(bar)})",
        ["", *columns],
        [
            [mark(i, c), *c.values.values(), *(x for n in periods for x in cells(c.scores[n]))]
            for i, c in enumerate(result.rows)
        ],
        left={"", *result.keys},
        drop=drop,
        wrap={""},
        min_wrap=6,
    )
    names = list(next(iter(result.baselines.values())))
    out += table(
        "Baselines (the same whatever the grid)",
        ["", *columns[len(result.keys) :]],
        [[name, *(x for p in periods for x in cells(result.baselines[p][name]))] for name in names],
        left={""},
        drop=drop,
    )
    out += _notes([f"skipped {x}" for x in result.skipped] + result.warnings)
    if not result.rows:
        out.append(line("no combination passed the settings rules: change the --grid values"))
    emit(out, wide)


# The backtest's money among its figures; the rest are fractions, days, Sharpe ratios, counts.
MONEY_FIGURES = frozenset({"start_equity", "end_equity", "funding", "fees", "pnl"})


def _figures_json(figures: Figures | SymbolFigures) -> dict[str, object]:
    """Figures for --json: money to the quote's places, the rest to significant digits (see
    fra.core.precision). Floats (analytics) stay JSON numbers."""
    from fra.core import precision

    return {
        k: (precision.money(v) if k in MONEY_FIGURES else precision.ratio(v))
        if isinstance(v, float)
        else v
        for k, v in figures._asdict().items()
    }


def _notes(texts: list[str]) -> list[Line]:
    from fra.commands.output import line

    return [line(f"note: {t}") for t in texts]


def _date(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")
