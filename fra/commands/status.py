"""fra status"""

from __future__ import annotations

import sys
from decimal import Decimal

import typer

from fra.commands.common import (
    JsonOption,
    guarded,
    iso,
    money,
    pct,
    print_json,
    settings,
    ts,
)
from fra.commands.output import WideOption
from fra.core.text import plural
from fra.errors import BadInput

MAX_AGE = 525_600  # a year, in minutes


def status(
    ctx: typer.Context,
    as_json: bool = JsonOption,
    check: bool = typer.Option(
        False,
        "--check",
        help="Only say whether all is well, for a monitor: exit 10 when no cycle finished within"
        " --max-age minutes, the last one failed, or trading is halted.",
    ),
    max_age: float = typer.Option(
        15.0, "--max-age", help="With --check: minutes a cycle may be old (15)."
    ),
    wide: bool = WideOption,
) -> None:
    """Mode, venue, halt flag, last cycle, margin, each open position and totals. Reads only
    the state file: no exchange is contacted."""

    def body() -> None:
        if check and not 1 <= max_age <= MAX_AGE:
            raise BadInput(
                f"--max-age {max_age:g} is not between 1 and {MAX_AGE} minutes",
                "give the minutes a cycle may be old, e.g. --max-age 15",
            )
        from fra.app import open_app
        from fra.commands.render import json_row, position_dict
        from fra.core import precision
        from fra.core.positions import HELD_STATES
        from fra.engine.balances import last_balances
        from fra.store.paper import PaperAccount

        s = settings(ctx)
        with open_app(s, create=False) as app:
            store = app.store
            now = app.now_ms()
            snapshot = store.latest_snapshot()
            held = store.positions(HELD_STATES)
            closed, realized = store.realized_totals()
            cycle = store.last_cycle()
            ratios = store.last_margin_ratios()
            halt = store.halt_reason()
            if check:
                from fra.store.notifications import Notifications

                finished = Notifications(store).last_finished_cycle()
            # Live: what the exchange held at the last cycle; a paper account's cash would be
            # a made-up figure beside real positions.
            live = s.mode == "live"
            cash = None if live else PaperAccount(store, s.paper.starting_balance).balance("USDT")
            balances = last_balances(store) if live else None
            label = app.venue_label
            # The file's venue, not FRA_VENUE's: a simulated file is shown so when it is unset.
            simulated = app.settings.simulated
        rows = [position_dict(p, snapshot, now) for p in held]
        unrealized = sum((r["net_pnl"] for r in rows), Decimal(0))
        funding = sum((r["funding"] for r in rows), Decimal(0))
        fees = sum((r["fees"] for r in rows), Decimal(0))
        exposure = sum((p.notional for p in held), Decimal(0))
        worst = max(ratios.values(), default=None)
        # The JSON's totals are the sums of its rows as printed: they reconcile to the digit.
        shown = [json_row(r) for r in rows]
        data = {
            "mode": s.mode,
            "venue": label,
            "simulated": simulated,
            "state_file": str(s.db_path),
            "halted": halt is not None,
            "halt_reason": halt,
            "now": iso(now),
            "last_cycle": None
            if cycle is None
            else {
                "id": cycle.id,
                "started_at": iso(cycle.started_ms),
                "finished_at": iso(cycle.finished_ms),
                "outcome": cycle.outcome,
                "exit_code": cycle.exit_code,
            },
            "snapshot_at": iso(snapshot.taken_ms) if snapshot else None,
            "worst_margin_ratio": precision.ratio(worst),
            "positions": shown,
            "totals": {
                "open_positions": len(held),
                "exposure": precision.money(exposure),
                "funding": sum((r["funding"] for r in shown), Decimal(0)),
                "fees": sum((r["fees"] for r in shown), Decimal(0)),
                "unrealized_net_pnl": sum((r["net_pnl"] for r in shown), Decimal(0)),
                "realized_net_pnl": precision.money(realized),
                "closed_positions": closed,
                "paper_cash": precision.money(cash),
            },
            "balances": None
            if balances is None
            else {
                "spot_usdt": precision.money(balances.spot),
                "futures_usdt": precision.money(balances.futures),
                "equity_usdt": precision.money(balances.equity),
                "at": iso(balances.at_ms),
                "cycle_id": balances.cycle_id,
            },
        }
        if check:
            _check(data, finished, now, halt, max_age, as_json)
            return
        if as_json:
            print_json(data)
            return
        from fra.commands.output import emit, grid, line, styled
        from fra.commands.render import cycle_outcome, positions_table

        if cycle is None:
            last = "never (run `fra run-cycle`)"
        else:
            code = cycle.exit_code if cycle.exit_code is not None else "-"
            said = cycle_outcome(cycle.outcome, cycle.summary.get("halted"))
            last = f"#{cycle.id} at {ts(cycle.started_ms)} UTC: {said} (exit {code})"
        if worst is not None:
            margin = f"worst {pct(worst, 2)}"
        elif held:
            margin = "not measured yet (`fra run-cycle` or `fra margin-check` measures it)"
        else:
            margin = "no open shorts"
        halted = f"YES: {halt} (`fra resume` allows opening again)"
        out = grid(
            [
                ("Mode", s.mode.upper()),
                ("Venue", styled(label, "bold yellow") if data["simulated"] else label),
                ("Halted", styled(halted, "bold red") if halt is not None else "no"),
                ("Last cycle", last),
                ("Margin ratio", margin),
                (
                    "Prices as of",
                    f"{ts(snapshot.taken_ms)} UTC"
                    if snapshot
                    else "no snapshot yet (`fra run-cycle` or `fra scan` takes one)",
                ),
            ]
        )
        if rows:
            out += positions_table("Open positions", rows, closed=False)
        else:
            out.append(line("No open positions."))
        if cash is not None:
            account = f"paper cash {money(cash)} USDT"
        elif balances is None:
            account = "balances: none read yet (`fra run-cycle` reads them)"
        else:
            account = (
                f"at {ts(balances.at_ms)} UTC (cycle #{balances.cycle_id}): spot wallet"
                f" {money(balances.spot)} USDT free, futures wallet {money(balances.futures)}"
                f" USDT free, equity {money(balances.equity)} USDT"
            )
        out.append(
            line(
                f"Totals: {plural(len(held), 'open position')}, exposure {money(exposure)} USDT,"
                f" funding {money(funding, 4)}, fees {money(fees, 4)}, unrealized net"
                f" {money(unrealized)}; realized net {money(realized)} over"
                f" {plural(closed, 'closed position')}; {account}"
            )
        )
        emit(out, wide)

    guarded(body)


def _check(
    data: dict[str, object],
    finished: tuple[int, int | None] | None,
    now: int,
    halt: str | None,
    max_age: float,
    as_json: bool,
) -> None:
    """`status --check`: a dead man's switch read from the state file."""
    from fra.core.alerts import health
    from fra.errors import ExitCode, Unhealthy

    problems = health(
        now,
        finished[0] if finished else None,
        finished[1] if finished else None,
        halt,
        int(max_age * 60_000),
    )
    if as_json:
        print_json({**data, "check": {"ok": not problems, "problems": problems}})
    elif not problems:
        assert finished is not None
        print(f"ok: the last cycle finished at {ts(finished[0])} UTC with exit {finished[1]}")
    if halt is not None and len(problems) == 1:
        # Cycles run; only opening is stopped, as someone (or the margin check) chose: not an
        # error, but still exit 10, which a monitor acts on.
        from fra.core.text import escaped

        print(
            f"halted: {escaped(halt)}; cycles run but open nothing until `fra resume`",
            file=sys.stderr,
        )
        raise typer.Exit(int(ExitCode.UNHEALTHY))
    if problems:
        raise Unhealthy(
            "; ".join(problems),
            "see `fra status` and the log; `fra run-cycle` runs a cycle now",
        )
