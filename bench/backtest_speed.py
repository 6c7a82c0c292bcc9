"""How long a backtest takes.

1. Real history: every symbol of ../shared/data with bars (15 Binance perpetuals, 2020-2026),
   through the CLI as a user runs it (`fra backtest ... --json`: start-up, loading history.db,
   the strategy, both baselines, the figures), then the same phases timed in process.
2. 1 year of 200 simulated symbols (the simulated market under 7 seeds, renamed apart): the
   replay in process, the history computed beforehand and not counted.

    python bench/backtest_speed.py [--repeat 3] [--skip-real] [--skip-sim]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from shared_history import DATA, imported_history

from fra.core.backtest import Series, run
from fra.core.performance import figures
from fra.engine import backtest as engine
from fra.settings import Settings, load_settings

T = TypeVar("T")
SINCE, UNTIL = "2020-01-01", "2026-02-25"  # the price bars end on 2026-02-25


def ms(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() * 1000)


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def fra(*args: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "fra", *args], env=env, check=True, capture_output=True, text=True
    )
    return time.perf_counter() - start


def replay(series: list[Series], settings_: Settings, since: int, until: int) -> dict[str, float]:
    p = engine.params(settings_)
    result, strategy = timed(lambda: run(series, p, since, until))
    _, baselines = timed(lambda: engine.replay_baselines(series, p, since, until, []))
    _, figs = timed(lambda: figures(result, p.capital))
    return {"strategy": strategy, "baselines": baselines, "figures": figs}


def real(repeat: int) -> None:
    if not (DATA / "prices_8h.csv.gz").exists():
        print(f"real history: skipped, {DATA} is absent")
        return
    with imported_history() as (tmp, env):
        walls = [
            fra("backtest", "--from", SINCE, "--to", UNTIL, "--json", env=env)
            for _ in range(repeat)
        ]
        settings_ = load_settings(db=tmp / "state.db", history_db=tmp / "history.db")
        # As the command loads it: with the forecast's warm-up before the period.
        (series, _), load = timed(
            lambda: engine.load_history(settings_, "binance", None, ms(SINCE), ms(UNTIL))
        )
        phases = replay(series, settings_, ms(SINCE), ms(UNTIL))
    events = sum(len(s.settlements) for s in series)
    bars = sum(len(s.perp_bars) + len(s.spot_bars) for s in series)
    print(
        f"real history, {len(series)} symbols {SINCE}..{UNTIL}: {events:,} funding events,"
        f" {bars:,} bars"
    )
    print(f"  fra backtest (CLI, wall): median {statistics.median(walls):.2f} s of {repeat}")
    print(
        f"  in process: load {load:.2f} s, strategy {phases['strategy']:.2f} s, baselines"
        f" {phases['baselines']:.2f} s, figures {phases['figures']:.2f} s"
    )


def simulated(count: int = 200) -> None:
    since, until = ms("2025-01-01"), ms("2026-01-01")
    series: list[Series] = []
    start = time.perf_counter()
    seed = 1
    while len(series) < count:
        settings_ = load_settings(sim={"seed": seed})
        for s in engine.simulated(settings_, None, since, until)[0]:
            base = s.symbol.split("/")[0] + str(seed)
            series.append(s._replace(symbol=f"{base}/USDT:USDT", spot_symbol=f"{base}/USDT"))
        seed += 1
    series = series[:count]
    made = time.perf_counter() - start
    events = sum(len(s.settlements) for s in series)
    phases = replay(series, load_settings(), since, until)
    print(
        f"simulated, {count} symbols x 1 year: {events:,} funding events (computed in"
        f" {made:.1f} s, not counted)"
    )
    print(
        f"  in process: strategy {phases['strategy']:.2f} s, baselines"
        f" {phases['baselines']:.2f} s, figures {phases['figures']:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-real", action="store_true")
    parser.add_argument("--skip-sim", action="store_true")
    args = parser.parse_args()
    # pip compiles bytecode for installed libraries; do the same for fra (an editable install
    # under PYTHONDONTWRITEBYTECODE=1 would otherwise recompile it on every run).
    import compileall

    compileall.compile_dir(Path(__file__).resolve().parents[1] / "fra", quiet=1)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python"
          f" {platform.python_version()}")  # fmt: skip
    if not args.skip_real:
        real(args.repeat)
    if not args.skip_sim:
        simulated()


if __name__ == "__main__":
    main()
