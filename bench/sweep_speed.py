"""How long `fra backtest --sweep` takes with one process and with one per CPU core.

Every symbol of ../shared/data with bars (15 Binance perpetuals, 2020-2026), a grid of 16
combinations (4 entry rates x 4 holding periods), through the CLI as a user runs it
(`fra backtest --sweep ... --json`: start-up, loading history.db, the baselines, the replays):
    --workers 1           the replays one after the other, in the command's process
    --workers <cores>     a pool: the workers get the loaded history by fork
    ... forkserver        the same pool as a process running threads gets it: the history is
                          pickled once and unpickled by each worker
The three must print the same rows. Each line gives the wall time and the CPU time of the
command and its workers (forkserver's workers are not the command's children: not counted); on
a machine other work keeps busy, CPU / wall says how many cores the command got.

    python bench/sweep_speed.py [--repeat 1] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from shared_history import DATA, imported_history

SINCE, UNTIL = "2020-01-01", "2026-02-25"  # the price bars end on 2026-02-25
GRID = ["--grid", "min_rate=0.0001,0.0002,0.0003,0.0005",
        "--grid", "holding_periods=3,9,21,45"]  # fmt: skip
# `fra` as the console script runs it, with the pool's context forced to forkserver.
FORKSERVER = (
    "import multiprocessing, sys; from fra.engine import sweep;"
    " sweep._context = lambda: multiprocessing.get_context('forkserver');"
    " from fra.cli import main; main()"
)


def cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_seconds() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def fra(launcher: list[str], args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall time, CPU time (with the workers it waited for) and output of one command."""
    start, cpu_start = time.perf_counter(), cpu_seconds()
    done = subprocess.run(
        [sys.executable, *launcher, *args], env=env, check=True, capture_output=True, text=True
    )
    return time.perf_counter() - start, cpu_seconds() - cpu_start, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    # pip compiles bytecode for installed libraries; do the same for fra (an editable install
    # under PYTHONDONTWRITEBYTECODE=1 would otherwise recompile it in every process).
    import compileall

    compileall.compile_dir(Path(__file__).resolve().parents[1] / "fra", quiet=1)
    print(f"{cpu()}, {os.cpu_count()} CPUs (nproc), Python {platform.python_version()}, load"
          f" average {os.getloadavg()[0]:.1f} at the start")  # fmt: skip
    if not (DATA / "prices_8h.csv.gz").exists():
        print(f"real history: skipped, {DATA} is absent")
        return
    with imported_history() as (_tmp, env):
        sweep = ["backtest", "--sweep", "--from", SINCE, "--to", UNTIL, *GRID, "--json"]
        runs = {
            "--workers 1": (["-m", "fra"], [*sweep, "--workers", "1"]),
            f"--workers {args.workers}": (["-m", "fra"], [*sweep, "--workers", str(args.workers)]),
            f"--workers {args.workers}, forkserver": (
                ["-c", FORKSERVER],
                [*sweep, "--workers", str(args.workers)],
            ),
        }
        walls: dict[str, list[float]] = {name: [] for name in runs}
        cpus: dict[str, list[float]] = {name: [] for name in runs}
        outputs: dict[str, str] = {}
        for _ in range(args.repeat):  # interleaved: a change in the machine's load hits all
            for name, (launcher, argv) in runs.items():
                took, cpu_time, outputs[name] = fra(launcher, argv, env)
                walls[name].append(took)
                cpus[name].append(cpu_time)
    print(f"real history, {SINCE}..{UNTIL}, 16 combinations (min_rate x holding_periods):")
    serial = statistics.median(walls["--workers 1"])
    for name, times in walls.items():
        wall = statistics.median(times)
        cpu_time = "" if "forkserver" in name else f", CPU {statistics.median(cpus[name]):.1f} s"
        print(f"  fra backtest --sweep {name}: wall {wall:.1f} s (median of {len(times)},"
              f" {serial / wall:.2f}x){cpu_time}")  # fmt: skip
    same = len(set(outputs.values())) == 1
    print(f"  rows identical: {'yes' if same else 'NO'}")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
