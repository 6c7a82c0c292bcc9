"""HTTP requests, bytes and wall time of `fra scan` against the local Binance emulator.

    python bench/scan_requests.py [--runs 5]

Prints, measured in this run on this machine:
  cold   `fra scan` on a new state file: the market list is downloaded and cached
  warm   `fra scan` again: markets from the cache (the steady state of a cron cycle)
  per-symbol   the same scan with ccxt's bulk calls switched off, as on an exchange without
               them: one funding and one ticker request per market
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

from fra.emulator import BinanceEmulator


def run_scan(url: str, db: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRA_")}
    env |= {"FRA_VENUE": "binance", "FRA_VENUE_URL": url, "FRA_DB": str(db)}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "fra", "scan"], env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def counted(emu: BinanceEmulator, action: object) -> tuple[int, int]:
    before = len(emu.requests)
    action()  # type: ignore[operator]
    new = emu.requests[before:]
    return len(new), sum(r.response_bytes for r in new)


def per_symbol(url: str, db: Path) -> None:
    from fra.store.db import Store
    from fra.venues.ccxt_market import CcxtMarket
    from fra.venues.exchange import Caller, build_exchange

    exchange = build_exchange("binance", url=url)
    exchange.has.update(fetchFundingRates=False, fetchTickers=False)
    market = CcxtMarket(Caller(exchange), Store.open(db), cache_key="b", markets_ttl_ms=3_600_000)
    market.markets()
    market.funding_quotes()
    market.tickers()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with BinanceEmulator() as emu, tempfile.TemporaryDirectory() as tmp:
        url = emu.url
        cold_times, warm_times = [], []
        cold = warm = (0, 0)
        for i in range(runs):
            db = Path(tmp) / f"cold{i}.db"
            before = len(emu.requests)
            cold_times.append(run_scan(url, db))
            cold = (
                len(emu.requests) - before,
                sum(r.response_bytes for r in emu.requests[before:]),
            )
            before = len(emu.requests)
            warm_times.append(run_scan(url, db))
            warm = (
                len(emu.requests) - before,
                sum(r.response_bytes for r in emu.requests[before:]),
            )
        db = Path(tmp) / "per-symbol.db"
        per_symbol(url, db)  # markets cached first, as in the warm case
        slow = counted(emu, lambda: per_symbol(url, db))

    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {runs} runs"
    )
    print(f"{'scan':<12} {'requests':>8} {'KiB':>8} {'median s':>9}")
    print(f"{'cold':<12} {cold[0]:>8} {cold[1] / 1024:>8.0f} {statistics.median(cold_times):>9.2f}")
    print(f"{'warm':<12} {warm[0]:>8} {warm[1] / 1024:>8.0f} {statistics.median(warm_times):>9.2f}")
    print(f"{'per-symbol':<12} {slow[0]:>8} {slow[1] / 1024:>8.0f} {'':>9}")


if __name__ == "__main__":
    main()
