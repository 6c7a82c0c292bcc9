"""HTTP requests, bytes and wall time of `fra scan` and `fra run-cycle` against the local
Binance emulator.

    python bench/scan_requests.py [--runs 5]

Prints, measured in this run on this machine:
  cold   `fra scan` on a new state file: the market list is downloaded and cached
  warm   `fra scan` again: markets from the cache (the steady state of a cron cycle)
  per-symbol   the same scan with ccxt's bulk calls switched off, as on an exchange without
               them: one funding and one ticker request per market
  cycle cold / next / steady   `fra run-cycle` (paper) on a new state file, then five and
               ten emulated minutes later: the next cycle reads the histories the first left
               over, if any; then the steady state of cron. Of their requests, `bulk` asked
               for every perpetual's funding history at once, `history` for one symbol's
               (the forecast's backfill, and the paper account's funding of what it holds)
  ... no pos.  the steady state with FRA_RISK__MAX_POSITIONS=0: the forecast's requests alone
Requests and bytes are counted by the emulator; wall time is the median of --runs processes.
The emulator is local, so the times are fra + ccxt + the emulator's work, not network latency.
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
from typing import NamedTuple

from fra.emulator import BinanceEmulator

CRON_MS = 5 * 60_000  # a cycle every five minutes
HISTORY = "/fapi/v1/fundingRate"


class Run(NamedTuple):
    requests: int
    response_bytes: int
    wall: float
    bulk: int  # of the requests, funding history of every perpetual
    history: int  # ... of one perpetual


def run_fra(emu: BinanceEmulator, db: Path, command: str, **settings: str) -> Run:
    """One `fra <command>` process, counted at the emulator."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRA_")}
    env |= {"FRA_VENUE": "binance", "FRA_VENUE_URL": emu.url, "FRA_DB": str(db), **settings}
    before = len(emu.requests)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "fra", command], env=env, check=True, capture_output=True)
    elapsed = time.perf_counter() - started
    new = emu.requests[before:]
    return Run(
        len(new),
        sum(r.response_bytes for r in new),
        elapsed,
        sum(r.path == HISTORY and "symbol=" not in r.query for r in new),
        sum(r.path == HISTORY and "symbol=" in r.query for r in new),
    )


def per_symbol(emu: BinanceEmulator, db: Path) -> tuple[int, int]:
    """The scan with the bulk calls switched off, markets already cached: (requests, bytes)."""
    from fra.store.db import Store
    from fra.venues.ccxt_market import CcxtMarket
    from fra.venues.exchange import Caller, build_exchange

    exchange = build_exchange("binance", url=emu.url)
    exchange.has.update(fetchFundingRates=False, fetchTickers=False)
    market = CcxtMarket(Caller(exchange), Store.open(db), cache_key="b", markets_ttl_ms=3_600_000)
    market.markets()
    before = len(emu.requests)
    market.funding_quotes()
    market.tickers()
    new = emu.requests[before:]
    return len(new), sum(r.response_bytes for r in new)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with BinanceEmulator() as emu, tempfile.TemporaryDirectory() as tmp:
        cold, warm = [], []
        cycles: list[list[Run]] = [[], [], [], []]
        for i in range(runs):
            db = Path(tmp) / f"{i}.db"
            cold.append(run_fra(emu, db, "scan"))
            warm.append(run_fra(emu, db, "scan"))
        slow = per_symbol(emu, Path(tmp) / "per-symbol.db")
        for i in range(runs):
            db = Path(tmp) / f"cycle-{i}.db"
            for k, rows in enumerate(cycles[:3]):
                if k:
                    emu.clock.advance(CRON_MS)
                rows.append(run_fra(emu, db, "run-cycle"))
            # The same steady state holding nothing: the paper account reads no funding.
            db = Path(tmp) / f"idle-{i}.db"
            for _ in range(3):
                emu.clock.advance(CRON_MS)
                idle = run_fra(emu, db, "run-cycle", FRA_RISK__MAX_POSITIONS="0")
            cycles[3].append(idle)

    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {runs} runs"
    )
    print(f"{'':<12} {'requests':>8} {'bulk':>5} {'history':>8} {'KiB':>8} {'median s':>9}")
    for name, rows in (
        ("scan cold", cold),
        ("scan warm", warm),
        ("cycle cold", cycles[0]),
        ("cycle next", cycles[1]),
        ("cycle steady", cycles[2]),
        ("... no pos.", cycles[3]),
    ):
        last = rows[-1]
        wall = statistics.median(r.wall for r in rows)
        print(
            f"{name:<12} {last.requests:>8} {last.bulk:>5} {last.history:>8} "
            f"{last.response_bytes / 1024:>8.0f} {wall:>9.2f}"
        )
    print(f"{'per-symbol':<12} {slow[0]:>8} {'':>5} {'':>8} {slow[1] / 1024:>8.0f} {'':>9}")


if __name__ == "__main__":
    main()
