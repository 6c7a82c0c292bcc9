"""`fra status` with a long history of closed positions: wall time and peak memory.

    python bench/status_speed.py [--runs 7] [--sizes 0,10000,40000]

Each state file starts as one `fra run-cycle` on the simulated market (it opens 4 or 5), then
gets N closed positions written through the store's own calls, as the engine writes them:
position, order intents, fills, funding payments and the state changes up to `closed`. Prints
the median wall time and the largest peak resident memory of `fra status` and of
`fra positions --limit 20` (output piped) over --runs runs, interleaved across the files, and
the ratio to the file with no closed position.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from decimal import Decimal
from pathlib import Path

SYMBOLS = ["BTC", "ETH", "SOL", "XRP", "DOGE"]
NOW = "2026-03-01T00:00:00Z"
COMMANDS = {"status": ["status"], "positions --limit 20": ["positions", "--limit", "20"]}
BATCH = 500  # positions per transaction: the engine commits each step, which is far slower


def fra_bin() -> list[str]:
    script = Path(sys.executable).with_name("fra")
    return [str(script)] if script.exists() else [sys.executable, "-m", "fra"]


def environment(db: Path) -> dict[str, str]:
    perps = [f"{s}/USDT:USDT" for s in SYMBOLS]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRA_")}
    env.update(
        FRA_DB=str(db),
        FRA_VENUE="simulated",
        FRA_SIM__NOW=NOW,
        FRA_RISK__MAX_POSITIONS="5",
        FRA_RISK__MAX_TOTAL_EXPOSURE_USD="10000",
        FRA_RISK__MAX_POSITION_USD="1500",
        FRA_STRATEGY__SYMBOLS="[" + ",".join(f'"{p}"' for p in perps) + "]",
        FRA_SIM__SHOCKS="[" + ",".join(f'"{p}@{NOW}:funding=0.001:hours=48"' for p in perps) + "]",
    )
    return env


def add_closed_positions(db: Path, count: int) -> None:
    """`count` positions opened, funded three times and closed, as the engine records them."""
    from fra.core.models import OrderResult, OrderStatus, Side
    from fra.core.positions import Payment, PositionState
    from fra.store.db import Store

    store = Store.open(db)
    start_ms = 1_600_000_000_000
    try:
        for first in range(0, count, BATCH):
            with store.tx():
                for i in range(first, min(first + BATCH, count)):
                    t = start_ms + i * 3_600_000
                    price = Decimal(2000 + i % 97)
                    exit_price = price + Decimal(i % 13 - 6)
                    qty = Decimal("0.25")
                    pid = store.create_position(
                        venue="simulated",
                        mode="paper",
                        perp_symbol="ETH/USDT:USDT",
                        spot_symbol="ETH/USDT",
                        target_amount=qty,
                        leverage=2,
                        entry_rate=Decimal("0.0004"),
                        interval_hours=8,
                        now_ms=t,
                    )
                    legs = [
                        ("spot", "open", Side.BUY, qty + Decimal("0.0003"), price, "ETH"),
                        ("perp", "open", Side.SELL, qty, price + 1, "USDT"),
                        ("perp", "close", Side.BUY, qty, exit_price + 1, "USDT"),
                        ("spot", "close", Side.SELL, qty, exit_price, "USDT"),
                    ]
                    for seq, (leg, purpose, side, amount, fill, fee_ccy) in enumerate(legs, 1):
                        cid = f"bench-{pid}-{seq}"
                        symbol = "ETH/USDT" if leg == "spot" else "ETH/USDT:USDT"
                        store.add_order(
                            client_order_id=cid,
                            position_id=pid,
                            leg=leg,
                            purpose=purpose,
                            symbol=symbol,
                            side=side.value,
                            requested=amount,
                            now_ms=t + seq,
                        )
                        fee = amount * Decimal("0.001") * (fill if fee_ccy == "USDT" else 1)
                        store.record_order(
                            OrderResult(
                                cid,
                                symbol,
                                side,
                                OrderStatus.FILLED,
                                amount,
                                amount,
                                fill,
                                fee,
                                fee_ccy,
                                t + seq,
                            )
                        )
                        if seq == 2:
                            store.set_position_state(pid, PositionState.OPEN, now_ms=t + seq)
                    store.add_funding(
                        pid,
                        [
                            Payment(
                                t + k * 8 * 3_600_000,
                                qty * price * Decimal("0.0004"),
                                Decimal("0.0004"),
                                price,
                                qty,
                            )
                            for k in range(1, 4)
                        ],
                    )
                    store.set_position_state(pid, PositionState.CLOSING, reason="bench")
                    store.set_position_state(pid, PositionState.CLOSED, now_ms=t + 86_400_000)
    finally:
        store.close()


def measure(cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds and peak resident KiB of one run (wait4 reports the child's own peak)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.read() if proc.stderr else ''}")
    return elapsed, usage.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--sizes", default="0,10000,40000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    import compileall

    compileall.compile_dir(Path(__file__).resolve().parents[1] / "fra", quiet=1)
    fra = fra_bin()
    with tempfile.TemporaryDirectory() as tmp:
        envs: dict[int, dict[str, str]] = {}
        for n in sizes:
            db = Path(tmp) / f"state-{n}.db"
            envs[n] = environment(db)
            subprocess.run([*fra, "run-cycle"], env=envs[n], check=True, capture_output=True)
            start = time.perf_counter()
            add_closed_positions(db, n)
            mib = db.stat().st_size / 2**20
            with closing(sqlite3.connect(db)) as conn:
                [(held,)] = conn.execute("SELECT COUNT(*) FROM positions WHERE state = 'open'")
            print(
                f"built {n:>6} closed positions in {time.perf_counter() - start:6.1f} s"
                f" ({mib:.1f} MiB), {held} open"
            )
        walls: dict[tuple[str, int], list[float]] = {}
        peaks: dict[tuple[str, int], int] = {}
        for _ in range(args.runs):
            for name, command in COMMANDS.items():
                for n in sizes:  # interleaved, so drift in machine load hits every file alike
                    wall, peak = measure([*fra, *command], envs[n])
                    walls.setdefault((name, n), []).append(wall)
                    peaks[name, n] = max(peaks.get((name, n), 0), peak)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"median of {args.runs} runs")
    for name in COMMANDS:
        base = statistics.median(walls[name, sizes[0]])
        print(f"fra {name}")
        print(f"{'closed':>8}{'median s':>10}{'min s':>9}{'peak MiB':>10}{'x first':>9}")
        for n in sizes:
            med, low = statistics.median(walls[name, n]), min(walls[name, n])
            mib = peaks[name, n] / 1024
            print(f"{n:>8}{med:>10.3f}{low:>9.3f}{mib:>10.1f}{med / base:>9.2f}")


if __name__ == "__main__":
    main()
