"""fra loop"""

from __future__ import annotations

import signal
import time
from types import FrameType

import typer

from fra.commands.common import guarded, settings, ts


class LoopSignals:
    """SIGINT/SIGTERM: stop after the step in flight. SIGUSR1: emergency stop, keep looping."""

    def __init__(self) -> None:
        from fra.engine.interrupts import StopFlag

        self.flag = StopFlag()
        self.shutdown = False
        self.emergency = False

    def on_stop(self, signum: int, frame: FrameType | None) -> None:
        self.shutdown = True
        self.flag.request(signum, frame)

    def on_emergency(self, signum: int, frame: FrameType | None) -> None:
        self.emergency = True
        if self.flag.signum is None:
            self.flag.signum = signum

    def sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not (self.shutdown or self.emergency) and time.monotonic() < end:
            time.sleep(min(0.2, max(0.0, end - time.monotonic())))


def loop(
    ctx: typer.Context,
    interval: float = typer.Option(300.0, "--interval", min=1, help="Seconds between cycles."),
    keep_positions: bool = typer.Option(
        False, "--keep-positions", help="On SIGINT/SIGTERM leave positions open."
    ),
    max_cycles: int = typer.Option(
        0, "--max-cycles", min=0, help="Stop after N cycles (0 = no limit)."
    ),
) -> None:
    """Run cycles every --interval seconds under the cycle lock, for people without cron.
    SIGUSR1 triggers the emergency stop; SIGINT/SIGTERM stop gracefully and close all
    positions unless --keep-positions."""

    def body() -> None:
        from fra.app import open_app
        from fra.commands.common import cycle_lock, setup_logging
        from fra.engine.cycle import run_cycle
        from fra.engine.safety import close_all_held, emergency_stop
        from fra.errors import FraError, Interrupted, LockHeld

        s = settings(ctx)
        setup_logging(s)
        sig = LoopSignals()
        previous = {
            signal.SIGINT: signal.signal(signal.SIGINT, sig.on_stop),
            signal.SIGTERM: signal.signal(signal.SIGTERM, sig.on_stop),
            signal.SIGUSR1: signal.signal(signal.SIGUSR1, sig.on_emergency),
        }
        cycles = 0
        try:
            while not sig.shutdown:
                try:
                    with cycle_lock(s, 0), open_app(s) as app:
                        app.stop = sig.flag
                        report = run_cycle(app)
                        print(
                            f"cycle {report.cycle_id} at {ts(app.now_ms())} UTC: {report.outcome},"
                            f" funding payments {report.funding_payments}, opened"
                            f" {len(report.opened)}, closed {len(report.closed)}",
                            flush=True,
                        )
                except LockHeld as exc:
                    print(f"skipped: {exc}", flush=True)
                except Interrupted:
                    pass
                except FraError as exc:
                    print(f"cycle failed: {exc}", flush=True)
                if sig.emergency and not sig.shutdown:
                    with cycle_lock(s, 120), open_app(s) as app:
                        emergency_stop(app, "SIGUSR1 received by fra loop")
                    print("EMERGENCY STOP (SIGUSR1): positions closed, opening halted", flush=True)
                    sig.emergency = False
                    sig.flag.signum = None
                cycles += 1
                if max_cycles and cycles >= max_cycles:
                    break
                sig.sleep(interval)
            if sig.shutdown and not keep_positions:
                # Signals are now ignored so the final close cannot itself be interrupted.
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                with cycle_lock(s, 120), open_app(s) as app:
                    closed = close_all_held(app, "fra loop stopped")
                print(f"stopped: closed {len(closed)} positions", flush=True)
            elif sig.shutdown:
                print("stopped: positions kept open", flush=True)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    guarded(body)
