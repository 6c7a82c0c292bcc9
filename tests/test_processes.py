"""Real processes: the cycle lock, signals mid-open, a process killed between legs, fra loop."""

from __future__ import annotations

import signal
from decimal import Decimal

import pytest
from conftest import T0, Fra, iso, legs
from filelock import FileLock

from fra.errors import ExitCode

ETH = "ETH/USDT:USDT"
HOT = f"{ETH}@{iso(T0)}:funding=0.0008:hours=48"


@pytest.fixture
def hot(fra: Fra) -> Fra:
    fra.set(FRA_STRATEGY__SYMBOLS=[ETH]).shocks(HOT)
    fra("resume")  # creates state.db, with nothing in it yet
    return fra


def test_lock_held_exits_6_and_writes_nothing(hot: Fra) -> None:
    before = hot.fingerprint()
    with FileLock(str(hot.db) + ".lock"):
        result = hot("run-cycle", code=ExitCode.LOCKED)
    assert "another fra cycle holds" in result.stderr
    assert hot.fingerprint() == before


def test_two_cycles_started_together_only_one_runs(hot: Fra) -> None:
    slow = {"FRA_PAPER__FILL_DELAY_MS": "1500"}  # the open takes 3 s: they must overlap
    first = hot.spawn("run-cycle", **slow)
    second = hot.spawn("run-cycle", **slow)
    codes = sorted([first.wait(timeout=60), second.wait(timeout=60)])
    assert codes == [ExitCode.OK, ExitCode.LOCKED]
    assert hot.query("SELECT COUNT(*) FROM cycles") == [(1,)]
    assert hot.query("SELECT COUNT(*) FROM positions") == [(1,)]


def test_sigterm_during_open_finishes_both_legs_then_exits(hot: Fra) -> None:
    proc = hot.spawn("open", ETH, "--size", "500", FRA_PAPER__FILL_DELAY_MS="700")
    hot.wait_for("SELECT 1 FROM orders WHERE leg = 'spot'")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.INTERRUPTED, err
    assert "position 1 open" in out
    assert "stopped by SIGTERM" in err
    assert hot.query("SELECT state FROM positions") == [("open",)]
    spot, perp = legs(hot)
    assert perp > 0 and spot >= perp


def test_sigint_during_cycle_stops_after_the_step(hot: Fra) -> None:
    proc = hot.spawn("run-cycle", FRA_PAPER__FILL_DELAY_MS="700")
    hot.wait_for("SELECT 1 FROM orders WHERE leg = 'spot'")
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.INTERRUPTED
    assert hot.query("SELECT outcome FROM cycles") == [("interrupted",)]
    [(state,)] = hot.query("SELECT state FROM positions")
    assert state == "open"  # the open in flight was finished, not abandoned
    spot, perp = legs(hot)
    assert perp > 0 and spot >= perp


def test_killed_between_legs_is_unwound_by_the_next_cycle(hot: Fra) -> None:
    proc = hot.spawn("open", ETH, "--size", "500", FRA_PAPER__FILL_DELAY_MS="1500")
    hot.wait_for("SELECT 1 FROM orders WHERE leg = 'spot' AND state = 'filled'")
    proc.send_signal(signal.SIGKILL)  # no chance to clean up: only the state file remains
    proc.wait(timeout=30)
    assert hot.query("SELECT state FROM positions") == [("opening",)]
    spot, perp = legs(hot)
    assert spot > 0 and perp == 0  # one leg: exactly what reconcile must repair

    out = hot("run-cycle", FRA_RISK__MAX_POSITIONS="0").stdout  # reconcile, open nothing new
    assert "reconciled 1" in out
    [(state, reason)] = hot.query("SELECT state, close_reason FROM positions")
    assert state == "unwound" and "reconcile" in reason
    spot_left, perp_left = legs(hot)
    assert perp_left == 0 and spot_left < Decimal("0.0001")  # sold back to dust below a step
    # The perp order the dead process may have written but never sent is marked so, not
    # left pending forever (it may also have died before writing it).
    assert hot.query("SELECT state FROM orders WHERE leg = 'perp'") in ([], [("unsent",)])
    assert hot.query("SELECT COUNT(*) FROM paper_shorts") == [(0,)]


def test_loop_runs_cycles_and_sigterm_closes_positions(hot: Fra) -> None:
    proc = hot.spawn("loop", "--interval", "1")
    hot.wait_for("SELECT 1 FROM positions WHERE state = 'open'")
    hot.wait_for("SELECT 1 FROM cycles WHERE id >= 2 AND finished_ms IS NOT NULL")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "closing 1 position — Ctrl-C again to leave them open" in out
    assert "stopped: closed 1 position\n" in out
    assert hot.query("SELECT state FROM positions") == [("closed",)]


def test_loop_keep_positions_and_sigusr1_emergency_stop(hot: Fra) -> None:
    proc = hot.spawn("loop", "--interval", "1", "--keep-positions")
    hot.wait_for("SELECT 1 FROM positions WHERE state = 'open'")
    proc.send_signal(signal.SIGUSR1)
    hot.wait_for("SELECT 1 FROM meta WHERE key = 'halt_reason'")
    hot.wait_for("SELECT 1 FROM positions WHERE state = 'closed'")
    # Still looping, halted: it opens nothing more.
    hot.wait_for("SELECT 1 FROM cycles WHERE outcome = 'ok' AND id >= 3")
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "EMERGENCY STOP" in out and "positions kept open" in out
    assert hot.query("SELECT COUNT(*) FROM positions") == [(1,)]


def test_loop_sigterm_during_an_emergency_stop_lets_it_finish(hot: Fra) -> None:
    hot("open", ETH, "--size", "500")
    proc = hot.spawn("loop", "--interval", "60", FRA_PAPER__FILL_DELAY_MS="800")
    hot.wait_for("SELECT 1 FROM cycles WHERE finished_ms IS NOT NULL")
    proc.send_signal(signal.SIGUSR1)
    hot.wait_for("SELECT 1 FROM meta WHERE key = 'halt_reason'")
    proc.send_signal(signal.SIGTERM)  # while the emergency stop is still closing
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "EMERGENCY STOP" in out
    assert hot.query("SELECT state FROM positions") == [("closed",)]
    assert hot.query("SELECT COUNT(*) FROM orders WHERE state = 'pending'") == [(0,)]
