"""`fra backtest --sweep --workers N`: the combinations replayed by N processes give the rows
one process gives, in the same order; a stop signal ends the pool with exit 130."""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import Fra

from fra.engine import sweep as sweep_module
from fra.errors import ExitCode
from fra.settings import load_settings

H8 = 8 * 3_600_000
START = datetime(2023, 1, 1, tzinfo=UTC)
TRAIN, TEST = "2023-01-01..2023-01-15", "2023-01-15..2023-01-29"
# 18 combinations, two of which the settings rules refuse (an exit rate above the entry rate).
GRID = ["--grid", "min_rate=0.0001,0.0005,0.002", "--grid", "exit_rate=0,0.0001,0.0003",
        "--grid", "max_positions=1,2"]  # fmt: skip


def history(fra: Fra, days: int = 28) -> None:
    """ETH pays well for 10 days, then little; SOL pays in bursts; BTC a steady 0.0001."""
    start = int(START.timestamp() * 1000)
    funding = ["exchange,symbol,funding_time_ms,funding_rate,interval_hours"]
    bars = ["exchange,symbol,market,open_time_ms,open,high,low,close,volume"]
    for i in range(-3, days * 3):
        t = start + i * H8
        rates = {
            "BTCUSDT": "0.0001",
            "ETHUSDT": "0.001" if i < 30 else "0.00005",
            "SOLUSDT": "0.0015" if (i // 9) % 2 else "0.00002",
        }
        prices = {"BTCUSDT": 20000, "ETHUSDT": 1000 + i, "SOLUSDT": 20 + (i % 7) / 10}
        for symbol, rate in rates.items():
            if i >= 0:
                funding.append(f"binance,{symbol},{t},{rate},8")
            for market in ("perp", "spot"):
                p = prices[symbol]
                bars.append(f"binance,{symbol},{market},{t},{p},{p},{p},{p},10000000")
    (fra.workdir / "f.csv").write_text("\n".join(funding) + "\n")
    (fra.workdir / "b.csv").write_text("\n".join(bars) + "\n")
    fra("history", "import", "f.csv")
    fra("history", "import", "b.csv")


@pytest.fixture
def small(fra: Fra) -> Fra:
    history(fra)
    return fra


def test_two_workers_give_exactly_the_rows_of_one(
    small: Fra,
) -> None:
    args = ["backtest", "--sweep", "--train", TRAIN, "--test", TEST, *GRID]
    one = small.json(*args, "--workers", "1")
    two = small.json(*args, "--workers", "2")
    assert two == one  # values, figures to the last bit, order, baselines, notes
    assert len(one["rows"]) == 16 and len(one["skipped"]) == 2
    assert any(row["train"]["trades"] > 0 for row in one["rows"]), "a sweep worth comparing"
    # The JSON keeps its shape.
    assert set(two) == {
        "exchange",
        "periods",
        "chosen_by",
        "grid",
        "rows",
        "baselines",
        "skipped",
        "warnings",
    }
    assert all(
        set(row) == {"values", "chosen", "within_drawdown", "train", "test"} for row in two["rows"]
    )
    # More workers than combinations, and the default (one per core): the same again.
    assert small.json(*args, "--workers", "64") == one
    assert small.json(*args) == one


def test_workers_share_the_history_by_pickle_where_fork_is_not_used(small: Fra) -> None:
    # A process running threads does not fork: the history is unpickled by each worker's
    # initializer instead of inherited. A thread of our own makes this one such a process.
    settings = load_settings(db=small.db, history_db=small.workdir / "history.db")
    grid = {"min_rate": ["0.0001", "0.0005"], "exit_rate": ["0", "0.0003"]}
    day = 86_400_000
    start = int(START.timestamp() * 1000)
    periods = {"train": (start, start + 14 * day), "test": (start + 14 * day, start + 28 * day)}
    seen: list[tuple[int, int]] = []

    def run(workers: int) -> sweep_module.Sweep:
        return sweep_module.sweep(
            settings, "binance", None, grid, periods, lambda *a: seen.append(a), workers
        )

    one = run(1)
    assert seen == [(2, 4), (3, 4), (4, 4)], "the skipped one is counted as done at once"
    seen.clear()
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert sweep_module._context().get_start_method() != "fork"
        assert run(2) == one
    finally:
        release.set()
        other.join()
    assert sorted(seen) == [(2, 4), (3, 4), (4, 4)]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--sweep", "--train", TRAIN, "--workers", "0"], "--workers 0: no process to replay in"),
        (["--sweep", "--train", TRAIN, "--workers", "-3"], "--workers -3"),
        (
            ["--from", "2023-01-01", "--to", "2023-01-21", "--workers", "2"],
            "--workers goes with --sweep",
        ),
    ],
)
def test_bad_workers(small: Fra, args: list[str], words: str) -> None:
    result = small("backtest", *args, code=ExitCode.BAD_INPUT)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], lines


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_ctrl_c_stops_the_workers_and_exits_130(small: Fra) -> None:
    # Far more combinations than can finish before the signal.
    many = ",".join(f"0.000{i:02d}" for i in range(1, 100))
    proc = small.spawn(
        "backtest", "--sweep", "--train", TRAIN, "--test", TEST, "--workers", "2",
        "--grid", f"min_rate={many}", "--grid", "holding_periods=1,3,9,21,45",
    )  # fmt: skip
    deadline = time.monotonic() + 60
    workers: list[int] = []
    while len(workers) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
        workers = _children(proc.pid)
    assert len(workers) == 2, proc.communicate(timeout=60)
    # A terminal's Ctrl-C reaches every process of the group: the workers ignore theirs.
    for pid in [*workers, proc.pid]:
        os.kill(pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.INTERRUPTED, err
    assert err.strip() == (
        "error: stopped by SIGINT before the sweep finished; run it again (a smaller --grid"
        " takes less time)"
    )
    assert out == ""
    assert not [pid for pid in workers if _running(pid)], "no worker outlives the command"
