"""fra emergency-stop and fra resume"""

from __future__ import annotations

import typer

from fra.commands.common import JsonOption, guarded, print_json, raise_if_incomplete, settings
from fra.core.text import REASON_MAX, one_line, plural
from fra.errors import BadInput

EMERGENCY_LOCK_WAIT = 120.0


def emergency_stop(
    ctx: typer.Context,
    reason: str = typer.Option(
        "manual",
        "--reason",
        help=f"Why, recorded with the halt (one line, up to {REASON_MAX} characters).",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Halt opening at once, then close every position; cycles open nothing until `fra resume`."""

    def body() -> None:
        from fra.app import open_app
        from fra.commands.common import cycle_lock, setup_logging
        from fra.commands.render import describe, position_json
        from fra.engine.interrupts import deferred_signals
        from fra.engine.notify import STOP_KINDS, after_command
        from fra.engine.safety import close_all_held, halt

        # Cleaned, not refused: a stop must not fail on how its reason is written. What is
        # stored is shown by `fra status` and in the log, so it must not steer a terminal.
        said = one_line(reason, REASON_MAX)
        if not said:
            raise BadInput("--reason is empty", "say why, e.g. --reason 'exchange incident'")
        s = settings(ctx)
        setup_logging(s)
        with open_app(s) as app:
            # The halt is one committed write: even a cycle running now will not open after it.
            halt(app, said, requested=True)
            if not as_json:
                print(f"HALTED: {said}", flush=True)
        with cycle_lock(s, EMERGENCY_LOCK_WAIT), open_app(s) as app, deferred_signals(app.stop):
            # Signals wait: an emergency stop interrupted half-way would leave single legs.
            try:
                app.ready(opening=False)
                closed = close_all_held(app, f"emergency stop: {said}")
            finally:
                after_command(app, STOP_KINDS)
            now = app.now_ms()
        if as_json:
            positions = [position_json(p, None, now) for p in closed]
            print_json({"halted": True, "reason": said, "closed": positions})
            raise_if_incomplete(closed)
            return
        for p in closed:
            print(describe(p))
        n = len(closed)
        print(f"closed {plural(n, 'position')}; `fra resume` allows opening again")
        raise_if_incomplete(closed)

    guarded(body)


def resume(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Clear the halt set by an emergency stop, so cycles may open positions again."""

    def body() -> None:
        from fra.app import open_app
        from fra.engine.notify import HALT_KINDS, after_command
        from fra.engine.safety import resume as do_resume

        with open_app(settings(ctx)) as app:
            was = do_resume(app)
            after_command(app, HALT_KINDS)
        if as_json:
            print_json({"resumed": was is not None, "was_halted": was})
            return
        print(f"resumed (was halted: {was})" if was else "not halted: nothing to resume")

    guarded(body)
