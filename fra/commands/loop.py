"""fra loop"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeVar

import typer

from fra.commands.common import guarded, settings, ts

T = TypeVar("T")


class LoopSignals:
    """SIGINT/SIGTERM: stop after the step in flight. SIGUSR1: emergency stop, keep looping.

    The running cycle sees either as a stop request at its next step boundary; the emergency
    stop and the final close run with signals only recorded, so neither is cut short.
    """

    def __init__(self) -> None:
        from fra.engine.interrupts import StopFlag

        self.flag = StopFlag()
        self.emergency = False
        self._previous: dict[int, Any] = {}

    @property
    def shutdown(self) -> bool:
        return self.flag.requested and self.flag.signum != signal.SIGUSR1

    def on_emergency(self, signum: int, frame: FrameType | None) -> None:
        self.emergency = True
        if self.flag.signum is None:
            self.flag.signum = signum  # makes the running cycle stop at its next step

    def on_stop(self, signum: int, frame: FrameType | None) -> None:
        if self.flag.signum in (None, signal.SIGUSR1):
            self.flag.signum = signum
        else:
            self.flag.request(signum, frame)  # a second stop signal: stop at once

    def on_stop_recorded(self, signum: int, frame: FrameType | None) -> None:
        self.flag.signum = signum

    def install(self) -> None:
        self._previous = {
            signal.SIGINT: signal.signal(signal.SIGINT, self.on_stop),
            signal.SIGTERM: signal.signal(signal.SIGTERM, self.on_stop),
            signal.SIGUSR1: signal.signal(signal.SIGUSR1, self.on_emergency),
        }

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def protected(self, fn: Callable[[], T]) -> T:
        """Run `fn` with SIGINT/SIGTERM only recorded (they still end the loop afterwards)."""
        signal.signal(signal.SIGINT, self.on_stop_recorded)
        signal.signal(signal.SIGTERM, self.on_stop_recorded)
        try:
            return fn()
        finally:
            signal.signal(signal.SIGINT, self.on_stop)
            signal.signal(signal.SIGTERM, self.on_stop)

    def sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not (self.flag.requested or self.emergency) and time.monotonic() < end:
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
        sig.install()

        def emergency() -> None:
            with cycle_lock(s, 120), open_app(s) as app:
                emergency_stop(app, "SIGUSR1 received by fra loop")
            print("EMERGENCY STOP (SIGUSR1): positions closed, opening halted", flush=True)

        def close_all() -> int:
            with cycle_lock(s, 120), open_app(s) as app:
                return len(close_all_held(app, "fra loop stopped"))

        cycles = 0
        try:
            while True:
                if sig.emergency:
                    sig.protected(emergency)
                    sig.emergency = False
                    if sig.flag.signum == signal.SIGUSR1:
                        sig.flag.signum = None
                if sig.shutdown:
                    break
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
                    pass  # the loop's own signal: handled at the top of the next turn
                except FraError as exc:
                    print(f"cycle failed: {exc}", flush=True)
                cycles += 1
                if max_cycles and cycles >= max_cycles and not sig.emergency:
                    break
                sig.sleep(interval)
            if sig.shutdown and not keep_positions:
                print(f"stopped: closed {sig.protected(close_all)} positions", flush=True)
            elif sig.shutdown:
                print("stopped: positions kept open", flush=True)
        finally:
            sig.restore()

    guarded(body)
