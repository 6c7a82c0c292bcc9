"""Wall time of the commands cron and people run most, against the import-only baseline.

    python bench/cli_speed.py [--runs 21]

Prints the median of each over --runs runs, measured in this one run on this machine:
  baseline   python -c "import typer, rich, sqlite_utils, pydantic_settings"
  status     fra status   (5 open positions, from the stored snapshot)
  rank       fra rank     (from the stored snapshot)
  run-cycle  fra run-cycle on the simulated market with 5 open positions
Output is piped (as under cron); the "(tty)" rows run status and rank on a pseudo-terminal,
where rich prints the tables in colour.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SYMBOLS = ["BTC", "ETH", "SOL", "XRP", "DOGE"]
NOW = "2026-03-01T00:00:00Z"


def fra_bin() -> list[str]:
    script = Path(sys.executable).with_name("fra")
    return [str(script)] if script.exists() else [sys.executable, "-m", "fra"]


def timed(cmd: list[str], env: dict[str, str], cwd: str, expect: int = 0) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != expect:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr}")
    return elapsed


def timed_tty(cmd: list[str], env: dict[str, str], cwd: str) -> float:
    """The same, with stdout on a pseudo-terminal: what a person at a terminal waits for."""
    import pty

    leader, follower = pty.openpty()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env={**env, "COLUMNS": "200"}, cwd=cwd, stdout=follower)
    os.close(follower)
    while True:
        try:
            if not os.read(leader, 65536):
                break
        except OSError:
            break
    code = proc.wait()
    elapsed = time.perf_counter() - start
    os.close(leader)
    if code != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {code} on a terminal")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    runs = parser.parse_args().runs
    # pip compiles bytecode for installed libraries; do the same for fra (an editable install
    # under PYTHONDONTWRITEBYTECODE=1 would otherwise recompile it on every run).
    import compileall

    compileall.compile_dir(Path(__file__).resolve().parents[1] / "fra", quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        perps = [f"{s}/USDT:USDT" for s in SYMBOLS]
        env = {k: v for k, v in os.environ.items() if not k.startswith("FRA_")}
        env.update(
            FRA_DB=str(Path(tmp) / "state.db"),
            FRA_VENUE="simulated",
            FRA_SIM__NOW=NOW,
            FRA_RISK__MAX_POSITIONS="5",
            FRA_RISK__MAX_TOTAL_EXPOSURE_USD="10000",
            FRA_RISK__MAX_POSITION_USD="1500",
            FRA_STRATEGY__SYMBOLS="[" + ",".join(f'"{p}"' for p in perps) + "]",
            FRA_SIM__SHOCKS="["
            + ",".join(f'"{p}@{NOW}:funding=0.001:hours=48"' for p in perps)
            + "]",
        )
        fra = fra_bin()
        timed([*fra, "run-cycle"], env, tmp)
        opened = subprocess.run(
            [*fra, "status", "--json"], env=env, cwd=tmp, capture_output=True, text=True
        ).stdout.count('"state": "open"')
        cases = {
            "baseline": [
                sys.executable,
                "-c",
                "import typer, rich, sqlite_utils, pydantic_settings",
            ],
            "status": [*fra, "status"],
            "rank": [*fra, "rank"],
            "run-cycle": [*fra, "run-cycle"],
        }
        samples: dict[str, list[float]] = {name: [] for name in cases}
        samples["status (tty)"] = []
        samples["rank (tty)"] = []
        for _ in range(runs):
            # Interleaved, so drift in machine load hits every case alike.
            for name, cmd in cases.items():
                samples[name].append(timed(cmd, env, tmp))
            samples["status (tty)"].append(timed_tty(cases["status"], env, tmp))
            samples["rank (tty)"].append(timed_tty(cases["rank"], env, tmp))
    base = statistics.median(samples["baseline"])
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"open positions during the runs: {opened}; runs per command: {runs}")
    print(f"{'command':<12}{'median s':>10}{'min s':>9}{'x baseline':>12}")
    for name, values in samples.items():
        med = statistics.median(values)
        print(f"{name:<12}{med:>10.3f}{min(values):>9.3f}{med / base:>12.2f}")


if __name__ == "__main__":
    main()
