"""fra loop"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeVar

import typer

from fra.commands.common import guarded, iso, settings, ts

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
        self.stops = 0  # SIGINT/SIGTERM received: one more after "closing N" leaves them open
        self._previous: dict[int, Any] = {}

    @property
    def shutdown(self) -> bool:
        return self.flag.requested and self.flag.signum != signal.SIGUSR1

    def on_emergency(self, signum: int, frame: FrameType | None) -> None:
        self.emergency = True
        if self.flag.signum is None:
            self.flag.signum = signum  # makes the running cycle stop at its next step

    def on_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stops += 1
        if self.flag.signum in (None, signal.SIGUSR1):
            self.flag.signum = signum
        else:
            self.flag.request(signum, frame)  # a second stop signal: stop at once

    def on_stop_recorded(self, signum: int, frame: FrameType | None) -> None:
        self.stops += 1
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
    as_json: bool = typer.Option(
        False, "--json", help="Print one JSON object a line: each cycle, then how it stopped."
    ),
) -> None:
    """Run cycles every --interval seconds under the cycle lock, for people without cron.
    SIGUSR1 triggers the emergency stop; SIGINT/SIGTERM stop gracefully and close all
    positions unless --keep-positions (a second Ctrl-C while they close leaves the rest open),
    then exit 130."""

    def body() -> None:
        import json
        import sys

        from fra.app import open_app
        from fra.commands.common import cycle_lock, setup_logging
        from fra.commands.render import cycle_outcome
        from fra.core.positions import HELD_STATES
        from fra.core.text import plural
        from fra.engine.cycle import run_cycle
        from fra.engine.safety import close_all_held, emergency_stop
        from fra.errors import ExitCode, FraError, Interrupted, LockHeld

        s = settings(ctx)
        setup_logging(s)
        sig = LoopSignals()
        sig.install()

        def say(text: str, **fields: Any) -> None:
            # With --json, stdout holds only JSON lines; what a person must read now goes to
            # stderr as well.
            if as_json:
                print(json.dumps(fields), flush=True)
                if fields.get("event") == "closing":
                    print(text, file=sys.stderr, flush=True)
            else:
                print(text, flush=True)

        def emergency() -> None:
            with cycle_lock(s, 120), open_app(s) as app:
                emergency_stop(app, "SIGUSR1 received by fra loop", requested=True)
            say(
                "EMERGENCY STOP (SIGUSR1): positions closed, opening halted",
                event="emergency_stop",
            )

        def close_all() -> tuple[int, int]:
            with cycle_lock(s, 120), open_app(s) as app:
                held = len(app.store.positions(HELD_STATES))
                if not held:
                    return 0, 0
                seen = sig.stops
                say(
                    f"closing {plural(held, 'position')} — Ctrl-C again to leave them open",
                    event="closing",
                    positions=held,
                )
                done = close_all_held(app, "fra loop stopped", lambda: sig.stops > seen)
                return len(done), held - len(done)

        cycles = 0
        last = ""
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
                        now = app.now_ms()
                    done = [
                        f"settled {plural(report.funding_payments, 'funding payment')}",
                        f"closed {plural(len(report.closed), 'position')}",
                    ]
                    if report.halted is None:  # else the outcome says it opened nothing
                        done.append(f"opened {plural(len(report.opened), 'position')}")
                    said = cycle_outcome(report.outcome, report.halted)
                    last = f"cycle {report.cycle_id} at {ts(now)} UTC: {said}; {', '.join(done)}"
                    say(
                        last,
                        event="cycle",
                        cycle=report.cycle_id,
                        at=iso(now),
                        outcome=report.outcome,
                        funding_payments=report.funding_payments,
                        opened=report.opened,
                        closed=report.closed,
                    )
                except LockHeld as exc:
                    say(f"skipped: {exc}", event="skipped", error=str(exc))
                except Interrupted:
                    pass  # the loop's own signal: handled at the top of the next turn
                except FraError as exc:
                    say(f"cycle failed: {exc}", event="failed", error=str(exc))
                cycles += 1
                if max_cycles and cycles >= max_cycles and not sig.emergency:
                    break
                sig.sleep(interval)
            if not sig.shutdown:
                return
            if keep_positions:
                say("stopped: positions kept open", event="stopped", closed=0, left_open=None)
            else:
                closed, left = sig.protected(close_all)
                said = f"stopped: closed {plural(closed, 'position')}"
                if left:
                    said += f", left {left} open (`fra close --all` closes them)"
                say(said, event="stopped", closed=closed, left_open=left)
            if last and not as_json:
                print(f"last {last}", flush=True)
            raise typer.Exit(int(ExitCode.INTERRUPTED))
        finally:
            sig.restore()

    guarded(body)
