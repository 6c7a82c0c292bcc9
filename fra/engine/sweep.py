"""`fra backtest --sweep`: the replay over a grid of settings, one row per combination, scored
on a training period and, when one is given, on a test period it never saw."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from decimal import ROUND_DOWN, Decimal
from multiprocessing.context import BaseContext
from types import FrameType
from typing import NamedTuple

from pydantic import ValidationError

from fra.core.backtest import Params, Series, Timeline, run, timeline
from fra.core.performance import Figures, figures
from fra.engine.backtest import load_history, params, replay_baselines
from fra.errors import BadInput, Interrupted
from fra.settings import RiskSettings, Settings, StrategySettings

# Short names for the settings a sweep is usually about; any other numeric strategy or risk
# setting can be swept by its own name (leverage, max_position_usd, margin_critical, ...).
ALIASES = {
    "min_rate": "min_funding_rate",
    "exit_rate": "exit_funding_rate",
    "holding_periods": "min_holding_periods",
    "half_life": "forecast_half_life_hours",
    # N positions, each allowed an equal share of the equity (max_position_fraction = 1/N).
    "slots": "max_positions",
}
# Swept when no --grid is given, each with the current setting added.
DEFAULT_GRID = {
    "min_rate": ("0.0001", "0.0005"),
    "exit_rate": ("0",),
    "holding_periods": ("9",),
    "slots": ("1",),
}
_SECTIONS = {
    **{name: "strategy" for name in StrategySettings.model_fields if name != "symbols"},
    **{name: "risk" for name in RiskSettings.model_fields},
}


class Combination(NamedTuple):
    values: dict[str, str]  # grid key -> value
    scores: dict[str, Figures]  # period name ("train", "test") -> the strategy's figures


class Sweep(NamedTuple):
    keys: list[str]
    periods: dict[str, tuple[int, int]]
    rows: list[Combination]  # the chosen first, then by the selection rule (see `choose`)
    baselines: dict[str, dict[str, Figures]]  # period -> baseline -> figures
    skipped: list[str]  # combinations the settings rules refuse
    warnings: list[str]


def _field(key: str) -> tuple[str, str]:
    name = ALIASES.get(key, key)
    section = _SECTIONS.get(name)
    if section is None:
        raise BadInput(
            f"--grid {key}: not a setting a sweep can vary",
            f"use {', '.join(ALIASES)}, or a strategy/risk setting such as leverage",
        )
    return section, name


def with_values(settings: Settings, values: dict[str, str]) -> Settings:
    """The settings with the grid's values, checked by the same rules as FRA_* variables
    (ValidationError if they break one, e.g. an exit rate above the entry rate)."""
    parts = {"strategy": settings.strategy.model_dump(), "risk": settings.risk.model_dump()}
    for key, value in values.items():
        section, name = _field(key)
        parts[section][name] = value
        if key == "slots":
            parts["risk"]["max_position_fraction"] = _share(value)
    return settings.model_copy(
        update={
            "strategy": StrategySettings.model_validate(parts["strategy"]),
            "risk": RiskSettings.model_validate(parts["risk"]),
        }
    )


def _share(slots: str) -> str:
    """1/N of the equity, rounded down to 4 places so N of them never exceed it."""
    try:
        n = int(slots)
    except ValueError:
        n = 0
    if not 1 <= n <= 1000:
        raise BadInput(
            f"--grid slots={slots}: not a whole number of positions from 1 to 1000",
            "give e.g. slots=1,2,3",
        )
    return str((Decimal(1) / n).quantize(Decimal("0.0001"), rounding=ROUND_DOWN))


def parse_grid(texts: list[str], settings: Settings) -> dict[str, list[str]]:
    """`--grid KEY=V1,V2` options, each value checked on its own; none: DEFAULT_GRID plus the
    current settings."""
    if not texts:
        grid = {}
        for key, values in DEFAULT_GRID.items():
            section, name = _field(key)
            current = str(getattr(getattr(settings, section), name))
            grid[key] = sorted({current, *values}, key=float)
        return grid
    grid: dict[str, list[str]] = {}
    for text in texts:
        key, _, values = text.partition("=")
        key = key.strip()
        chosen = [v.strip() for v in values.split(",") if v.strip()]
        if not key or not chosen:
            raise BadInput(
                f"--grid {text!r} has no values",
                "write --grid KEY=V1,V2 (e.g. min_rate=0.0001,0.0003)",
            )
        fraction = ("risk", "max_position_fraction")
        if (key == "slots" and fraction in {_field(k) for k in grid}) or (
            "slots" in grid and _field(key) == fraction
        ):
            raise BadInput(
                f"--grid {key}: slots already sets max_positions and max_position_fraction",
                "give slots, or the two settings, not both",
            )
        if _field(key) in {_field(k) for k in grid}:  # also min_rate and min_funding_rate
            raise BadInput(
                f"--grid {key} is given twice", "give each setting once, values comma-separated"
            )
        for value in chosen:
            try:
                with_values(settings, {key: value})
            except ValidationError as exc:
                # A rule between settings (exit below entry) may hold with the grid's other
                # values: that combination is skipped later. A bad value on its own is an error.
                err = exc.errors()[0]
                if err["loc"]:
                    reason = err["msg"].removeprefix("Value error, ")
                    raise BadInput(
                        f"--grid {key}={value}: {reason}", "give a valid value"
                    ) from None
        grid[key] = chosen
    return grid


def sweep(
    settings: Settings,
    exchange: str,
    symbols: list[str] | None,
    grid: dict[str, list[str]],
    periods: dict[str, tuple[int, int]],
    progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
) -> Sweep:
    """Every combination of the grid replayed on each period; the history is loaded once.
    `workers` > 1: the combinations are replayed by that many processes at once (the rows are
    the same as with one). SIGINT/SIGTERM stop it with `Interrupted`."""
    if workers < 1:
        raise ValueError(f"workers must be 1 or more, not {workers}")
    with _interruptible():
        return _sweep(settings, exchange, symbols, grid, periods, progress, workers)


def _sweep(
    settings: Settings,
    exchange: str,
    symbols: list[str] | None,
    grid: dict[str, list[str]],
    periods: dict[str, tuple[int, int]],
    progress: Callable[[int, int], None] | None,
    workers: int,
) -> Sweep:
    series, warnings = load_history(
        settings,
        exchange,
        symbols,
        min(a for a, _ in periods.values()),
        max(b for _, b in periods.values()),
    )
    for name, (a, b) in periods.items():
        if not any(
            s.settlements[0].time_ms <= b and s.settlements[-1].time_ms >= a for s in series
        ):
            raise BadInput(
                f"no {exchange} funding history in the --{name} period",
                "choose dates inside the data (`fra history list`)",
            )
    base = params(settings)
    cycles = {name: timeline(series, a, b) for name, (a, b) in periods.items()}
    baselines = {
        name: {
            k: figures(r, base.capital)
            for k, r in replay_baselines(series, base, a, b, warnings, cycles[name]).items()
        }
        for name, (a, b) in periods.items()
    }
    keys = list(grid)
    combos = [dict(zip(keys, values, strict=True)) for values in itertools.product(*grid.values())]
    todo: dict[int, Params] = {}
    skipped = []
    for i, values in enumerate(combos):
        try:
            todo[i] = params(with_values(settings, values))
        except ValidationError as exc:
            reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
            skipped.append(f"{_label(values)}: {reason}")
    scores: dict[int, dict[str, Figures]] = {}

    def finished(i: int, result: dict[str, Figures]) -> None:
        scores[i] = result
        if progress is not None:
            progress(len(skipped) + len(scores), len(combos))

    _replay_all((series, cycles, periods), todo, workers, finished)
    # In the grid's order before the (stable) sort: ties rank as they do in a serial run.
    rows = [Combination(combos[i], scores[i]) for i in sorted(scores)]
    first = next(iter(periods))
    bar = choice_drawdown(baselines[first])
    rows.sort(key=lambda c: _rank_key(c.scores[first], bar))
    return Sweep(keys, periods, rows, baselines, skipped, warnings)


_Shared = tuple[list[Series], dict[str, Timeline], dict[str, tuple[int, int]]]
_shared: _Shared | None = None  # a worker's copy of the history, set once by _start_worker


def _scores(shared: _Shared, p: Params) -> dict[str, Figures]:
    series, cycles, periods = shared
    return {
        name: figures(run(series, p, a, b, cycles[name]), p.capital)
        for name, (a, b) in periods.items()
    }


def _score(p: Params) -> dict[str, Figures]:
    assert _shared is not None
    return _scores(_shared, p)


def _start_worker(shared: _Shared | bytes) -> None:
    global _shared
    # The parent stops the pool, by SIGTERM: a worker ignores the Ctrl-C a terminal sends to
    # every process of the group, and drops the handler a fork copied from the parent (it
    # would make SIGTERM an exception the worker survives).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    _shared = pickle.loads(shared) if isinstance(shared, bytes) else shared


def _replay_all(
    shared: _Shared,
    todo: dict[int, Params],
    workers: int,
    finished: Callable[[int, dict[str, Figures]], None],
) -> None:
    """Replay each combination, calling `finished(index, scores)` as each one ends."""
    workers = min(workers, len(todo))
    if workers <= 1:
        for i, p in todo.items():
            finished(i, _scores(shared, p))
        return
    context = _context()
    if context.get_start_method() == "fork":
        state: _Shared | bytes = shared  # inherited by the fork, never pickled
    else:
        # Pickled once here rather than once per worker by the pool: that takes a second on
        # 6 years of 15 symbols, paid before each worker could start.
        state = pickle.dumps(shared, protocol=pickle.HIGHEST_PROTOCOL)
        if context.get_start_method() == "forkserver":
            context.set_forkserver_preload([__name__])
    pool = ProcessPoolExecutor(workers, context, initializer=_start_worker, initargs=(state,))
    try:
        # The workers and the pool's threads start inside submit and inherit this thread's
        # signal mask. With SIGINT/SIGTERM blocked, no worker is cut short by one before
        # _start_worker has set its handlers, and the kernel delivers a Ctrl-C to this thread,
        # the one waiting below, not to a pool thread (where it would wait for the next result
        # to be noticed). One sent meanwhile is delivered on leaving the block.
        with _blocked(signal.SIGINT, signal.SIGTERM):
            futures = {pool.submit(_score, p): i for i, p in todo.items()}
        for future in as_completed(futures):
            finished(futures[future], future.result())
        pool.shutdown()
    except BaseException:
        _halt(pool)
        raise


def _context() -> BaseContext:
    """fork hands the workers the loaded history for free (copy-on-write), where the others
    unpickle it in each worker (half a second per worker for 6 years of 15 symbols). But a
    fork copies locks held by other threads as they are, held for ever in the child, so it is
    used only while this process runs a single thread (as the CLI does), and only on Linux
    (macOS's system libraries are not fork-safe)."""
    if sys.platform == "linux" and len(os.listdir("/proc/self/task")) == 1:
        return multiprocessing.get_context("fork")
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _halt(pool: ProcessPoolExecutor) -> None:
    """Stop the workers now: shutdown(cancel_futures=True) alone would wait for the replays in
    flight, seconds each. (Python 3.14's terminate_workers() does the same.)"""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        process.terminate()
    for process in processes:
        process.join()
    pool.shutdown(wait=True, cancel_futures=True)


@contextmanager
def _blocked(*signals: signal.Signals) -> Iterator[None]:
    if not hasattr(signal, "pthread_sigmask"):  # Windows
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextmanager
def _interruptible() -> Iterator[None]:
    """SIGINT/SIGTERM end the sweep with `Interrupted` (exit 130, as fra's other commands), so
    that the pool is stopped on the way out rather than left running."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set there; the caller handles its signals
        return
    stopping: list[int] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        if stopping:
            return  # the first one is stopping the pool: let it finish
        stopping.append(signum)
        raise Interrupted(
            f"stopped by {signal.Signals(signum).name} before the sweep finished",
            "run it again (a smaller --grid takes less time)",
        )

    previous = {
        s: signal.signal(s, stop)
        for s in (signal.SIGINT, signal.SIGTERM)
        # Ignored, as in a job a shell started in the background: it stays so.
        if signal.getsignal(s) is not signal.SIG_IGN
    }
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def choice_drawdown(baselines: dict[str, Figures]) -> float:
    """The drawdown a chosen combination may not be worse than on the training period: that
    of holding BTC's carry trade, else of holding all."""
    base = baselines.get("hold BTC") or baselines["hold all"]
    return base.max_drawdown


def within(f: Figures, bar: float) -> bool:
    return f.max_drawdown >= bar


def _rank_key(f: Figures, bar: float) -> tuple[bool, float, float]:
    """The walk-forward selection rule, fixed before any test figure is read: the best
    training return among the combinations whose training drawdown is no worse than the
    baseline's; the others after, also by return; ties by Sharpe."""
    return (not within(f, bar), -round(f.annual_return, 6), -(f.sharpe or 0.0))


def _label(values: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in values.items())
