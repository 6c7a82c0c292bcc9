"""fra run-cycle"""

from __future__ import annotations

import typer

from fra.commands.common import JsonOption, exit_with, guarded, print_json, settings


def run_cycle(
    ctx: typer.Context,
    as_json: bool = JsonOption,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log each step to the terminal."),
) -> None:
    """One cycle under the lock: reconcile, settle funding, scan, rank, close, open,
    margin-check, record. Exits 6 at once if another cycle holds the lock."""

    def body() -> None:
        from fra.app import open_app
        from fra.commands.common import cycle_lock, setup_logging
        from fra.engine.cycle import run_cycle as cycle
        from fra.engine.interrupts import deferred_signals
        from fra.errors import ExitCode, StateError

        s = settings(ctx)
        # The lock comes before the state file is even opened: a refused cycle writes nothing.
        opened = False
        try:
            with cycle_lock(s, 0), open_app(s) as app:
                opened = True
                setup_logging(s, verbose)
                with deferred_signals(app.stop):
                    report = cycle(app)
                label = app.venue_label
        except StateError as exc:
            if not opened:
                # The cycle never started, so it could not say so itself (fra.engine.notify).
                from fra.engine.notify import failure_message, send_unrecorded

                send_unrecorded(s, failure_message(exc))
            raise
        if as_json:
            print_json(
                {
                    "cycle_id": report.cycle_id,
                    "venue": label,
                    **report.summary(),
                    "exit_code": int(report.exit_code),
                }
            )
        else:
            print(
                f"{label} cycle {report.cycle_id}: {report.outcome}; scanned {report.scanned},"
                f" funding payments {report.funding_payments}, closed {len(report.closed)},"
                f" opened {len(report.opened)}"
                + (f", reconciled {len(report.reconciled)}" if report.reconciled else "")
                + (f"; HALTED ({report.halted})" if report.halted else "")
            )
            for line in report.reconciled:
                print(f"  reconciled {line}")
            for line in report.closed:
                print(f"  closed {line}")
            for line in report.opened:
                print(f"  opened {line}")
            for u in report.untracked:
                what = "short" if u.kind == "short" else "coins"
                print(
                    f"  NOT IN THE BOOKS: the exchange holds {u.amount} {u.symbol} {what}"
                    f" (a person must look; `fra adopt {u.perp_symbol}` takes a hedged pair in)"
                )
        if report.exit_code == ExitCode.OK:
            app.stop.check()  # a signal arrived after the last step: say so with exit 130
        exit_with(report.exit_code)

    guarded(body)
