"""fra run-cycle"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import typer

from fra.commands.common import JsonOption, exit_with, guarded, print_json, settings
from fra.core.text import plural

if TYPE_CHECKING:
    from fra.engine.cycle import CycleReport


def _summary(report: CycleReport) -> dict[str, object]:
    """The cycle's summary as the state file keeps it, its figures as JSON prints figures
    (fra.core.precision): the stored one holds them as text with every digit."""
    from fra.core import precision

    summary: dict[str, Any] = report.summary()
    balances = summary["balances"]
    return {
        **summary,
        "worst_margin_ratio": precision.ratio(report.worst_margin_ratio) or None,
        "margin_actions": [_amount(a) for a in summary["margin_actions"]],
        "untracked": [_amount(u) for u in summary["untracked"]],
        "balances": None
        if balances is None
        else {k: precision.money(Decimal(v)) for k, v in balances.items()},
        "exit_code": int(report.exit_code),
    }


def _amount(row: dict[str, str]) -> dict[str, object]:
    # An exact amount kept as text: as a Decimal it prints without trailing zeros.
    return {**row, "amount": Decimal(row["amount"])}


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
            print_json({"cycle_id": report.cycle_id, "venue": label, **_summary(report)})
        else:
            from fra.commands.render import cycle_line, cycle_outcome
            from fra.core.risk import MarginLevel

            done = [
                f"scanned {plural(report.scanned, 'perpetual')}",
                f"settled {plural(report.funding_payments, 'funding payment')}",
                f"closed {plural(len(report.closed), 'position')}",
            ]
            if report.halted is None:
                done.append(f"opened {plural(len(report.opened), 'position')}")
            if report.reconciled:
                done.append(f"reconciled {plural(len(report.reconciled), 'item')} (below)")
            said = cycle_outcome(report.outcome, report.halted)
            line = f"{label} cycle {report.cycle_id}: {said}; {', '.join(done)}"
            if report.halted is not None:
                line += "; `fra resume` allows opening again"
                if report.margin is MarginLevel.CRITICAL:
                    line += " once it is safe"
            print(line)
            for text in report.reconciled:
                print(f"  reconciled {text}")
            for p in report.closed_positions:
                print(f"  {cycle_line(p, opening=False)}")
            for p in report.opened_positions:
                print(f"  {cycle_line(p, opening=True)}")
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
